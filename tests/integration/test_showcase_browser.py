"""The showcase app that `make run` serves, seen in Chromium: its report page is rendered from a
Jinja2 template with the data of the cached report endpoint, compressed, and cached itself."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from areion_core.testing import LiveServer
from tests.integration._browser import PageRecorder

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    from examples.showcase.app import server

    server.app.set_access_log(False)
    with LiveServer(server) as running:
        yield running


def test_report_page_from_the_cached_endpoint(recorder: PageRecorder, live: LiveServer) -> None:
    api = httpx.get(live.url + "/api/report", timeout=10)
    assert api.status_code == 200 and api.headers["x-cache"] == "MISS"
    assert httpx.get(live.url + "/api/report").headers["x-cache"] == "HIT"
    rows = api.json()["rows"]

    response = recorder.goto(live.url + "/report")
    assert response.status == 200
    assert response.header_value("content-type") == "text/html; charset=utf-8"
    assert response.header_value("content-encoding") == "br"  # Chromium accepts brotli
    page = recorder.page
    recorder.settle()
    assert page.title() == "Sales report"
    table = page.locator("table tbody tr")
    assert table.count() == len(rows) == 20
    assert table.nth(0).locator("td").all_inner_texts() == [
        rows[0]["region"], str(rows[0]["orders"]), str(rows[0]["revenue"])]
    # The stylesheet came through static_url (content-hashed) and applied.
    href = page.locator("link[rel=stylesheet]").get_attribute("href") or ""
    assert href.startswith("/static/style.css?v="), href
    recorder.screenshot("showcase-report.png")
    recorder.assert_only_host(live.url)
    recorder.assert_clean()

    again = recorder.goto(live.url + "/report")
    assert again.header_value("x-cache") == "HIT"


def test_the_index_page_leads_to_the_report(recorder: PageRecorder, live: LiveServer) -> None:
    response = recorder.goto(live.url + "/")
    assert response.status == 200
    page = recorder.page
    recorder.settle()
    assert page.title() == "Areion showcase"
    assert page.locator("main a").count() >= 15
    with page.expect_navigation():
        page.get_by_role("link", name="/report", exact=True).click()
    recorder.settle()
    assert page.title() == "Sales report"
    recorder.assert_only_host(live.url)
    recorder.assert_clean()
