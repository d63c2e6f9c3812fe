"""The Usage example of libs/redis/README.md runs as written, against a private Redis."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[3] / "libs" / "redis" / "README.md"


async def test_the_usage_example_runs(redis_url: str) -> None:
    text = README.read_text(encoding="utf-8")
    example = text.split("## Usage\n\n```python\n", 1)[1].split("```", 1)[0]
    assert "redis://127.0.0.1:6379/0" in example
    namespace: dict[str, Any] = {}
    exec(compile(example.replace("redis://127.0.0.1:6379/0", redis_url), str(README), "exec"), namespace)
    await namespace["startup"]()
    assert await namespace["handler"]() == b"Ada"
    ok, why = await namespace["readyz"]()
    assert ok, why
    await namespace["shutdown"]()


def test_the_readme_documents_every_option() -> None:
    from areion_redis.settings import KEYS

    table = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("## Usage", 1)[0]
    missing = [key for key in KEYS if f"`{key}`" not in table]
    assert not missing, f"libs/redis/README.md's table does not document {missing}"


def test_the_readme_documents_every_export() -> None:
    import areion_redis

    text = README.read_text(encoding="utf-8")
    missing = [name for name in areion_redis.__all__ if f"`{name}" not in text]
    assert not missing, f"libs/redis/README.md does not document {missing}"


def test_the_root_readme_config_forms_are_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from areion_redis import RedisSettings

    monkeypatch.setenv("REDIS_PASSWORD", "from-env")
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    text = (README.parents[2] / "README.md").read_text(encoding="utf-8")
    block = text.split("## Redis: standalone, Sentinel, Cluster", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    lines = [line.removeprefix("# ") for line in block.splitlines() if line.removeprefix("# ").startswith("redis = ")]
    assert len(lines) == 6
    modes = set()
    for line in lines:
        value = tomllib.loads(line.replace("/etc/ssl/redis-ca.pem", str(ca)))["redis"]
        modes.add(RedisSettings.from_config(value, "redis").mode)
    assert modes == {"standalone", "sentinel", "cluster"}
