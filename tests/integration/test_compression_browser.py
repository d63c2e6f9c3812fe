"""Issue 5: Chromium decodes what the compression plugin sends.

A live server with the compression plugin serves an HTML page well over ``min_size``, a JSON
document the page fetches, and a server-sent-events stream the page listens to. Chromium
offers ``gzip, deflate, br, zstd``; the server's preference makes it brotli. The tests assert
the encoding the browser received (response headers as seen on the wire), that the rendered
page is right (so the body was decoded), and that the five events of the stream arrived as
they were produced rather than all at the end (each compressed chunk is flushed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from areion_core import AreionServerBuilder, HttpRequest, HttpResponse, Router, StreamingResponse
from areion_core.testing import LiveServer
from tests.integration._browser import PageRecorder

pytestmark = pytest.mark.browser

ROWS = [f"Row {i}: the quick brown fox jumps over the lazy dog" for i in range(60)]
PAGE = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Compressed page</title><link rel="icon" href="data:,"></head>
<body>
<h1>Compressed with care</h1>
<ul id="rows">{"".join(f"<li>{row}</li>" for row in ROWS)}</ul>
<p id="fetched">waiting</p>
<ol id="events"></ol>
<script src="/app.js"></script>
</body>
</html>
"""
SCRIPT = """
fetch('/data.json').then((r) => r.json()).then((data) => {
  document.getElementById('fetched').textContent = data.items.length + ' items, last ' + data.items.at(-1).name;
});
const source = new EventSource('/events');
const list = document.getElementById('events');
source.onmessage = (event) => {
  const item = document.createElement('li');
  item.textContent = event.data;
  item.dataset.at = String(performance.now());
  list.appendChild(item);
  if (list.children.length === 5) source.close();  // no reconnection after the stream ends
};
""" + "// padding so the script is worth compressing\n" * 20
EVENT_GAP = 0.15  # seconds between events


def _server() -> LiveServer:
    router = Router()

    @router.get("/")
    async def page(request: HttpRequest) -> HttpResponse:
        return HttpResponse(PAGE, content_type="text/html; charset=utf-8")

    @router.get("/app.js")
    async def script(request: HttpRequest) -> HttpResponse:
        return HttpResponse(SCRIPT, content_type="text/javascript; charset=utf-8")

    @router.get("/data.json")
    async def data(request: HttpRequest) -> dict[str, list[dict[str, object]]]:
        return {"items": [{"id": i, "name": f"item {i}"} for i in range(100)]}

    @router.get("/events")
    async def events(request: HttpRequest) -> StreamingResponse:
        async def produce() -> AsyncIterator[str]:
            for i in range(5):
                if i:
                    await asyncio.sleep(EVENT_GAP)
                yield f"data: event {i} {'.' * 40}\n\n"

        return StreamingResponse(produce(), content_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    server = (AreionServerBuilder().with_router(router).without_config_file()
              .with_config({"plugins": {"enabled": ["compression"]}, "access_log": False}).build())
    return LiveServer(server)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with _server() as server:
        yield server


def test_chromium_renders_brotli_page_json_and_event_stream(recorder: PageRecorder, live: LiveServer) -> None:
    recorder.goto(live.url + "/")
    page = recorder.page
    page.locator("#events li:nth-child(5)").wait_for()
    page.wait_for_function("document.getElementById('fetched').textContent !== 'waiting'")

    # The page was decoded: every row, the fetched JSON and the five events are there.
    assert page.locator("h1").inner_text() == "Compressed with care"
    assert page.locator("#rows li").all_inner_texts() == ROWS
    assert page.locator("#fetched").inner_text() == "100 items, last item 99"
    events = page.locator("#events li")
    assert events.all_inner_texts() == [f"event {i} {'.' * 40}" for i in range(5)]
    # The events arrived as they were produced, not in one piece at the end: 4 gaps of 150 ms
    # between first and last, of which we ask for less than half.
    arrivals = [float(t) for t in events.evaluate_all("(items) => items.map((i) => i.dataset.at)")]
    assert arrivals[-1] - arrivals[0] > 250, arrivals
    recorder.screenshot("compression-page.png", full_page=False)

    by_path = {s.url.removeprefix(live.url): s for s in recorder.requests}
    assert set(by_path) >= {"/", "/app.js", "/data.json", "/events"}, sorted(by_path)
    for path in ("/", "/app.js", "/data.json", "/events"):
        seen = by_path[path]
        sent = seen.request_headers()
        assert "br" in sent.get("accept-encoding", ""), (path, sent)
        headers = seen.headers()
        assert seen.status == 200, (path, seen.status)
        assert headers.get("content-encoding") == "br", (path, headers)
        assert "accept-encoding" in headers.get("vary", "").lower(), (path, headers)
    # A complete body has a Content-Length (that of the brotli bytes); the stream is chunked.
    page_headers = by_path["/"].headers()
    assert int(page_headers["content-length"]) < len(PAGE.encode()), page_headers
    assert "content-length" not in by_path["/events"].headers()
    recorder.assert_only_host(live.url)
    # The page closes its EventSource after the fifth event, which may abort the last bytes.
    recorder.assert_clean(aborted_ok={live.url + "/events"})
