"""request.form() on the real server: multipart parsed as it arrives (python-multipart), files
spooled to disk past limits.form_spool_bytes and removed after the response, the form limits."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time

import httpx
import pytest

from areion_core import Router, UploadedFile

MiB = 1024 * 1024


def _spooled_fds(directory: str) -> int:
    """How many of this process's descriptors are temporary files in ``directory``."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(directory):
                n += 1
        except OSError:
            pass
    return n


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return str(tmp_path)


def _router(spool_dir: str, seen: dict[str, object]) -> Router:
    r = Router()

    @r.post("/form", max_body_bytes=64 * MiB)
    async def form(request):
        parsed = await request.form()
        files = []
        for file in parsed.files:
            digest = hashlib.sha256()
            async for chunk in file:
                digest.update(chunk)
            await file.seek(0)
            head = await file.read(4)
            files.append({"field": file.field, "filename": file.filename, "type": file.content_type,
                          "size": file.size, "on_disk": file.on_disk, "sha256": digest.hexdigest(),
                          "head": head.decode("latin-1"), "x": file.headers.get("x-part")})
        seen["open_while_handling"] = _spooled_fds(spool_dir)
        seen["form"] = parsed  # kept alive: only the app's closing after the response frees its files
        fields = {k: v for k, v in parsed.items() if isinstance(v, str)}  # the first of each
        return {"files": files, "fields": fields, "tags": parsed.get_all("tag")}

    @r.post("/save")
    async def save(request):
        parsed = await request.form()
        upload = parsed["file"]
        assert isinstance(upload, UploadedFile)
        target = os.path.join(spool_dir, "saved.bin")
        written = await upload.save(target)
        with open(target, "rb") as fh:
            return {"written": written, "same": hashlib.sha256(fh.read()).hexdigest()}

    return r


@pytest.fixture
def server(live, spool_dir):
    seen: dict[str, object] = {}
    srv = live(_router(spool_dir, seen), limits={"max_form_files": 3, "max_form_parts": 6,
                                                 "max_form_field_bytes": 100, "form_spool_bytes": MiB})
    srv.seen = seen
    srv.spool_dir = spool_dir
    return srv


def test_files_spool_to_disk_and_are_removed_after_the_response(server):
    big = os.urandom(3 * MiB)
    small = b"tiny file"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        got = client.post("/form", data={"note": "hi", "tag": ["a", "b"]},
                          files=[("big", ("big.bin", big, "application/x-big")),
                                 ("small", ("s.txt", small, "text/plain"))])
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["fields"] == {"note": "hi", "tag": "a"} and body["tags"] == ["a", "b"]
    big_file, small_file = body["files"]
    assert big_file["size"] == len(big) and big_file["sha256"] == hashlib.sha256(big).hexdigest()
    assert big_file["on_disk"] is True and big_file["filename"] == "big.bin" and big_file["type"] == "application/x-big"
    assert small_file == {"field": "small", "filename": "s.txt", "type": "text/plain", "size": len(small),
                          "on_disk": False, "sha256": hashlib.sha256(small).hexdigest(), "head": "tiny", "x": None}
    assert server.seen["open_while_handling"] == 1  # the big file's temporary file, while handling
    deadline = time.monotonic() + 2
    while _spooled_fds(server.spool_dir) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _spooled_fds(server.spool_dir) == 0
    assert os.listdir(server.spool_dir) == []


def test_part_headers_and_save(server):
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n"
            f"X-Part: seven\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + b"\x00\xff" * 1000 + \
        f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        got = client.post("/form", content=body, headers=headers).json()
        assert got["files"][0]["x"] == "seven" and got["files"][0]["size"] == 2000
        saved = client.post("/save", content=body, headers=headers).json()
    assert saved == {"written": 2000, "same": hashlib.sha256(b"\x00\xff" * 1000).hexdigest()}


@pytest.mark.parametrize(("files", "data", "status", "words"), [
    ([("f", ("a", b"1")), ("f", ("b", b"2")), ("f", ("c", b"3")), ("f", ("d", b"4"))], {}, 413, "max_form_files"),
    ([], {"k": "x" * 101}, 413, "max_form_field_bytes"),
    ([], {f"k{i}": "v" for i in range(7)}, 413, "max_form_parts"),
])
def test_form_limits_are_413_problems(server, files, data, status, words):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        got = client.post("/form", data=data, files=files or None,
                          headers=None if files else {"Content-Type": "multipart/form-data; boundary=zz"},
                          content=None if files else _multipart("zz", data))
    assert got.status_code == status and got.headers["content-type"] == "application/problem+json"
    assert words in got.json()["detail"]


def _multipart(boundary: str, fields: dict[str, str]) -> bytes:
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n" for k, v in fields.items()]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


@pytest.mark.parametrize(("content_type", "body", "status"), [
    ("multipart/form-data; boundary=q", b"garbage", 400),
    ("multipart/form-data", b"--q\r\n", 400),
    ("multipart/form-data; boundary=q", b"--q\r\nContent-Disposition: form-data\r\n\r\nv\r\n--q--\r\n", 400),
    ("application/json", b"{}", 415),
])
def test_malformed_forms(server, content_type, body, status):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        got = client.post("/form", content=body, headers={"Content-Type": content_type})
    assert got.status_code == status and got.headers["content-type"] == "application/problem+json"
    # The connection's next request is served (the worker did not crash).
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/form", data={"a": "1"}).json()["fields"] == {"a": "1"}


def test_python_multipart_is_imported_by_the_first_multipart_body_only():
    # A fresh interpreter: the core and a served JSON request leave python-multipart out of
    # memory; the first multipart form brings it in.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import httpx
        from areion_core import AreionServerBuilder, Router
        from areion_core.testing import LiveServer

        router = Router()

        @router.get("/json")
        async def json_route(request):
            return {"ok": True}

        @router.post("/form")
        async def form_route(request):
            form = await request.form()
            return {"a": form["a"]}

        server = (AreionServerBuilder().with_router(router).without_config_file()
                  .with_config(plugins=[], access_log=False).build())
        with LiveServer(server) as live:
            assert httpx.get(live.url + "/json").status_code == 200
            print("python_multipart" in sys.modules)
            r = httpx.post(live.url + "/form", files={"f": ("f.txt", b"x")}, data={"a": "1"})
            assert r.json() == {"a": "1"}, r.text
            print("python_multipart" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"], out.stdout
