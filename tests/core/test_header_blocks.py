"""``HeaderBlock``: a constant block added whole or not at all, merged once per shared template."""

from __future__ import annotations

import pytest

from areion_core import AreionServerBuilder, HttpResponse, Router, hookimpl
from areion_core.headers import MutableHeaders, content_type_only
from areion_core.plugin_api import HeaderBlock
from areion_core.testing import TestClient

PAIRS = [("Vary", "Origin"), ("X-Frame-Options", "SAMEORIGIN")]
ADDED = b"Vary: Origin\r\nX-Frame-Options: SAMEORIGIN\r\n"


def test_a_template_copy_gets_the_block_and_the_template_and_other_copies_do_not():
    block = HeaderBlock(PAIRS)
    first, second, untouched = (content_type_only("application/json") for _ in range(3))
    assert block.add_to(first) is True
    assert block.add_to(second) is True  # from the merge made for the first
    for headers in (first, second):
        assert headers.encoded() == b"Content-Type: application/json\r\n" + ADDED
        assert dict(headers) == {"content-type": "application/json", "vary": "Origin", "x-frame-options": "SAMEORIGIN"}
    assert untouched.encoded() == b"Content-Type: application/json\r\n"
    assert dict(content_type_only("application/json")) == {"content-type": "application/json"}
    # Written to afterwards, one response changes alone (copy-on-write), and the next gets the block as made.
    first["X-Request-ID"] = "abc"
    second["Vary"] = "Origin, Accept-Encoding"
    third = content_type_only("application/json")
    assert block.add_to(third) is True
    assert third.encoded() == b"Content-Type: application/json\r\n" + ADDED
    assert first.encoded() == b"Content-Type: application/json\r\n" + ADDED + b"X-Request-ID: abc\r\n"
    assert second["vary"] == "Origin, Accept-Encoding" and "x-request-id" not in second


def test_a_response_stored_after_a_header_was_added_keeps_it_and_its_copy_gets_both():
    block = HeaderBlock(PAIRS)
    live = content_type_only("application/json")
    live["X-Request-ID"] = "abc"  # a line appended to the encoded ones
    stored = live.copy()  # a cache keeps this copy; both now share one dict
    assert block.add_to(live) is True
    assert dict(live) == {"content-type": "application/json", "x-request-id": "abc",
                          "vary": "Origin", "x-frame-options": "SAMEORIGIN"}
    lines = live.encoded().split(b"\r\n")
    assert sorted(lines) == sorted([b"Content-Type: application/json", b"X-Request-ID: abc",
                                    b"Vary: Origin", b"X-Frame-Options: SAMEORIGIN", b""])
    assert dict(stored) == {"content-type": "application/json", "x-request-id": "abc"}
    assert stored.encoded() == b"Content-Type: application/json\r\nX-Request-ID: abc\r\n"


def test_a_shared_template_with_one_of_the_names_gets_nothing():
    block = HeaderBlock(PAIRS)
    template = MutableHeaders({"Content-Type": "text/html", "X-Frame-Options": "DENY"})
    template.preencode()
    for _ in range(2):  # the second answer comes from the memo
        copy = template.copy()
        assert block.add_to(copy) is False
        assert dict(copy) == {"content-type": "text/html", "x-frame-options": "DENY"}
        assert copy.encoded() == b"Content-Type: text/html\r\nX-Frame-Options: DENY\r\n"


def test_headers_of_a_response_s_own_are_merged_like_add_all_if_absent():
    block = HeaderBlock(PAIRS)
    own = MutableHeaders({"Content-Type": "text/plain", "ETag": '"1"'})
    assert block.add_to(own) is True
    assert own.encoded() == b'Content-Type: text/plain\r\nETag: "1"\r\n' + ADDED
    varied = MutableHeaders({"Vary": "Accept-Encoding"})
    assert block.add_to(varied) is False
    assert dict(varied) == {"vary": "Accept-Encoding"}


def test_a_bad_header_is_refused_when_the_block_is_made():
    with pytest.raises(ValueError, match="invalid character"):
        HeaderBlock([("X-Bad", "a\r\nInjected: 1")])


class Stamper:
    """Adds one block to every response, the way the security plugin does."""

    name = "stamper"

    def __init__(self) -> None:
        self.block = HeaderBlock(PAIRS)
        self.refused = 0

    @hookimpl
    def response_ready(self, request, response):
        if not self.block.add_to(response.headers):
            self.refused += 1


def test_responses_on_the_wire_carry_the_block_unless_they_set_one_of_its_headers():
    router = Router()

    @router.get("/json")
    async def json_endpoint(request):
        return {"ok": True}

    @router.get("/text")
    async def text(request):
        return "hi"

    @router.get("/own")
    async def own(request):
        return HttpResponse("mine", headers={"Vary": "Accept-Language"})

    stamper = Stamper()
    app = (AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
           .with_access_log(False).with_plugins(stamper).build())
    with TestClient(app) as client:
        for _ in range(3):
            for path, content_type in (("/json", "application/json"), ("/text", "text/plain; charset=utf-8")):
                response = client.get(path)
                assert response.status_code == 200
                assert response.headers["content-type"] == content_type
                assert response.headers["vary"] == "Origin"
                assert response.headers["x-frame-options"] == "SAMEORIGIN"
            mine = client.get("/own")
            assert mine.headers["vary"] == "Accept-Language"
            assert "x-frame-options" not in mine.headers
            missing = client.get("/nowhere")  # the 404 page gets the block too
            assert missing.status_code == 404 and missing.headers["vary"] == "Origin"
    assert stamper.refused == 3
