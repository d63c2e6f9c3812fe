"""Files: precompressed siblings, freshness, ranges, and on-the-fly compression of files."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest

from areion_core.testing import TestClient
from tests.plugins.compression._compression_app import decode, make_server

SCRIPT = ("function greet(name) { return 'hello ' + name; }\n" * 80).encode()
STYLE = ("body { margin: 0; padding: 0; color: #333; }\n" * 80).encode()


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.js").write_bytes(SCRIPT)
    # Precompressed at build time, at the highest levels: different bytes from on-the-fly output.
    (tmp_path / "app.js.br").write_bytes(brotli.compress(SCRIPT, quality=11))
    (tmp_path / "app.js.gz").write_bytes(gzip.compress(SCRIPT, 9, mtime=0))
    (tmp_path / "style.css").write_bytes(STYLE)
    stale = tmp_path / "style.css.gz"
    stale.write_bytes(gzip.compress(b"old stylesheet, before the last edit", mtime=0))
    old = os.stat(tmp_path / "style.css").st_mtime_ns - 60 * 10**9
    os.utime(stale, ns=(old, old))  # older than the original: stale
    (tmp_path / "logo.png").write_bytes(b"\x89PNG" + b"\x00" * 2000)
    (tmp_path / "tiny.txt").write_bytes(b"tiny")
    (tmp_path / "big.txt").write_bytes(b"0123456789abcdef\n" * (5 * 1024 * 1024 // 17 + 1))
    return tmp_path


@pytest.fixture
def client(static_dir: Path) -> Iterator[TestClient]:
    with TestClient(make_server(static_dir=static_dir)) as c:
        yield c


@pytest.mark.parametrize(("encoding", "suffix"), [("br", ".br"), ("gzip", ".gz")])
def test_precompressed_sibling_is_sent(client: TestClient, static_dir: Path, encoding: str, suffix: str) -> None:
    r = client.get("/static/app.js", headers={"Accept-Encoding": encoding})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == encoding
    assert r.content == (static_dir / f"app.js{suffix}").read_bytes()  # the file, byte for byte
    assert decode(encoding, r.content) == SCRIPT
    assert r.headers["content-type"].startswith("text/javascript")
    assert "accept-encoding" in r.headers["vary"].lower()
    assert "accept-ranges" not in r.headers


def test_browser_gets_the_brotli_sibling(client: TestClient, static_dir: Path) -> None:
    r = client.get("/static/app.js", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert r.content == (static_dir / "app.js.br").read_bytes()


def test_missing_sibling_falls_back_to_on_the_fly(client: TestClient) -> None:
    r = client.get("/static/app.js", headers={"Accept-Encoding": "zstd"})  # no app.js.zst
    assert r.headers["content-encoding"] == "zstd"
    assert decode("zstd", r.content) == SCRIPT


def test_refused_sibling_is_not_sent(client: TestClient, static_dir: Path) -> None:
    r = client.get("/static/app.js", headers={"Accept-Encoding": "br;q=0, gzip"})
    assert r.content == (static_dir / "app.js.gz").read_bytes()


def test_stale_sibling_is_ignored(client: TestClient, static_dir: Path) -> None:
    r = client.get("/static/style.css", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert decode("gzip", r.content) == STYLE  # compressed now, not the old .gz


def test_etags_differ_per_encoding_and_revalidate(client: TestClient) -> None:
    tags = {}
    for encoding in ("identity", "br", "gzip", "zstd"):
        tags[encoding] = client.get("/static/app.js", headers={"Accept-Encoding": encoding}).headers["etag"]
    assert len(set(tags.values())) == 4
    for encoding, tag in tags.items():
        assert tag.endswith(f'-{encoding}"') or encoding == "identity"
        r = client.get("/static/app.js", headers={"Accept-Encoding": encoding, "If-None-Match": tag})
        assert r.status_code == 304, encoding
    r = client.get("/static/app.js", headers={"Accept-Encoding": "gzip", "If-None-Match": tags["br"]})
    assert r.status_code == 200


def test_range_request_gets_identity_bytes(client: TestClient) -> None:
    r = client.get("/static/app.js", headers={"Accept-Encoding": "br, gzip", "Range": "bytes=0-99"})
    assert r.status_code == 206
    assert "content-encoding" not in r.headers
    assert r.content == SCRIPT[:100]
    assert r.headers["content-range"] == f"bytes 0-99/{len(SCRIPT)}"


def test_head_gets_the_headers_get_gets(client: TestClient, static_dir: Path) -> None:
    r = client.head("/static/app.js", headers={"Accept-Encoding": "br"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "br"
    assert r.headers["content-length"] == str(len((static_dir / "app.js.br").read_bytes()))
    assert "accept-encoding" in r.headers["vary"].lower()


def test_identity_client_gets_the_original(client: TestClient) -> None:
    r = client.get("/static/app.js")
    assert r.content == SCRIPT
    assert "content-encoding" not in r.headers
    assert "accept-encoding" in r.headers["vary"].lower()


@pytest.mark.parametrize("name", ["logo.png", "tiny.txt"])
def test_images_and_tiny_files_are_left_alone(client: TestClient, static_dir: Path, name: str) -> None:
    r = client.get(f"/static/{name}", headers={"Accept-Encoding": "br, gzip"})
    assert r.status_code == 200
    assert "content-encoding" not in r.headers
    assert "vary" not in r.headers
    assert r.content == (static_dir / name).read_bytes()


def test_large_file_is_streamed_compressed(client: TestClient, static_dir: Path) -> None:
    r = client.get("/static/big.txt", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers.get("transfer-encoding") == "chunked"
    assert decode("gzip", r.content) == (static_dir / "big.txt").read_bytes()


def test_no_precompressed_lookup_when_gzip_is_disabled(static_dir: Path) -> None:
    with TestClient(make_server({"algorithms": ["br"]}, static_dir=static_dir)) as c:
        r = c.get("/static/app.js", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in r.headers
        assert r.content == SCRIPT
