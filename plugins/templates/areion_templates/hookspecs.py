"""Hooks other plugins implement to feed the template engine.

They are added to the app's plugin manager by the templates plugin's ``configure`` hook (and
by the engine when it binds to an app, for an engine given with ``with_engine`` while the
plugin is not loaded). pluggy checks implementations registered before the specs arrived
against them at that point, so a wrong signature fails at startup. Implement them with
``areion_core.hookimpl`` like any other hook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from areion_core import hookspec

if TYPE_CHECKING:
    from areion_core import App

    from .context import ContextProcessor


@hookspec
def template_context_processors(app: App) -> Sequence[ContextProcessor] | None:
    """Context processors (``func(request) -> Mapping``, sync or async) merged into every template's context."""


@hookspec
def template_packages(app: App) -> Sequence[str] | None:
    """Packages that ship templates: ``"pkg"`` (folder ``templates``) or ``"pkg:folder"``; names ``"pkg:page.html"``."""


def ensure_hookspecs(pm: Any) -> None:
    """Add these specs to ``pm`` unless they are already there (safe to call more than once)."""
    if not isinstance(pm, pluggy.PluginManager):
        return
    caller = getattr(pm.hook, "template_context_processors", None)
    if caller is None or caller.spec is None:
        import sys

        pm.add_hookspecs(sys.modules[__name__])
