"""The README's "Request bodies and uploads" and middleware examples run as the README says."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

from areion_core import Router

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _blocks_after(heading: str, count: int) -> list[str]:
    section = README[README.index(heading):]
    return re.findall(r"```python\n(.*?)```", section, re.S)[:count]


def _router_of(code: str) -> Router:
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    router = namespace["router"]
    assert isinstance(router, Router)
    return router


def test_the_upload_examples(live, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (code,) = _blocks_after("### Request bodies and uploads", 1)
    srv = live(_router_of(code))
    data = b"u" * (3 * 1024 * 1024)
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        assert client.put("/upload", content=data).json() == {"bytes": len(data),
                                                              "sha256": hashlib.sha256(data).hexdigest()}
        got = client.post("/photos", data={"caption": "cats"},
                          files=[("photo", ("../../a.jpg", b"jpeg", "image/jpeg")), ("photo", ("b.bin", b"png!"))])
    assert got.json() == {"caption": "cats", "saved": [{"name": "../../a.jpg", "bytes": 4, "type": "image/jpeg"},
                                                       {"name": "b.bin", "bytes": 4, "type": "application/octet-stream"}]}
    assert (tmp_path / "photos" / "a.jpg").read_bytes() == b"jpeg"
    assert (tmp_path / "photos" / "b.bin").read_bytes() == b"png!"


def test_the_group_middleware_example(live):
    code = README[README.index("**A middleware gets an"):]
    (block,) = re.findall(r"```python\n(.*?)```", code, re.S)[:1]
    srv = live(_router_of(block))
    got = httpx.get(srv.url + "/notes/7")
    assert got.json() == {"id": 7} and got.headers["x-area"] == "notes"
