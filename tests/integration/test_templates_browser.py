"""Issue 7: a page rendered from Jinja2 templates by the templates plugin, seen in Chromium.

The page extends a base template, links a stylesheet through ``static_url`` (content-hashed,
served from the app's static directory), links another route through ``url_for`` and shows a
table built from the handler's data — one row of which carries a ``<script>``, which must
appear as text and never run. The test asserts on what the browser renders and saves a
screenshot under ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from areion_core import AreionServerBuilder, HttpRequest, HttpResponse, Router
from areion_core.testing import LiveServer
from tests.integration._browser import PageRecorder

pytestmark = pytest.mark.browser

HOSTILE = "<script>window.__xss = true</script>"
TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{% block title %}{{ title }}{% endblock %}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{{ static_url('site.css') }}">
</head>
<body>
  <nav><a id="home" href="{{ url_for('users') }}">Users</a>
       <a id="profile" href="{{ url_for('profile', user_id=7) }}">User 7</a></nav>
  <main>{% block content %}{% endblock %}</main>
</body>
</html>
""",
    "users.html": """{% extends "base.html" %}
{% block content %}
<h1>{{ title }}</h1>
<table id="users">
  <thead><tr><th>#</th><th>Name</th><th>E-mail</th></tr></thead>
  <tbody>
  {% for row in rows %}
    <tr><td>{{ row.id }}</td><td>{{ row.name }}</td><td>{{ row.email }}</td></tr>
  {% endfor %}
  </tbody>
</table>
<p id="path">Requested {{ request.path }}</p>
{% endblock %}
""",
}
CSS = """body { font-family: sans-serif; margin: 2rem; background: #fdfaf3; }
h1 { color: rgb(20, 80, 160); }
table { border-collapse: collapse; } td, th { border: 1px solid #999; padding: 2px 8px; }
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("templates-app")
    for name, text in TEMPLATES.items():
        (root / "templates").mkdir(exist_ok=True)
        (root / "templates" / name).write_text(text, encoding="utf-8")
    (root / "static").mkdir()
    (root / "static" / "site.css").write_text(CSS, encoding="utf-8")

    router = Router()

    @router.get("/users")
    async def users(request: HttpRequest) -> HttpResponse:
        rows = [{"id": i, "name": f"user {i}", "email": f"u{i}@example.org"} for i in range(1, 21)]
        rows[2]["name"] = HOSTILE
        return request.render_template("users.html", {"title": "Users", "rows": rows})

    @router.get("/users/:user_id")
    async def profile(request: HttpRequest, user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    config = {"plugins": {"enabled": ["templates"],
                          "templates": {"directories": [str(Path(root) / "templates")],
                                        "bytecode_cache_dir": str(Path(root) / "bytecode")}},
              "access_log": False}
    server = (AreionServerBuilder().with_router(router).without_config_file().with_config(config)
              .with_static_dir(root / "static").build())
    with LiveServer(server) as running:
        yield running


def test_template_page_renders_escaped_and_styled(recorder: PageRecorder, live: LiveServer) -> None:
    response = recorder.goto(live.url + "/users")
    assert response.status == 200
    assert response.header_value("content-type") == "text/html; charset=utf-8"
    page = recorder.page
    recorder.settle()

    assert page.title() == "Users"
    assert page.locator("h1").inner_text() == "Users"
    rows = page.locator("#users tbody tr")
    assert rows.count() == 20
    assert rows.nth(0).locator("td").all_inner_texts() == ["1", "user 1", "u1@example.org"]
    # The <script> in the data is shown as text and never ran.
    assert rows.nth(2).locator("td").nth(1).inner_text() == HOSTILE
    assert page.evaluate("window.__xss === undefined")
    assert page.locator("#path").inner_text() == "Requested /users"
    assert page.locator("#profile").get_attribute("href") == "/users/7"
    # static_url gave a versioned URL, the browser loaded it and applied the stylesheet.
    href = page.locator("link[rel=stylesheet]").get_attribute("href") or ""
    assert href.startswith("/static/site.css?v="), href
    assert page.locator("h1").evaluate("(h) => getComputedStyle(h).color") == "rgb(20, 80, 160)"
    css = next(s for s in recorder.requests if s.url == live.url + href)
    assert css.status == 200
    recorder.screenshot("templates-users.png")
    recorder.assert_only_host(live.url)
    recorder.assert_clean()

    # The url_for link leads to the route it names. (That page is JSON, with no favicon link,
    # so Chromium asks for /favicon.ico and logs its 404: the checks above come first.)
    page.locator("#profile").click()
    page.wait_for_url(live.url + "/users/7")
    assert '"user_id":7' in page.locator("body").inner_text().replace(" ", "")
