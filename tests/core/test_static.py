"""Static files: types, validators, 304, ranges, and nothing outside the directory."""

from __future__ import annotations

import os

import httpx
import pytest

from areion_core import Router
from tests.core._core_support import exchange, status_of


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "index.html").write_text("<h1>hi</h1>")
    (root / "css" / "site.css").write_text("body{}")
    (root / "app.js").write_text("let a = 1;")
    (root / "data.json").write_text("{}")
    (root / "logo.svg").write_text("<svg/>")
    (root / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (root / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("outside")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("SECRET=git")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keys.txt").write_text("outside dir")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink(tmp_path / "outside", root / "linked")  # a directory symlink that leaves the root
    os.symlink("/", root / "rootfs")
    os.symlink(root / "index.html", root / "inside.html")
    return root


@pytest.fixture
def server(live, site):
    return live(Router(), static_dir=str(site))


@pytest.mark.parametrize("path,ctype", [
    ("/static/index.html", "text/html; charset=utf-8"),
    ("/static/css/site.css", "text/css; charset=utf-8"),
    ("/static/app.js", "text/javascript; charset=utf-8"),
    ("/static/data.json", "application/json; charset=utf-8"),
    ("/static/logo.svg", "image/svg+xml; charset=utf-8"),
    ("/static/blob.bin", "application/octet-stream"),
])
def test_files_have_their_content_type(server, path, ctype):
    r = httpx.get(server.url + path)
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype


def test_etag_and_last_modified_give_304(server):
    first = httpx.get(server.url + "/static/index.html")
    etag, last = first.headers["etag"], first.headers["last-modified"]
    again = httpx.get(server.url + "/static/index.html", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert "content-length" not in again.headers
    since = httpx.get(server.url + "/static/index.html", headers={"If-Modified-Since": last})
    assert since.status_code == 304
    other = httpx.get(server.url + "/static/index.html", headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200 and other.text == "<h1>hi</h1>"
    star = httpx.get(server.url + "/static/index.html", headers={"If-None-Match": "*"})
    assert star.status_code == 304


def test_range_requests(server):
    data = bytes(range(256)) * 4
    part = httpx.get(server.url + "/static/blob.bin", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["content-range"] == "bytes 10-19/1024"
    suffix = httpx.get(server.url + "/static/blob.bin", headers={"Range": "bytes=-4"})
    assert suffix.status_code == 206 and suffix.content == data[-4:]
    open_end = httpx.get(server.url + "/static/blob.bin", headers={"Range": "bytes=1000-"})
    assert open_end.content == data[1000:]
    bad = httpx.get(server.url + "/static/blob.bin", headers={"Range": "bytes=5000-6000"})
    assert bad.status_code == 416 and bad.headers["content-range"] == "bytes */1024"
    assert bad.headers["content-type"] == "application/problem+json" and bad.json()["status"] == 416
    stale = httpx.get(server.url + "/static/blob.bin", headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == data


def test_a_range_on_an_empty_file_is_416(server, site):
    """An empty file has no satisfiable range, a suffix one included (RFC 9110 §14.1.2): 416 with
    ``Content-Range: bytes */0`` and a problem body, never a 206 of ``bytes 0--1/0``."""
    (site / "empty.txt").write_bytes(b"")
    for spec in ("bytes=0-", "bytes=-5", "bytes=0-0"):
        r = httpx.get(server.url + "/static/empty.txt", headers={"Range": spec})
        assert r.status_code == 416, spec
        assert r.headers["content-range"] == "bytes */0"
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 416 and r.json()["title"] == "Range Not Satisfiable"
        assert spec in r.json()["detail"]
    whole = httpx.get(server.url + "/static/empty.txt")
    assert whole.status_code == 200 and whole.content == b"" and whole.headers["content-length"] == "0"


def test_head_on_a_file(server):
    r = httpx.head(server.url + "/static/blob.bin")
    assert r.status_code == 200 and r.headers["content-length"] == "1024" and r.content == b""


@pytest.mark.parametrize("target", [
    b"/static/../secret.txt",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E%2Fsecret.txt",
    b"/static/css/..%2F..%2Fsecret.txt",
    b"/static/..\\secret.txt",
    b"/static/%5c..%5csecret.txt",
    b"/static/index.html%00.txt",
    b"/static//etc/passwd",
    b"/static/%2Fetc%2Fpasswd",
    b"/static/escape.txt",
    b"/static/.env",
    b"/static/css",
    b"/static/C:%5Cwindows",
    b"/static/%252e%252e/secret.txt",  # double-encoded: a literal "%2e%2e" name, not a parent
    b"/static/%2e%2e%2f%2e%2e%2fsecret.txt",
    b"/static/css/%2e%2e/%2e%2e/secret.txt",
    b"/static/./index.html",
    b"/static/%2eenv",
    b"/static/.git/config",
    b"/static/%2egit/config",
    b"/static/css/../.env",
    b"/static/linked/keys.txt",
    b"/static/rootfs/etc/passwd",
    b"/static/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 dots
    b"/static/index.html%00",
    b"/static/%00",
    b"/static/..%00/secret.txt",
])
def test_traversal_attempts_never_leave_the_directory(server, target):
    out = exchange(server.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(out) in (400, 404), out[:200]
    assert b"outside" not in out and b"SECRET" not in out and b"root:" not in out
    assert str(server_root(server)).encode() not in out  # no filesystem path in the error body


def server_root(server):
    return server.server.app.static_dir


def test_nul_in_the_raw_request_line_is_refused(server):
    out = exchange(server.port, b"GET /static/index.html\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(out) == 400 and b"<h1>hi</h1>" not in out


def test_symlink_inside_the_root_is_served(server):
    assert httpx.get(server.url + "/static/inside.html").text == "<h1>hi</h1>"


def test_paths_through_a_symlinked_directory_and_through_files(tmp_path):
    # Segments are checked with lstat from the root down: a directory symlink inside the root
    # is followed (and checked), one leaving it is refused, and a file used as a directory is
    # a 404, not a 500.
    from areion_core import NotFoundError
    from areion_core.static import StaticFiles

    root = tmp_path / "root"
    (root / "css").mkdir(parents=True)
    (root / "css" / "site.css").write_text("body{}")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x.css").write_text("outside")
    os.symlink(root / "css", root / "styles")
    os.symlink(tmp_path / "out", root / "away")
    files = StaticFiles(root)
    full, st = files.resolve("styles/site.css")
    assert full == os.path.realpath(root / "css" / "site.css") and st.st_size == 6
    full, st = files.resolve("css/site.css")
    assert full == os.path.realpath(root / "css" / "site.css") and st.st_size == 6
    for refused in ("away/x.css", "css/site.css/more", "css", "styles", "nope/site.css"):
        with pytest.raises(NotFoundError):
            files.resolve(refused)


def test_missing_static_dir_is_a_startup_error(tmp_path):
    from areion_core import ConfigError
    from tests.core._core_support import make_server

    with pytest.raises(ConfigError, match="static_dir"):
        make_server(Router(), static_dir=str(tmp_path / "nope"))
