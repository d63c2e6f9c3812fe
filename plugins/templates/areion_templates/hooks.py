"""The ``templates`` plugin: provides the template engine, its hook specs, error pages and CLI."""

from __future__ import annotations

import argparse
from typing import Any

from areion_core import hookimpl

from .cli import add_templates_command
from .engine import DefaultEngine
from .hookspecs import ensure_hookspecs
from .settings import SECTION, TemplatesSettings


class TemplatesPlugin:
    """Wiring only: rendering lives in ``engine.py``."""

    name = "templates"

    @hookimpl
    def configure(self, app: Any) -> None:
        # Fail at startup on a bad [plugins.templates]; the engine reads it again when it binds.
        TemplatesSettings.from_section(app.config.section(SECTION))
        # Other plugins' template_* impls were registered before this spec existed; adding it
        # now makes pluggy check their signatures at startup rather than at first call.
        ensure_hookspecs(app.pm)

    @hookimpl
    def template_engine(self, app: Any) -> DefaultEngine | None:
        if getattr(app, "template_engine", None) is not None:
            return None  # the user passed one with with_engine(); the core keeps it
        # Options come from [plugins.templates] when the core calls startup(app).
        return DefaultEngine()

    @hookimpl
    def exception(self, request: Any, exc: BaseException) -> Any:
        engine = request.app.template_engine if request.app is not None else None
        if isinstance(engine, DefaultEngine):
            return engine.error_response(request, exc)
        return None

    @hookimpl
    def cli_commands(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        add_templates_command(subparsers)
