"""The browser harness catches what the docs tests rely on it to catch.

The docs tests pass when the recorder reports no stray request and no console error; these
tests make sure that silence means something: a page that breaks its own CSP and a page that
loads an image from another host are both reported.
"""

from __future__ import annotations

import pytest

from areion_core import AreionServerBuilder, HttpRequest, HttpResponse, Router
from areion_core.testing import LiveServer
from tests.integration._browser import PageRecorder

pytestmark = pytest.mark.browser


def _server() -> LiveServer:
    router = Router()

    @router.get("/inline")
    async def inline(request: HttpRequest) -> HttpResponse:
        # An inline script under a CSP that only allows 'self': the browser refuses it.
        return HttpResponse("<!doctype html><title>t</title><link rel=icon href=data:,>"
                            "<script>document.title = 'ran'</script><p>inline</p>",
                            content_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": "default-src 'self'"})

    @router.get("/stray")
    async def stray(request: HttpRequest) -> HttpResponse:
        # 127.0.0.2 is another host as far as the origin goes (and refuses the connection).
        return HttpResponse("<!doctype html><title>t</title><link rel=icon href=data:,>"
                            "<img src='http://127.0.0.2:9/pixel.png' alt=''><p>stray</p>",
                            content_type="text/html; charset=utf-8")

    server = (AreionServerBuilder().with_router(router).without_config_file()
              .with_config(plugins=[], access_log=False).build())
    return LiveServer(server)


def test_recorder_reports_csp_violations_and_off_host_requests(recorder: PageRecorder) -> None:
    with _server() as live:
        recorder.goto(live.url + "/inline")
        recorder.settle()
        assert recorder.page.title() == "t"  # the inline script was refused
        recorder.assert_only_host(live.url)
        with pytest.raises(AssertionError, match="Content Security Policy"):
            recorder.assert_clean()
        assert any(v["directive"].startswith("script-src") for v in recorder.csp_violations())

        recorder.goto(live.url + "/stray")
        recorder.settle()
        with pytest.raises(AssertionError, match=r"127\.0\.0\.2:9/pixel\.png"):
            recorder.assert_only_host(live.url)
