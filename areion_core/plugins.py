"""Plugin discovery (entry points), selection by configuration, and the plugin manager.

A plugin is found through the ``areion.plugins`` entry-point group; the entry point's name is
the plugin's name and its value a class (instantiated once per app with no arguments) or a
module. Selection happens before anything is imported: a plugin that is not selected is
never loaded.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .config import AreionConfig
from .exceptions import PluginError

ENTRY_POINT_GROUP = "areion.plugins"
logger = logging.getLogger("areion.plugins")


@dataclass
class PluginInfo:
    """What ``areion plugins`` shows for one plugin."""

    name: str
    version: str
    distribution: str
    source: str  # "entry point", "with_plugins" or "built in"
    enabled: bool
    reason: str
    obj: Any = None
    hooks: list[str] = field(default_factory=list)


def discover() -> dict[str, md.EntryPoint]:
    """Every installed plugin's entry point, by name, without importing any of them."""
    found: dict[str, md.EntryPoint] = {}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _dist_of(ep: md.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"], dist.version


def select(config: AreionConfig, installed: dict[str, md.EntryPoint]) -> list[PluginInfo]:
    """Decide which installed plugins load; unknown names in the config stop startup."""
    names = sorted(installed)
    listing = ", ".join(names) if names else "(none installed)"
    for key, wanted in (("plugins", config.enabled_plugins or []), ("disabled", config.disabled_plugins)):
        missing = [n for n in wanted if n not in installed]
        if missing:
            raise PluginError(
                f"config {key!r} names plugin(s) that are not installed: {', '.join(missing)}. "
                f"Installed: {listing}"
            )
    infos = []
    for name in names:
        dist, version = _dist_of(installed[name])
        if name in config.disabled_plugins:
            enabled, reason = False, "disabled by config"
        elif config.enabled_plugins is not None:
            enabled = name in config.enabled_plugins
            reason = "listed in plugins" if enabled else "not listed in plugins"
        else:
            enabled, reason = True, "installed (no plugins list: all load)"
        infos.append(PluginInfo(name, version, dist, "entry point", enabled, reason))
    return infos


def instantiate(obj: Any, name: str) -> Any:
    """Entry points may name a class (instantiated) or a module/object (used as is)."""
    if inspect.isclass(obj):
        try:
            return obj()
        except Exception as exc:
            raise PluginError(f"plugin {name!r} failed to initialise: {exc!r}") from exc
    return obj


def load_entry_point(name: str, ep: md.EntryPoint) -> Any:
    try:
        return instantiate(ep.load(), name)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(f"plugin {name!r} failed to import ({ep.value}): {exc!r}") from exc


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with Areion's hook specs (one per app)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def plugin_name(obj: Any) -> str:
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    if inspect.ismodule(obj):
        return obj.__name__
    return type(obj).__name__


def hooks_implemented(pm: pluggy.PluginManager, obj: Any) -> list[str]:
    return sorted(caller.name for caller in (pm.get_hookcallers(obj) or []))


def enable_tracing(pm: pluggy.PluginManager, log: logging.Logger) -> None:
    """Log every cold hook call with its plugin and duration (``AREION_TRACE_PLUGINS=1``)."""

    starts: list[float] = []

    def before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        starts.append(time.perf_counter())

    def after(outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        took = (time.perf_counter() - starts.pop()) * 1e6 if starts else 0.0
        names = ", ".join(i.plugin_name for i in impls)
        if names:  # a hook nobody implements did nothing worth a line
            log.info("hook %s [%s] took %.1f µs", hook_name, names, took)

    pm.add_hookcall_monitoring(before, after)
