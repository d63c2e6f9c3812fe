"""``HeaderSection``: the fields llhttp reports, counted and read for the framing rules.

The reader's tests (test_connection.py) drive it through real sockets; these call it as
llhttp does, one field at a time, in whichever build runs (compiled under ``make test``,
its ``.py`` under ``AREION_PURE=1``).
"""

from __future__ import annotations

import pytest

from areion_core._header_section import HeaderSection, Reject
from areion_core.server.limits import ServerLimits

#: Part of the smoke suite run on every supported Python (scripts/smoke.sh).
pytestmark = pytest.mark.smoke


def test_fields_are_kept_in_order_and_the_framing_ones_are_read():
    section = HeaderSection(64, 1024, 10)
    for name, value in [(b"HOST", b"example.com:80"), (b"Transfer-Encoding", b"GZip"),
                        (b"transfer-encoding", b"Chunked"), (b"Expect", b"100-Continue"),
                        (b"If-None-Match", b'"x"'), (b"Content-Length", b"12"), (b"X-Other", b"1")]:
        section.on_header(name, value)
    assert [name for name, _ in section.fields][-1] == b"X-Other" and len(section.fields) == 7
    assert section.host_count == 1 and section.valid_host == b"example.com:80"
    assert section.te == b"gzip,chunked"  # one list, judged whole when the section ends
    assert section.expect is True and section.conditional is True and section.content_length == 12
    assert section.size == sum(len(n) + len(v) for n, v in section.fields)


def test_reset_starts_a_new_list_and_keeps_the_last_valid_host():
    section = HeaderSection(64, 1024, 10)
    section.on_header(b"Host", b"a.example")
    first = section.fields
    section.reset()
    assert first == [(b"Host", b"a.example")] and section.fields == [] and section.fields is not first
    assert (section.size, section.host_count, section.te, section.expect, section.content_length,
            section.conditional) == (0, 0, None, False, -1, False)
    assert section.valid_host == b"a.example"  # a keep-alive client sends the same Host again
    section.on_header(b"Host", b"a.example")
    assert section.host_count == 1


@pytest.mark.parametrize(("fields", "status", "detail"), [
    ([(b"X-A", b"a" * 20)], 431, "request header fields too large"),  # the bytes
    ([(b"X-A", b"1")] * 4, 431, "request header fields too large"),  # the count
    ([(b"Host", b"bad host")], 400, "invalid Host header"),
    ([(b"Content-Length", b"x")], 400, "invalid Content-Length"),
])
def test_a_field_past_a_limit_or_unreadable_is_rejected(fields, status, detail):
    section = HeaderSection(64, 16, 3)
    with pytest.raises(Reject) as caught:
        for name, value in fields:
            section.on_header(name, value)
    assert (caught.value.status, caught.value.detail) == (status, detail)


def test_a_content_length_past_64_bits_is_kept_whole():
    section = HeaderSection(64, 1024, 10)
    section.on_header(b"content-length", b"99999999999999999999999")
    assert section.content_length == 99999999999999999999999  # then 413 against any limit


def test_the_reader_hands_llhttp_the_sections_own_method():
    from areion_core.server.parser import RequestReader

    class Owner:
        state = type("State", (), {"limits": ServerLimits(), "now": 0.0})()

    reader = RequestReader(Owner())  # type: ignore[arg-type]
    assert reader.on_header == reader.head.on_header
    assert reader.on_url == reader.head.on_url
    limits = ServerLimits()
    assert (reader.head.max_url, reader.head.max_bytes, reader.head.max_fields) == (
        limits.max_url_bytes, limits.max_header_bytes, limits.max_headers)


def test_the_target_is_joined_from_its_pieces_up_to_its_limit():
    section = HeaderSection(8, 1024, 10)
    section.on_url(b"/abc")
    section.on_url(b"?d=1")  # 8 bytes: at the limit
    assert section.url == b"/abc?d=1"
    with pytest.raises(Reject) as caught:
        section.on_url(b"2")
    assert (caught.value.status, caught.value.detail) == (414, "request target too long")
    section.reset()
    assert section.url == b""
