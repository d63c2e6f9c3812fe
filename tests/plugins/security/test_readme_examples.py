"""The README's Usage example runs: its areion.toml and its routes, served with a real Redis."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from areion_core import AreionServerBuilder, Router
from areion_core.testing import LiveServer

README = Path(__file__).resolve().parents[3] / "plugins" / "security" / "README.md"


def _usage_blocks() -> tuple[dict[str, Any], str]:
    usage = README.read_text(encoding="utf-8").split("\n## Usage\n", 1)[1].split("\n## ", 1)[0]
    toml_text = re.search(r"```toml\n(.*?)```", usage, re.DOTALL)
    python = re.search(r"```python\n(.*?)```", usage, re.DOTALL)
    assert toml_text is not None and python is not None
    return tomllib.loads(toml_text.group(1)), python.group(1)


def test_the_usage_example_runs(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config, code = _usage_blocks()
    monkeypatch.setenv("REDIS_URL", redis_url)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(README), "exec"), namespace)
    router: Router = namespace["router"]
    server = (AreionServerBuilder().with_router(router).without_config_file()
              .with_config({"plugins": {"enabled": ["security"], **config["plugins"]}, "access_log": False})
              .build())
    with LiveServer(server) as live, httpx.Client(base_url=live.url) as http:
        feed = http.get("/public/feed", headers={"origin": "https://anyone.example"})
        assert feed.headers["access-control-allow-origin"] == "*"
        app = http.get("/search", headers={"origin": "http://localhost:3000", "x-api-key": "k1"})
        assert app.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert app.headers["ratelimit-policy"] == '"/search";q=10;w=1'
        assert "img-src 'self' data: https://images.example.com" in app.headers["content-security-policy"]
        embed = http.get("/embed")
        assert "frame-ancestors https://partner.example" in embed.headers["content-security-policy"]
        assert "x-frame-options" not in embed.headers
        assert [http.post("/login").status_code, http.post("/reset").status_code,
                http.post("/login").status_code] == [200, 200, 200]
        forged = {"cookie": "sid=1", "sec-fetch-site": "cross-site", "origin": "https://evil.example"}
        assert http.post("/webhooks/payment", headers=forged).status_code == 204
        assert http.post("/login", headers=forged).status_code == 403
        assert http.get("/search", headers={"host": "evil.example"}).status_code == 400
