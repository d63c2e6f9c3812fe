"""Buffered responses through the real app: what is compressed, what is not, and the headers."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import orjson
import pytest
from areion_compression import Codec, register_codec

from areion_core import ConfigError, HttpRequest
from areion_core.testing import TestClient
from tests.plugins.compression._compression_app import (
    ALGORITHMS,
    BIG_JSON,
    BIG_TEXT,
    RANDOM,
    SHARED,
    decode,
    make_server,
)

CHROME = "gzip, deflate, br, zstd"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(make_server()) as c:
        yield c


def _vary(response: object) -> list[str]:
    value = response.headers.get("vary") or ""  # type: ignore[attr-defined]
    return [v.strip().lower() for v in value.split(",") if v.strip()]


@pytest.mark.parametrize("encoding", ALGORITHMS)
def test_each_algorithm_round_trips(client: TestClient, encoding: str) -> None:
    r = client.get("/json", headers={"Accept-Encoding": encoding})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == encoding
    assert "accept-encoding" in _vary(r)
    assert int(r.headers["content-length"]) == len(r.content)  # the compressed length
    assert orjson.loads(decode(encoding, r.content)) == BIG_JSON
    assert len(r.content) < len(orjson.dumps(BIG_JSON)) / 3
    assert r.headers["content-type"] == "application/json"


def test_browser_header_gets_brotli(client: TestClient) -> None:
    r = client.get("/text", headers={"Accept-Encoding": CHROME})
    assert r.headers["content-encoding"] == "br"
    assert decode("br", r.content).decode() == BIG_TEXT


def test_no_header_gets_identity_with_vary(client: TestClient) -> None:
    r = client.get("/text")
    assert "content-encoding" not in r.headers
    assert r.text == BIG_TEXT
    assert _vary(r) == ["accept-encoding"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("br;q=0, gzip", "gzip"), ("gzip;q=0", None), ("br;q=0", None), ("gzip;q=0.5, zstd;q=0.6", "zstd"),
     ("*;q=0, identity", None), ("identity;q=0", None)],
)
def test_refusals_are_honoured(client: TestClient, header: str, expected: str | None) -> None:
    r = client.get("/text", headers={"Accept-Encoding": header})
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == expected
    assert decode(expected, r.content).decode() == BIG_TEXT


def test_existing_vary_is_merged(client: TestClient) -> None:
    r = client.get("/text", params={"vary": "Cookie"}, headers={"Accept-Encoding": "gzip"})
    assert _vary(r) == ["cookie", "accept-encoding"]
    r = client.get("/text", params={"vary": "accept-encoding"}, headers={"Accept-Encoding": "gzip"})
    assert _vary(r) == ["accept-encoding"]


# --- skip rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "vary"),
    [
        ("/small", False),          # under min_size
        ("/png", False),            # image: not in the allow-list
        ("/octet", False),          # unknown binary
        ("/no-transform", False),   # Cache-Control: no-transform
        ("/secret", False),         # @no_compression below the route decorator
        ("/secret-above", False),   # ... and above it
        ("/random", True),          # compressible type, but compressing makes it bigger
    ],
)
def test_left_alone(client: TestClient, path: str, vary: bool) -> None:
    identity = client.get(path)
    r = client.get(path, headers={"Accept-Encoding": CHROME})
    assert r.status_code == 200
    assert "content-encoding" not in r.headers
    assert r.content == identity.content
    assert ("accept-encoding" in _vary(r)) is vary


def test_random_bytes_stay_identity(client: TestClient) -> None:
    r = client.get("/random", headers={"Accept-Encoding": "gzip"})
    assert r.content == RANDOM


def test_already_encoded_is_not_compressed_twice(client: TestClient) -> None:
    r = client.get("/pre-encoded", headers={"Accept-Encoding": CHROME})
    assert r.headers["content-encoding"] == "gzip"
    assert decode("gzip", r.content).decode() == BIG_TEXT  # one layer only


@pytest.mark.parametrize("path", ["/empty", "/partial", "/not-modified"])
def test_no_body_and_partial_statuses(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Accept-Encoding": CHROME})
    assert r.status_code in (204, 206, 304)
    assert "content-encoding" not in r.headers
    assert "accept-encoding" not in _vary(r)
    if r.status_code == 206:
        assert r.text == BIG_TEXT[:1000]


def test_head_has_get_encoding_length_and_vary(client: TestClient) -> None:
    get = client.get("/text", headers={"Accept-Encoding": CHROME})
    r = client.head("/text", headers={"Accept-Encoding": CHROME})
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-encoding"] == get.headers["content-encoding"] == "br"
    assert "accept-encoding" in _vary(r)
    assert r.headers["content-length"] == get.headers["content-length"] == str(len(get.content))


def test_error_pages_are_compressed_too(client: TestClient) -> None:
    r = client.get("/missing", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 404
    assert r.headers["content-encoding"] == "gzip"
    assert decode("gzip", r.content).decode() == BIG_TEXT
    r = client.get("/raises", headers={"Accept-Encoding": "br"})
    assert r.status_code == 404
    assert r.headers["content-encoding"] == "br"
    assert r.headers["content-type"] == "application/problem+json"
    problem = orjson.loads(decode("br", r.content))
    assert problem["detail"] == problem["error"] == "x" * 1000 and problem["status"] == 404


def test_cookies_survive_compression(client: TestClient) -> None:
    r = client.get("/cookie", headers={"Accept-Encoding": "br"})
    assert r.headers["content-encoding"] == "br"
    assert r.headers.get_all("set-cookie") == ["session=abc; Path=/; HttpOnly; SameSite=Lax"]


def test_shared_response_object_is_never_modified(client: TestClient) -> None:
    first = client.get("/shared", headers={"Accept-Encoding": "br"})
    assert first.headers["content-encoding"] == "br"
    second = client.get("/shared")
    assert "content-encoding" not in second.headers
    assert second.text == BIG_TEXT
    assert "content-encoding" not in SHARED.headers and SHARED.body == BIG_TEXT.encode()


# --- ETags and conditional requests ---------------------------------------------------------


def test_strong_etag_is_distinct_per_encoding(client: TestClient) -> None:
    tags = {}
    for encoding in (None, *ALGORITHMS):
        headers = {"Accept-Encoding": encoding} if encoding else {}
        r = client.get("/text", params={"etag": '"abc"'}, headers=headers)
        tags[encoding] = r.headers["etag"]
    assert tags == {None: '"abc"', "br": '"abc-br"', "gzip": '"abc-gzip"', "zstd": '"abc-zstd"'}


def test_weak_etag_stays_weak_and_is_suffixed(client: TestClient) -> None:
    r = client.get("/text", params={"etag": 'W/"abc"'}, headers={"Accept-Encoding": "gzip"})
    assert r.headers["etag"] == 'W/"abc-gzip"'


def test_revalidation_compares_the_sent_etag(client: TestClient) -> None:
    params = {"etag": '"abc"'}
    r = client.get("/text", params=params, headers={"Accept-Encoding": "br", "If-None-Match": '"abc-br"'})
    assert r.status_code == 304
    assert r.headers["etag"] == '"abc-br"'
    assert "accept-encoding" in _vary(r)
    # A brotli client holding the identity copy gets the brotli body, not a 304.
    r = client.get("/text", params=params, headers={"Accept-Encoding": "br", "If-None-Match": '"abc"'})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "br"
    # A gzip-only client holding the brotli copy gets gzip.
    r = client.get("/text", params=params, headers={"Accept-Encoding": "gzip", "If-None-Match": '"abc-br"'})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    r = client.get("/text", params=params, headers={"If-None-Match": '"abc"'})
    assert r.status_code == 304


# --- configuration through the app ----------------------------------------------------------


def test_config_changes_behaviour() -> None:
    config = {"algorithms": ["gzip", "br"], "min_size": 5000, "content_types": ["application/json"]}
    with TestClient(make_server(config)) as c:
        assert c.get("/text", headers={"Accept-Encoding": "gzip"}).headers.get("content-encoding") is None
        r = c.get("/json", headers={"Accept-Encoding": CHROME})
        assert r.headers.get("content-encoding") is None  # the JSON is under 5000 bytes
    with TestClient(make_server({"algorithms": ["gzip", "br"], "min_size": 0})) as c:
        assert c.get("/text", headers={"Accept-Encoding": CHROME}).headers["content-encoding"] == "gzip"
        assert c.get("/text", headers={"Accept-Encoding": "zstd"}).headers.get("content-encoding") is None
        # min_size 0 lets "tiny" be tried, but gzip's framing makes it bigger: sent as is.
        r = c.get("/small", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in r.headers
        assert r.content == b"tiny"
        assert "accept-encoding" in _vary(r)


def test_disabled_entirely() -> None:
    with TestClient(make_server({"algorithms": []})) as c:
        r = c.get("/text", headers={"Accept-Encoding": CHROME})
        assert "content-encoding" not in r.headers
        assert "vary" not in r.headers
        assert c.get("/nowhere" + "x" * 600).status_code == 404  # the global chain too


def test_not_acceptable_406_only_when_configured() -> None:
    header = {"Accept-Encoding": "identity;q=0, deflate"}
    with TestClient(make_server({"not_acceptable_406": True})) as c:
        r = c.get("/text", headers=header)
        assert r.status_code == 406
        assert "accept-encoding" in _vary(r)
        assert c.get("/missing", headers=header).status_code == 404  # errors keep their status
        assert c.get("/small", headers=header).status_code == 200  # too small to matter
        assert c.get("/text", headers={"Accept-Encoding": "identity;q=0, gzip"}).status_code == 200
    with TestClient(make_server()) as c:
        r = c.get("/text", headers=header)
        assert r.status_code == 200
        assert r.text == BIG_TEXT


def test_threaded_compression_gives_the_same_bytes() -> None:
    with TestClient(make_server({"thread_min_size": 0})) as threaded, TestClient(make_server()) as inline:
        for encoding in ALGORITHMS:
            a = threaded.get("/json", headers={"Accept-Encoding": encoding})
            b = inline.get("/json", headers={"Accept-Encoding": encoding})
            assert a.headers["content-encoding"] == encoding
            assert decode(encoding, a.content) == decode(encoding, b.content)


def test_bad_config_stops_startup_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        make_server({"brotli_quality": 12})
    assert info.value.key == "plugins.compression.brotli_quality"
    assert info.value.value == 12
    assert "0 to 11" in info.value.expected
    with pytest.raises(ConfigError) as info:
        make_server({"algorithms": ["lzma"]})
    assert info.value.key == "plugins.compression.algorithms"


class _Deflate(Codec):
    name = "deflate"

    def compress(self, data: bytes) -> bytes:
        return zlib.compress(data)

    def compressor(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def test_a_registered_codec_is_negotiated_and_used() -> None:
    register_codec("deflate", lambda options: _Deflate(), replace=True)
    try:
        with TestClient(make_server({"algorithms": ["br", "deflate"]})) as c:
            r = c.get("/text", headers={"Accept-Encoding": "deflate"})
            assert r.headers["content-encoding"] == "deflate"
            assert decode("deflate", r.content).decode() == BIG_TEXT
            assert c.get("/text", headers={"Accept-Encoding": "deflate, br"}).headers["content-encoding"] == "br"
    finally:
        from areion_compression import codecs

        codecs._REGISTRY.pop("deflate", None)


# --- cooperation with caches ------------------------------------------------------------------


def test_vary_normaliser_reduces_the_header_to_the_coding_sent() -> None:
    server = make_server()
    normalise = server.app.vary_normalizers["accept-encoding"]

    def request(header: str | None, path: str = "/text") -> HttpRequest:
        raw = [(b"accept-encoding", header.encode())] if header is not None else []
        req = HttpRequest("GET", path, "", raw)
        req.route = next(r for r in server.app.routes if r.path == path)
        return req

    assert normalise(request(CHROME)) == "br"
    assert normalise(request("gzip, deflate")) == "gzip"
    assert normalise(request("br;q=0, gzip;q=0")) == "identity"
    assert normalise(request(None)) == "identity"
    assert normalise(request("identity;q=0")) == "none"
    assert normalise(request(CHROME, "/secret")) == "identity"  # never compressed there
    # Two lines of Accept-Encoding are one list (RFC 9110 §5.3).
    two = HttpRequest("GET", "/text", "", [(b"accept-encoding", b"br;q=0"), (b"accept-encoding", b"gzip")])
    assert normalise(two) == "gzip"


def test_plugin_is_registered_under_its_name() -> None:
    server = make_server()
    assert type(server.app.get_plugin("compression")).__name__ == "CompressionPlugin"


def test_unknown_key_is_reported() -> None:
    with pytest.raises(ConfigError) as info:
        make_server({"gzip_levle": 5})
    assert info.value.key == "plugins.compression.gzip_levle"
    assert "gzip_level" in info.value.expected
