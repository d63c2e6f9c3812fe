"""``HeaderStamp``: per-response values set together, checked as single sets are, or not at all."""

from __future__ import annotations

import pytest

from areion_core import AreionServerBuilder, HttpResponse, Router, _compiled, hookimpl
from areion_core import headers as headers_module
from areion_core._header_blocks import HeaderBlock
from areion_core.headers import MutableHeaders, content_type_only, encode_head
from areion_core.plugin_api import HeaderStamp
from areion_core.testing import TestClient

TIMING = {"X-Request-ID": "{0}", "Server-Timing": "app;dur={1}", "X-Response-Time": "{1}ms"}
JSON_LINE = b"Content-Type: application/json\r\n"
COMPILED = _compiled.is_compiled(headers_module)


def test_a_template_copy_gets_every_header_and_the_template_and_other_copies_do_not():
    stamp = HeaderStamp(TIMING)
    first, second, untouched = (content_type_only("application/json") for _ in range(3))
    assert stamp.set(first, "abc", "1.500") is True
    assert stamp.set(second, "def", 2) is True  # not a string: written as format(value)
    assert first.encoded() == JSON_LINE + b"X-Request-ID: abc\r\nServer-Timing: app;dur=1.500\r\nX-Response-Time: 1.500ms\r\n"
    assert dict(second) == {"content-type": "application/json", "x-request-id": "def",
                            "server-timing": "app;dur=2", "x-response-time": "2ms"}
    assert second.encoded() == JSON_LINE + b"X-Request-ID: def\r\nServer-Timing: app;dur=2\r\nX-Response-Time: 2ms\r\n"
    assert untouched.encoded() == JSON_LINE
    assert dict(content_type_only("application/json")) == {"content-type": "application/json"}


def test_headers_of_their_own_with_and_without_encoded_lines():
    stamp = HeaderStamp({"X-Id": "{0}"})
    plain = MutableHeaders({"Cache-Control": "no-store"})
    assert stamp.set(plain, "1") is True
    assert plain.encoded() == b"Cache-Control: no-store\r\nX-Id: 1\r\n"
    encoded = MutableHeaders({"Cache-Control": "no-store"})
    encoded.preencode()
    encoded["X-Other"] = "a"  # a line appended before the stamp's
    assert stamp.set(encoded, "2") is True
    assert encoded.encoded() == b"Cache-Control: no-store\r\nX-Other: a\r\nX-Id: 2\r\n"


@pytest.mark.parametrize("present", ["x-request-id", "Server-Timing", "X-RESPONSE-TIME"])
def test_a_name_already_there_changes_nothing(present: str):
    stamp = HeaderStamp(TIMING)
    headers = content_type_only("application/json")
    headers[present] = "older"
    before = (dict(headers), headers.encoded())
    assert stamp.set(headers, "abc", "1.000") is False
    assert (dict(headers), headers.encoded()) == before


def test_a_shared_block_seen_without_the_names_does_not_hide_one_that_has_them():
    stamp = HeaderStamp({"X-Id": "{0}"})
    assert stamp.set(content_type_only("text/plain"), "1") is True  # remembered as clean
    stored = MutableHeaders({"Content-Type": "text/plain", "X-Id": "old"})
    stored.preencode()
    for _ in range(2):  # copies of a stored response: shared, with the name
        replay = stored.copy()
        assert stamp.set(replay, "2") is False
        assert replay["x-id"] == "old"
    mine = content_type_only("text/plain")
    mine["X-Id"] = "set by the handler"  # its own dict now, not the clean template's
    assert stamp.set(mine, "3") is False
    assert stamp.set(content_type_only("text/plain"), "4") is True


@pytest.mark.parametrize("values, header", [(("a\r\nb", "1"), "X-Request-ID"), (("a", "1\x00"), "Server-Timing"),
                                            (("a", "\u20ac"), "Server-Timing")])
def test_a_bad_value_raises_naming_its_header_and_changes_nothing(values: tuple[str, str], header: str):
    stamp = HeaderStamp(TIMING)
    headers = content_type_only("application/json")
    with pytest.raises(ValueError, match=header):
        stamp.set(headers, *values)
    assert dict(headers) == {"content-type": "application/json"} and headers.encoded() == JSON_LINE


def test_a_bad_value_for_headers_that_have_a_name_changes_nothing_and_raises_nothing():
    stamp = HeaderStamp(TIMING)
    headers = content_type_only("application/json")
    headers["X-Request-ID"] = "older"
    before = (dict(headers), headers.encoded())
    assert stamp.set(headers, "a\r\nb", "1") is False  # the caller sets them one by one: checked there
    assert (dict(headers), headers.encoded()) == before


@pytest.mark.parametrize("value", ["tab\there", "~ !", "\x7f", "\x1f"])
def test_values_at_the_edges_of_printable_ascii_pass_or_fail_as_single_sets_do(value: str):
    stamp = HeaderStamp({"X-Name": "{0}"})
    single = content_type_only("text/plain")
    try:
        single["X-Name"] = value
    except ValueError:
        with pytest.raises(ValueError, match="X-Name"):
            stamp.set(content_type_only("text/plain"), value)
    else:
        stamped = content_type_only("text/plain")
        assert stamp.set(stamped, value) is True
        assert stamped.encoded() == single.encoded()


def test_latin1_values_pass_as_single_sets_do():
    stamp = HeaderStamp({"X-Name": "{0}"})
    headers = content_type_only("text/plain")
    assert stamp.set(headers, "caf\u00e9") is True
    assert headers.encoded() == b"Content-Type: text/plain\r\nX-Name: caf\xe9\r\n"


# Each character that is not printable ASCII, at each place of a value long enough to be read
# eight bytes at a time (the compiled check) and in its last few bytes.
_EDGES = ["\x00", "\x1f", "\x7f", "\x80", "\u00e9", "\u20ac"]


@pytest.mark.parametrize("length", [1, 7, 8, 9, 16, 23])
def test_the_printable_ascii_check_finds_a_bad_character_anywhere(length: int):
    from areion_core.headers import _visible_ascii

    clean = "".join(chr(0x20 + i % 95) for i in range(length))  # SP through "~", wrapping
    assert _visible_ascii(clean) is True
    assert _visible_ascii(" " * length) and _visible_ascii("~" * length)
    for place in range(length):
        for bad in _EDGES:
            assert _visible_ascii(clean[:place] + bad + clean[place + 1 :]) is False, (place, bad)


def test_a_stamp_after_a_latin1_line_keeps_every_line():
    stamp = HeaderStamp(TIMING)
    headers = content_type_only("application/json")
    headers["X-Name"] = "caf\u00e9"  # a line of the tail that is not ASCII
    assert stamp.set(headers, "id-1", "0.250") is True
    assert headers.encoded() == (JSON_LINE + b"X-Name: caf\xe9\r\nX-Request-ID: id-1\r\n"
                                 b"Server-Timing: app;dur=0.250\r\nX-Response-Time: 0.250ms\r\n")


def test_values_that_are_not_strings_are_written_formatted():
    stamp = HeaderStamp(TIMING)
    headers = content_type_only("application/json")
    assert stamp.set(headers, 42, 1.5) is True
    assert dict(headers) == {"content-type": "application/json", "x-request-id": "42",
                             "server-timing": "app;dur=1.5", "x-response-time": "1.5ms"}
    assert headers.encoded() == (JSON_LINE + b"X-Request-ID: 42\r\nServer-Timing: app;dur=1.5\r\n"
                                 b"X-Response-Time: 1.5ms\r\n")


def test_the_wrong_number_of_values_is_a_type_error():
    with pytest.raises(TypeError):
        HeaderStamp(TIMING).set(content_type_only("text/plain"), "only one")


@pytest.mark.parametrize("headers, message", [
    ({}, "at least one header"),
    ({"Content-Length": "{0}"}, "framing header"),
    ({"Connection": "{0}"}, "framing header"),
    ({"X-A": "{0}", "x-a": "{0}"}, "given twice"),
    ({"X-A": "{1}"}, "no gap"),
    ({"X-A": "{0}", "X-B": "{2}"}, "no gap"),
    ({"X-A": "{0!r}"}, "may only hold"),
    ({"X-A": "{0:>5}"}, "may only hold"),
    ({"X-A": "{name}"}, "may only hold"),
    ({"X-A": "{"}, "Single '{'"),
    ({"X-A": "bad\r\n{0}"}, "invalid character"),
    ({"Set-Cookie": "{0}"}, "set_cookie"),
    ({"Bad Name": "{0}"}, "invalid response header name"),
])
def test_a_bad_stamp_is_refused_when_built(headers: dict[str, str], message: str):
    with pytest.raises(ValueError, match=message):
        HeaderStamp(headers)


def test_braces_and_percent_signs_are_literal():
    stamp = HeaderStamp({"X-%B": "{{v}}={0}%"})
    headers = content_type_only("text/plain")
    assert stamp.set(headers, "1") is True
    assert headers["x-%b"] == "{v}=1%"
    assert headers.encoded().endswith(b"X-%b: {v}=1%\r\n")


def test_a_plugin_stamps_routed_responses_through_the_real_pipeline():
    class Stamper:
        name = "stamper"

        def __init__(self) -> None:
            self.stamp = HeaderStamp({"X-Trace": "{0}", "X-Seen": "yes-{0}"})
            self.kept = 0

        @hookimpl
        def response_ready(self, request, response) -> None:
            if not self.stamp.set(response.headers, "t1"):
                self.kept += 1

    router = Router()

    @router.get("/json")
    async def json_route(request):
        return {"ok": True}

    @router.get("/own")
    async def own(request):
        return HttpResponse("x", headers={"X-Trace": "handler"})

    stamper = Stamper()
    server = (AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
              .with_access_log(False).with_plugins(stamper).build())
    with TestClient(server) as client:
        for _ in range(2):
            answer = client.get("/json")
            assert (answer.headers["x-trace"], answer.headers["x-seen"]) == ("t1", "yes-t1")
        own_answer = client.get("/own")
    assert own_answer.headers["x-trace"] == "handler" and "x-seen" not in own_answer.headers
    assert stamper.kept == 1


# --- a stamp on a template copy is written into the head, not into the headers -----------
# Compiled, a stamp set on pre-encoded headers with printable-ASCII values is only noted
# (headers._stamp): encode_head writes its lines, and any other use of the headers writes it
# in first. Pure Python writes it at once. Either way every reading below is the same.

STAMPED = b"X-Request-ID: abc\r\nServer-Timing: app;dur=1.500\r\nX-Response-Time: 1.500ms\r\n"
PREFIX = b"Server: t\r\n"


def _pending(headers: MutableHeaders) -> bool:
    return headers._stamp is not None


def _stamped_response() -> HttpResponse:
    response = HttpResponse(b"{}")
    response.headers = content_type_only("application/json")
    assert HeaderStamp(TIMING).set(response.headers, "abc", "1.500") is True
    return response


def _head(response: HttpResponse) -> bytes:
    return encode_head(response, PREFIX, True, len(response.body), False, response.body)


def test_the_head_of_a_stamped_template_copy_has_the_stamps_lines_where_a_write_puts_them():
    response = _stamped_response()
    assert _pending(response.headers) is COMPILED
    expected = b"HTTP/1.1 200 OK\r\n" + PREFIX + JSON_LINE + STAMPED + b"Content-Length: 2\r\n\r\n{}"
    assert _head(response) == expected
    assert _head(response) == expected  # writing the head leaves the headers as they were
    assert _pending(response.headers) is COMPILED
    written = _stamped_response()
    written.headers["X-Later"] = "1"  # any write puts the stamp in first: its lines come before
    assert not _pending(written.headers)
    assert _head(written) == expected.replace(b"Content-Length", b"X-Later: 1\r\nContent-Length")


def test_reading_a_stamped_name_or_an_absent_one_answers_as_if_it_were_written():
    headers = _stamped_response().headers
    assert "x-request-id" in headers and "Server-Timing" in headers and "etag" not in headers
    assert headers.get("etag") is None and headers.get("last-modified", "-") == "-"
    assert _pending(headers) is COMPILED  # the send path's checks leave the stamp pending
    assert headers.get("x-response-time") == "1.500ms"
    assert not _pending(headers)
    other = _stamped_response().headers
    assert other["server-timing"] == "app;dur=1.500"
    assert len(_stamped_response().headers) == 4
    assert list(_stamped_response().headers) == ["content-type", "x-request-id", "server-timing", "x-response-time"]
    assert dict(_stamped_response().headers.items_lower())["x-request-id"] == "abc"
    assert "x-request-id" in repr(_stamped_response().headers)
    assert _stamped_response().headers.encoded() == JSON_LINE + STAMPED


def test_removing_or_replacing_a_stamped_header_takes_its_line_out():
    response = _stamped_response()
    del response.headers["server-timing"]
    assert b"Server-Timing" not in _head(response) and b"X-Request-ID: abc\r\n" in _head(response)
    replaced = _stamped_response()
    replaced.headers["X-Request-ID"] = "mine"
    assert replaced.headers.pop("x-response-time") == "1.500ms"
    head = _head(replaced)
    assert b"X-Request-ID: mine\r\n" in head and b"abc" not in head and b"X-Response-Time" not in head


def test_a_copy_of_stamped_headers_carries_the_stamp_and_each_changes_on_its_own():
    response = _stamped_response()
    copy = response.headers.copy()
    copy["X-Only-Copy"] = "1"
    assert "x-only-copy" not in response.headers
    assert response.headers.encoded() == JSON_LINE + STAMPED
    assert copy.encoded() == JSON_LINE + STAMPED + b"X-Only-Copy: 1\r\n"


def test_a_second_stamp_sees_the_first_ones_names_and_adds_after_its_lines():
    response = _stamped_response()
    assert HeaderStamp({"x-request-id": "{0}"}).set(response.headers, "other") is False
    assert HeaderStamp({"X-Other": "{0}"}).set(response.headers, "o") is True
    assert _head(response).endswith(JSON_LINE + STAMPED + b"X-Other: o\r\nContent-Length: 2\r\n\r\n{}")


def test_a_header_block_sees_a_pending_stamps_names():
    response = _stamped_response()
    assert HeaderBlock({"X-Response-Time": "5ms"}).add_to(response.headers) is False
    assert response.headers["x-response-time"] == "1.500ms"
    again = _stamped_response()
    assert HeaderBlock({"X-Frame-Options": "DENY"}).add_to(again.headers) is True
    assert again.headers.encoded() == JSON_LINE + STAMPED + b"X-Frame-Options: DENY\r\n"
    into = MutableHeaders({"Vary": "Origin"})
    assert into.add_all_if_absent(_stamped_response().headers) is True
    assert into["x-request-id"] == "abc"


def test_a_stamp_with_a_value_that_is_not_printable_ascii_is_written_at_once():
    headers = content_type_only("application/json")
    assert HeaderStamp(TIMING).set(headers, "ab\xe9", 2) is True
    assert not _pending(headers)
    lines = "X-Request-ID: ab\xe9\r\nServer-Timing: app;dur=2\r\nX-Response-Time: 2ms\r\n"
    assert headers.encoded() == JSON_LINE + lines.encode("latin-1")
