"""The application: routes and plugins, built once into what answers requests.

``App.build()`` does all the work once: loads the selected plugins, collects and compiles
routes, composes each route's endpoint (``endpoints.py``), lets plugins wrap it and compiles
the hot hooks into per-route call chains (``hook_chains.py``). The result is the app's
:class:`~areion_core.dispatch.Dispatcher`, whose ``handle(request)`` is the one call the
server makes per request. ``startup()`` and ``shutdown()`` run once per worker process.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import os
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pluggy

from ._builtin_plugins import ErrorPages, StaticFilesPlugin
from ._log_config import load_log_config_once
from .access_log import AccessLog, ProxiedAccessLog
from .config import AreionConfig
from .dispatch import Dispatcher
from .endpoints import compile_endpoint
from .exceptions import ConfigError, PluginError, RouteError
from .headers import canonical_name
from .hook_chains import bounded, compile_chain, selected, small_body_floor, sole_link
from .hookspecs import HOT_HOOKS
from .log import DefaultLogger, setup_logging
from .plugins import PluginInfo, PluginRegistry, discover, enable_tracing, load_entry_point, plugin_name, select
from .request import HttpRequest
from .routing import Middleware, Route, Router, RouteTree, decode_segments
from .telemetry import Telemetry
from .types import Orchestrator, TemplateEngine, WebSocketProtocol
from .websocket import websocket_endpoint

trace_log = logging.getLogger("areion.plugins")
_AMBIGUOUS: Any = object()


class App:
    """One Areion application. Built by ``AreionServerBuilder``; plugins receive it in every cold hook."""

    def __init__(
        self,
        router: Router,
        config: AreionConfig,
        *,
        plugins: Sequence[Any] = (),
        logger: Any = None,
        engine: TemplateEngine | None = None,
        orchestrator: Orchestrator | None = None,
    ) -> None:
        self.router = router
        self.config = config
        self.development = config.development
        self.static_dir = config.static_dir
        self.root_path = config.root_path
        self._direct_plugins = list(plugins)
        self.logger: logging.Logger = _as_logger(logger)
        #: Areion chooses the ``areion`` logger's handlers (no with_logger()).
        self._owns_logging = logger is None
        self.setup_logging()
        self.template_engine: TemplateEngine | None = engine
        self.orchestrator: Orchestrator | None = orchestrator
        #: What ``Router.websocket`` routes speak (the ``websocket_protocol`` hook), or None.
        self.websocket_protocol: WebSocketProtocol | None = None
        self.state: dict[str, Any] = {}
        self.vary_normalizers: dict[str, Callable[[Any], str]] = {}
        #: Where plugins report metrics and spans; records nothing until a plugin installs a recorder.
        self.telemetry: Telemetry = Telemetry()
        self.routes: list[Route] = []
        self.plugin_infos: list[PluginInfo] = []
        self.worker_id = 0
        #: True once the server drains (SIGTERM, SIGHUP, stop()): it finishes what it has, then stops.
        self.draining = False
        self.worker_count = config.workers
        #: The app's plugins and the caller of their cold hooks.
        self.registry = PluginRegistry()
        #: The pluggy plugin manager (for plugins that add hook specs of their own).
        self.pm: pluggy.PluginManager = self.registry.pm
        self._tree = RouteTree()
        self._names: dict[str, Route] = {}
        self._executor: ThreadPoolExecutor | None = None
        #: The access log (None when off); written by the dispatcher, started per worker.
        self.access_log: AccessLog | None = None
        #: What answers requests, made by build().
        self.dispatcher: Dispatcher | None = None
        self._built = False
        self._started = False

    # --- building --------------------------------------------------------------------------
    def build(self) -> App:
        """Load plugins, compile routes and the hook chains. Safe to call more than once; returns self."""
        if self._built:
            return self
        trace = os.environ.get("AREION_TRACE_PLUGINS", "") not in ("", "0")
        if trace:
            enable_tracing(self.pm, trace_log)
            self.registry.trace = trace_log
        self._load_plugins()
        self.call_each("configure", app=self, config=self.config)
        routes, middlewares = self._collect_routes()
        if self.template_engine is None:
            self.template_engine = self.registry.call_first("template_engine", app=self)
        if self.orchestrator is None:
            self.orchestrator = self.registry.call_first("orchestrator", app=self)
        for _, mapping in self.call_each("vary_normalizers", app=self):
            if mapping:
                self.vary_normalizers.update({k.lower(): v for k, v in mapping.items()})
        self._find_websocket_protocol(routes)
        for route in routes:
            self.call_each("route_added", app=self, route=route)
        for route in routes:
            self._compile_route(route, middlewares, trace)
        chains = {hook: compile_chain(self.registry.impls(hook), hook, None, trace) for hook in HOT_HOOKS}
        self.dispatcher = Dispatcher(self, self._tree, chains, None)
        self._built = True
        self.set_access_log(self.config.access_log, self.config.access_log_format)
        return self

    def set_access_log(self, enabled: bool, format: str | None = None) -> None:
        """Switch the access log on or off (``format``: "text" or "json"); before ``startup()`` only."""
        if self._started:
            raise RuntimeError("the access log is chosen before the app starts")
        self.config.access_log = enabled
        if format is not None:
            self.config.access_log_format = format
        cfg = self.config
        destination, trusted = cfg.access_log_file or 2, cfg.forwarded_allow_ips
        if not enabled:
            self.access_log = None
        elif trusted is None:
            self.access_log = AccessLog(destination, cfg.access_log_format)
        else:
            self.access_log = ProxiedAccessLog(destination, cfg.access_log_format, trusted=trusted)
        if self.dispatcher is not None:
            self.dispatcher.access_log = self.access_log

    def setup_logging(self) -> None:
        """Apply ``log_config``, then give the ``areion`` logger its level and Areion's handlers.

        Areion's stderr handler is attached only when the application has configured no
        logging (no handler on the root or ``areion`` logger); see ``log.setup_logging``.
        Called when the app is made and again when it starts (and safe to call any time
        before), so logging the application configures after building the app still counts.
        """
        cfg = self.config
        if cfg.log_config:
            load_log_config_once(cfg.log_config)
        setup_logging(level=cfg.log_level, format=cfg.log_format, log_file=cfg.log_file, own=self._owns_logging)

    def _load_plugins(self) -> None:
        """Register the selected installed plugins, those given to with_plugins(), then the built-ins."""
        cfg = self.config
        installed = discover()
        infos = select(cfg, installed)
        direct_names = {plugin_name(obj) for obj in self._direct_plugins}
        for info in infos:
            if info.enabled and info.name in direct_names:
                # An object given to with_plugins() replaces the installed plugin of that name.
                info.enabled, info.reason = False, "replaced by an object given to with_plugins()"
            if info.enabled:
                obj = load_entry_point(info.name, installed[info.name])
                info.obj = obj
                info.hooks = self.registry.register(obj, info.name)
        self.plugin_infos.extend(infos)
        for obj in self._direct_plugins:
            self._register(obj, "with_plugins", "registered with with_plugins()")
        # Built-ins go last: among trylast implementations the earliest registered runs first,
        # so a plugin's trylast `exception` still runs before the default error pages.
        self._register(ErrorPages(cfg.development), "built in", "always on")
        if cfg.static_dir:
            try:
                static = StaticFilesPlugin(cfg.static_dir, cfg.static_prefix)
            except FileNotFoundError as exc:
                raise ConfigError("static_dir", cfg.static_dir, "an existing directory") from exc
            self._register(static, "built in", "static_dir is set")
        known = set(self.registry.by_name) | {i.name for i in infos}
        for section in cfg.sections:
            if section not in known:
                self.logger.warning("config has a [plugins.%s] section but no plugin %r is installed "
                                    "(installed: %s)", section, section, ", ".join(sorted(known)) or "none")

    def _collect_routes(self) -> tuple[list[Route], tuple[Middleware, ...]]:
        """The app's and the plugins' routes, added to the route tree, and the global middleware."""
        plugin_router = Router()
        self.call_each("register_routes", app=self, router=plugin_router)
        specs, global_mws = self.router.collect()
        plugin_specs, plugin_mws = plugin_router.collect()
        routes = [Route(spec) for spec in specs] + [Route(spec) for spec in plugin_specs]
        for route in routes:
            self._tree.add(route)
            existing = self._names.get(route.name)
            if existing is None:
                self._names[route.name] = route
            elif existing is not _AMBIGUOUS and existing.path != route.path:
                self._names[route.name] = _AMBIGUOUS  # url_for() will ask for an explicit name
        self.routes = routes
        return routes, tuple(global_mws) + tuple(plugin_mws)

    def _find_websocket_protocol(self, routes: list[Route]) -> None:
        """Ask the plugins for the WebSocket protocol when a route needs one; none is a startup error."""
        sockets = [route for route in routes if route.kind == "websocket"]
        if not sockets:
            return
        self.websocket_protocol = self.registry.call_first("websocket_protocol", app=self)
        if self.websocket_protocol is None:
            raise RouteError(
                f"route {sockets[0].path} is a WebSocket route, but no plugin supplies the WebSocket "
                "protocol: install areion-realtime (pip install areion-realtime) and enable its "
                "plugin 'realtime'")

    def _register(self, obj: Any, source: str, reason: str) -> None:
        name = plugin_name(obj)
        hooks = self.registry.register(obj, name)
        self.plugin_infos.append(PluginInfo(
            name, str(getattr(obj, "version", "")) or "-", type(obj).__module__.split(".")[0], source,
            True, reason, obj, hooks))

    def call_each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a cold hook (``(plugin name, result)`` for each); a failure names the plugin."""
        return self.registry.call_each(hook, **kwargs)

    def _compile_route(self, route: Route, global_mws: tuple[Middleware, ...], trace: bool) -> None:
        inline = route.inline or self.config.sync_handlers == "inline"
        socket = None
        if route.kind == "websocket" and self.websocket_protocol is not None:
            socket = websocket_endpoint(route.handler, self.websocket_protocol, f"{route.name} ({route.path})")
        args: dict[str, Any] = {"app": self, "route": route,
                "handler": compile_endpoint(route, global_mws + route.middlewares, self._run_sync, inline,
                                            self.config.limits.request_timeout, self.logger, socket)}
        for name, wrapped in self.registry.call("wrap_handler", args, where=f"in wrap_handler for {route.path}"):
            if wrapped is not None:
                if not callable(wrapped):
                    raise PluginError(f"plugin {name!r} returned a non-callable from wrap_handler")
                args["handler"] = wrapped
                route.wrapped_by.append(name)
        route.endpoint = args["handler"]
        interest = {name: None if wanted is None else frozenset(wanted)
                    for name, wanted in self.registry.call("hot_hooks_for_route", {"app": self, "route": route})}
        impls = {hook: self.registry.impls(hook) for hook in HOT_HOOKS}
        route.request_chain = compile_chain(impls["request_received"], "request_received", interest, trace)
        route.response_chain = compile_chain(impls["response_ready"], "response_ready", interest, trace)
        ready = selected(impls["response_ready"], "response_ready", interest)
        route.ready_floor = 0 if trace else small_body_floor(ready)  # traced: every call is logged
        route.replay_chain = compile_chain(impls["response_ready"], "response_ready", interest, trace, replayed=True)
        route.received_link = sole_link(route.request_chain, "request_received")
        route.ready_link = sole_link(route.response_chain, "response_ready")
        route.replay_link = sole_link(route.replay_chain, "response_ready")
        route.exception_chain = compile_chain(impls["exception"], "exception", interest, trace)
        route.sent_chain = compile_chain(impls["response_sent"], "response_sent", interest, trace)
        route.replay_sent_chain = compile_chain(impls["response_sent"], "response_sent", interest, trace,
                                                replayed=True)

    def _run_sync(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.config.thread_pool_size, thread_name_prefix="areion-sync")
        ctx = contextvars.copy_context()
        return asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(ctx.run, func, *args, **kwargs))

    # --- lifecycle ---------------------------------------------------------------------------
    async def startup(self) -> None:
        """Start components and run plugins' startup hooks (once per worker process)."""
        if self._started:
            return
        self.build()
        self._started = True
        self.setup_logging()
        if self.access_log is not None:
            self.access_log.start(asyncio.get_running_loop())
        for component in (self.template_engine, self.orchestrator):
            hook = getattr(component, "startup", None)
            if callable(hook):
                result = hook(self)
                if inspect.isawaitable(result):
                    await result
        timeout = self.config.hook_timeout
        for name, result in self.registry.call("startup", {"app": self}, where="at startup"):
            if inspect.isawaitable(result):
                try:
                    await bounded(result, "startup", timeout)
                except Exception as exc:
                    raise PluginError(f"plugin {name!r} failed at startup: {exc!r}") from exc

    async def shutdown(self) -> None:
        """Run plugins' shutdown hooks in reverse order, stop components, write the last log lines."""
        if not self._started:
            return
        self._started = False
        timeout = self.config.hook_timeout
        for name, result in self.registry.call("shutdown", {"app": self}, reverse=True, errors="log"):
            if inspect.isawaitable(result):
                try:
                    await bounded(result, "shutdown", timeout)
                except Exception:
                    self.logger.exception("plugin %r failed at shutdown", name)
        for component in (self.orchestrator, self.template_engine):
            hook = getattr(component, "shutdown", None)
            if callable(hook):
                try:
                    result = hook(self)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    self.logger.exception("%s failed at shutdown", type(component).__name__)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self.access_log is not None:
            await self.access_log.close()

    # --- the server's two calls ----------------------------------------------------------------
    @property
    def handle(self) -> Callable[[HttpRequest], Coroutine[Any, Any, None]]:
        """Answer one request (see ``dispatch.py``); builds the app first if needed."""
        dispatcher = self.build().dispatcher
        assert dispatcher is not None
        return dispatcher.handle

    @property
    def body_plan(self) -> Callable[[str, bytes], tuple[int, bool] | None] | None:
        """For the server: which requests' bodies stream or have their route's limit (None when no
        route has either, so the server asks nothing)."""
        dispatcher = self.build().dispatcher
        assert dispatcher is not None
        return dispatcher.body_plan if dispatcher.body_plans else None

    @property
    def make_request(self) -> Callable[..., HttpRequest]:
        """Make the request object for a request the server has read (see ``dispatch.py``)."""
        dispatcher = self.build().dispatcher
        assert dispatcher is not None
        return dispatcher.make_request

    # --- helpers for plugins and handlers ------------------------------------------------------
    def get_plugin(self, name: str) -> Any:
        """The loaded plugin object called ``name``, or None."""
        return self.registry.by_name.get(name)

    def find_route(self, method: str, path: str) -> Route | None:
        """The route that would answer ``method`` on ``path`` (a raw request path), or None.

        For plugins that act for a request other than the one being routed: a CORS preflight
        (an ``OPTIONS``) applies the policy of the route its ``Access-Control-Request-Method``
        names. ``HEAD`` finds the ``GET`` route, as routing does; no redirect is followed.
        """
        tree = self._tree
        found = tree.static.get(path) if "%" not in path else None
        if found is None:
            try:
                segments = decode_segments(path) if "%" in path else path.split("/")
            except (ValueError, UnicodeDecodeError):
                return None
            hit = tree.match_segments(segments)
            if hit is None and "%" in path and not any("/" in s for s in segments):
                found = tree.static.get("/".join(segments))
            elif hit is not None:
                found = hit[0]
        if found is None:
            return None
        route = found.get(method)
        if route is None and method == "HEAD":
            route = found.get("GET")
        return route

    def url_for(self, name: str, *, request: HttpRequest | None = None, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in (percent-encoded).

        It starts with the app's ``root_path``; given the ``request`` being answered, with that
        request's (a trusted proxy's ``X-Forwarded-Prefix``, see ``forwarded_allow_ips``).
        """
        from urllib.parse import quote

        route = self._names.get(name)
        if route is None:
            raise KeyError(f"no route named {name!r}")
        if route is _AMBIGUOUS:
            raise KeyError(f"route name {name!r} is used by several paths; pass name= when adding routes")
        missing = [p for p in route.param_names if p not in params]
        if missing:
            raise KeyError(f"url_for({name!r}) needs {', '.join(missing)}")
        parts = []
        for seg in route.path.split("/"):
            if seg.startswith("{") and seg.endswith("}"):
                key = seg[1:-1]
                parts.append(quote(str(params.pop(key)), safe="/" if key == route.param_names[-1] and
                                   route.name == "static" else ""))
            else:
                parts.append(seg)
        path = "/".join(parts) or "/"
        if params:
            from urllib.parse import urlencode

            path += "?" + urlencode(params, doseq=True)
        return (self.root_path if request is None else request.root_path) + path

    def constant_headers(self) -> bytes:
        """``Server`` and the global headers, pre-encoded once (``Date`` is added by the server)."""
        out = b""
        if self.config.server_header:
            out += b"Server: " + self.config.server_header.encode("latin-1") + b"\r\n"
        for name, value in self.config.global_headers.items():
            out += canonical_name(name.lower()) + b": " + value.encode("latin-1") + b"\r\n"
        return out


def _as_logger(logger: Any) -> logging.Logger:
    if isinstance(logger, logging.Logger):
        return logger
    if isinstance(logger, DefaultLogger):
        return logger.logger
    if logger is None:
        return logging.getLogger("areion")  # its level and handlers: App.setup_logging()
    duck: logging.Logger = logger  # a duck-typed logger with info/error/exception
    return duck


