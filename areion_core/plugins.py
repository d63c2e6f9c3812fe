"""Plugins: discovery (entry points), selection by configuration, registration and cold-hook calls.

A plugin is found through the ``areion.plugins`` entry-point group; the entry point's name is
the plugin's name and its value a class (instantiated once per app with no arguments) or a
module. Selection happens before anything is imported: a plugin that is not selected is
never loaded.

Once loaded, plugins live in a :class:`PluginRegistry`, which knows the order they were
registered in and calls their cold hooks, the one way the core calls them. The order of a
hook's implementations follows these rules (the order pluggy itself calls them in), worked
out here from the registration order rather than taken from ``get_hookimpls()``:

1. ``tryfirst`` implementations, the plugin registered last first;
2. plain implementations, the plugin registered last first (pluggy's LIFO);
3. ``trylast`` implementations, the plugin registered first first — so the core's built-in
   plugins (error pages, static files), registered after every other, run after them.

Installed plugins register in name order, then those given to ``with_plugins()`` in the
order given, then the built-ins.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from . import hookspecs
from .config import AreionConfig
from .exceptions import ConfigError, PluginError, RouteError

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


class PluginRegistry:
    """An app's plugins, in the order they were registered, and the one caller of their cold hooks."""

    def __init__(self, pm: pluggy.PluginManager | None = None, trace: logging.Logger | None = None) -> None:
        self.pm = pm if pm is not None else make_plugin_manager()
        #: Logs each cold-hook call with its duration (``AREION_TRACE_PLUGINS=1``), or None.
        self.trace = trace
        self.by_name: dict[str, Any] = {}
        self._order: dict[str, int] = {}

    def register(self, obj: Any, name: str) -> list[str]:
        """Register ``obj`` as ``name``; returns the hooks it implements.

        A hot hook (``request_received``, ``response_ready``, ``exception``, ``response_sent``)
        cannot be a pluggy wrapper: the core compiles those into plain call chains, so a
        ``wrapper=True`` or ``hookwrapper=True`` implementation stops startup here, naming it.
        """
        if name in self.by_name:
            raise PluginError(f"two plugins are named {name!r}; give one a different `name` attribute")
        self.pm.register(obj, name=name)
        for caller in self.pm.get_hookcallers(obj) or []:
            if caller.name not in hookspecs.HOT_HOOKS:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is obj and (impl.hookwrapper or impl.wrapper):
                    self.pm.unregister(obj)
                    raise PluginError(
                        f"plugin {name!r}: {caller.name} is a hot hook and cannot be a wrapper "
                        "(wrapper=True / hookwrapper=True); implement it as a plain function")
        self.by_name[name] = obj
        self._order[name] = len(self._order)
        return hooks_implemented(self.pm, obj)

    def impls(self, hook: str) -> list[Any]:
        """The implementations of ``hook`` in call order (see the module's rules)."""
        order = self._order

        def position(impl: Any) -> tuple[int, int]:
            registered = order.get(impl.plugin_name, -1)
            if impl.trylast:
                return 2, registered
            return (0 if impl.tryfirst else 1), -registered

        return sorted(getattr(self.pm.hook, hook).get_hookimpls(), key=position)

    def call(
        self, hook: str, kwargs: Mapping[str, Any], *, reverse: bool = False,
        errors: Literal["raise", "log"] = "raise", where: str = "",
    ) -> Iterator[tuple[str, Any]]:
        """Call each implementation of a cold hook, yielding ``(plugin name, result)``.

        Arguments are read from ``kwargs`` at each call, so a caller may change them between
        implementations (each ``wrap_handler`` wraps the handler the previous one returned).
        ``reverse`` calls them in the opposite order (shutdown). A failure raises
        ``ConfigError`` (its key under ``plugins.<name>``) or a ``PluginError`` naming the
        plugin and ``where`` it failed (default ``in <hook>``); with ``errors="log"`` it is
        logged and the next implementation is called.
        """
        impls = self.impls(hook)
        for impl in reversed(impls) if reverse else impls:
            started = time.perf_counter()
            try:
                result = impl.function(*[kwargs[name] for name in impl.argnames])
            except ConfigError as exc:
                if errors == "log":
                    logger.error("plugin %r failed in %s: %s", impl.plugin_name, hook, exc)
                    continue
                key = exc.key if exc.key.startswith("plugins.") else f"plugins.{impl.plugin_name}.{exc.key}"
                raise ConfigError(key, exc.value, exc.expected) from exc
            except (PluginError, RouteError):
                if errors == "log":
                    logger.exception("plugin %r failed in %s", impl.plugin_name, hook)
                    continue
                raise
            except Exception as exc:
                if errors == "log":
                    logger.exception("plugin %r failed in %s", impl.plugin_name, hook)
                    continue
                raise PluginError(f"plugin {impl.plugin_name!r} failed {where or 'in ' + hook}: {exc!r}") from exc
            if self.trace is not None:
                self.trace.info("hook %s [%s] took %.1f µs", hook, impl.plugin_name,
                                (time.perf_counter() - started) * 1e6)
            yield impl.plugin_name, result

    def call_each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a cold hook; ``(plugin name, result)`` for each."""
        return list(self.call(hook, kwargs))

    def call_first(self, hook: str, **kwargs: Any) -> Any:
        """The first non-None result of a cold hook (the rest are not called), or None."""
        for _, result in self.call(hook, kwargs):
            if result is not None:
                return result
        return None


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
