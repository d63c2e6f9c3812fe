"""Helpers for the templates plugin tests: write templates, build an app around them."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from areion_templates import TemplatesPlugin

from areion_core import AreionServerBuilder, Router
from areion_core.runner import AreionServer


def write_files(directory: Path, files: Mapping[str, str]) -> Path:
    """Write ``{relative name: text}`` under ``directory`` (parents created); returns it."""
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


def rewrite(path: Path, text: str) -> None:
    """Replace a file's content and move its mtime forward, so a reload check cannot miss it
    on a filesystem with coarse timestamps."""
    before = path.stat().st_mtime
    path.write_text(text, encoding="utf-8")
    later = max(before + 2, time.time())
    os.utime(path, (later, later))


def make_server(
    tmp_path: Path,
    router: Router,
    templates: Mapping[str, str] | None = None,
    *,
    development: bool = False,
    section: Mapping[str, Any] | None = None,
    engine: Any = None,
    plugins: Sequence[Any] = (),
    templates_plugin: bool = True,
    **core: Any,
) -> AreionServer:
    """An app with only the templates plugin (unfinished plugins elsewhere are never loaded).

    Templates go to ``tmp_path/templates``; the bytecode cache (on in production) to
    ``tmp_path/bytecode`` unless ``section`` says otherwise.
    """
    directory = write_files(tmp_path / "templates", templates or {})
    settings: dict[str, Any] = {"directories": [str(directory)], "bytecode_cache_dir": str(tmp_path / "bytecode")}
    settings.update(section or {})
    builder = (
        AreionServerBuilder().with_router(router).without_config_file()
        .with_config(plugins=[])
        .with_config({"plugins": {"templates": settings}}, access_log=False, **core)
        .with_development_mode(development)
    )
    if templates_plugin:
        builder = builder.with_plugins(TemplatesPlugin())
    if plugins:
        builder = builder.with_plugins(*plugins)
    if engine is not None:
        builder = builder.with_engine(engine)
    return builder.build()
