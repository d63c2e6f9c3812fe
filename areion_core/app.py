"""The application: routes, plugins and the compiled request pipeline, tied to the server.

``App.build()`` does all the work once: loads the selected plugins, collects and compiles
routes, composes middleware, wraps handlers and compiles the hot hooks into per-route call
chains. ``App.handle(request)`` is the one call the server makes per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httptools
import pluggy

from . import _send
from ._builtin import ErrorPages, StaticFilesPlugin
from ._params import build_binder
from ._wire import canonical_name
from .config import AreionConfig
from .exceptions import ConfigError, PluginError, RouteError
from .hookspecs import REPLAYED
from .log import DefaultLogger
from .pipeline import (
    PluginFailure,
    bounded,
    compile_chain,
    impls_in_call_order,
    route_interest,
    run_first,
    run_observers,
    run_replace,
)
from .plugins import (
    PluginInfo,
    discover,
    enable_tracing,
    hooks_implemented,
    load_entry_point,
    make_plugin_manager,
    plugin_name,
    select,
)
from .request import HttpRequest
from .response import HttpResponse, create_error_response, to_response
from .routing import Middleware, Route, Router, RouteTree, decode_segments

access_log = logging.getLogger("areion.access")
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
        engine: Any = None,
        orchestrator: Any = None,
    ) -> None:
        self.router = router
        self.config = config
        self.development = config.development
        self.static_dir = config.static_dir
        self.root_path = config.root_path
        self._direct_plugins = list(plugins)
        self.logger: logging.Logger = _as_logger(logger, config)
        self.template_engine = engine
        self.orchestrator = orchestrator
        self.state: dict[str, Any] = {}
        self.vary_normalizers: dict[str, Callable[[HttpRequest], str]] = {}
        self.routes: list[Route] = []
        self.plugin_infos: list[PluginInfo] = []
        self.worker_id = 0
        self.worker_count = config.workers
        self.pm: pluggy.PluginManager = make_plugin_manager()
        self._plugins_by_name: dict[str, Any] = {}
        self._tree = RouteTree()
        self._names: dict[str, Route] = {}
        self._global: dict[str, Any] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._access = config.access_log
        self._built = False
        self._started = False
        self._trace = False

    # --- building --------------------------------------------------------------------------
    def build(self) -> App:
        """Load plugins, compile routes and the pipeline. Safe to call once; returns self."""
        if self._built:
            return self
        cfg = self.config
        pm = self.pm
        trace = self._trace = os.environ.get("AREION_TRACE_PLUGINS", "") not in ("", "0")
        if trace:
            enable_tracing(pm, logging.getLogger("areion.plugins"))
        installed = discover()
        infos = select(cfg, installed)
        direct_names = {plugin_name(obj) for obj in self._direct_plugins}
        for info in infos:
            if info.enabled and info.name in direct_names:
                # An object given to with_plugins() replaces the installed plugin of that name.
                info.enabled, info.reason = False, "replaced by an object given to with_plugins()"
            if info.enabled:
                obj = load_entry_point(info.name, installed[info.name])
                pm.register(obj, name=info.name)
                self._plugins_by_name[info.name] = obj
                info.obj = obj
                info.hooks = hooks_implemented(pm, obj)
        self.plugin_infos.extend(infos)
        for obj in self._direct_plugins:
            self._register(obj, "with_plugins", "registered with with_plugins()")
        # Built-ins go last: among trylast implementations pluggy runs the earliest-registered
        # first, so a plugin's trylast `exception` still runs before the default error pages.
        self._register(ErrorPages(cfg.development), "built in", "always on")
        if cfg.static_dir:
            try:
                static = StaticFilesPlugin(cfg.static_dir, cfg.static_prefix)
            except FileNotFoundError as exc:
                raise ConfigError("static_dir", cfg.static_dir, "an existing directory") from exc
            self._register(static, "built in", "static_dir is set")
        known = set(self._plugins_by_name) | {i.name for i in infos}
        for section in cfg.sections:
            if section not in known:
                self.logger.warning("config has a [plugins.%s] section but no plugin %r is installed "
                                    "(installed: %s)", section, section, ", ".join(sorted(known)) or "none")

        self.call_each("configure", app=self, config=cfg)
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

        if self.template_engine is None:
            self.template_engine = pm.hook.template_engine(app=self)
        if self.orchestrator is None:
            self.orchestrator = pm.hook.orchestrator(app=self)
        for _, mapping in self.call_each("vary_normalizers", app=self):
            if mapping:
                self.vary_normalizers.update({k.lower(): v for k, v in mapping.items()})
        for route in routes:
            self.call_each("route_added", app=self, route=route)
        mws = tuple(global_mws) + tuple(plugin_mws)
        for route in routes:
            self._compile_route(route, mws, trace)
        for hook in ("request_received", "response_ready", "exception", "response_sent"):
            self._global[hook] = compile_chain(pm, hook, None, trace)
        self._built = True
        return self

    def _register(self, obj: Any, source: str, reason: str) -> None:
        name = plugin_name(obj)
        if name in self._plugins_by_name:
            raise PluginError(f"two plugins are named {name!r}; give one a different `name` attribute")
        self.pm.register(obj, name=name)
        self._plugins_by_name[name] = obj
        self.plugin_infos.append(PluginInfo(
            name, str(getattr(obj, "version", "")) or "-", type(obj).__module__.split(".")[0], source,
            True, reason, obj, hooks_implemented(self.pm, obj)))

    def call_each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a cold hook impl by impl, so a failure names the plugin that raised."""
        results = []
        for impl in impls_in_call_order(self.pm, hook):
            t0 = time.perf_counter()
            try:
                result = impl.function(*[kwargs[n] for n in impl.argnames])
            except ConfigError as exc:
                raise ConfigError(f"plugins.{impl.plugin_name}.{exc.key}" if not exc.key.startswith("plugins.")
                                  else exc.key, exc.value, exc.expected) from exc
            except (PluginError, RouteError):
                raise
            except Exception as exc:
                raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook}: {exc!r}") from exc
            self._traced(hook, impl.plugin_name, t0)
            results.append((impl.plugin_name, result))
        return results

    def _traced(self, hook: str, plugin: str, t0: float) -> None:
        if self._trace:
            trace_log.info("hook %s [%s] took %.1f µs", hook, plugin, (time.perf_counter() - t0) * 1e6)

    def _compile_route(self, route: Route, global_mws: tuple[Middleware, ...], trace: bool) -> None:
        binder = build_binder(route)
        inline = route.inline or self.config.sync_handlers == "inline"
        call, is_async = _compose(route.handler, global_mws + route.middlewares, self._run_sync, inline)
        endpoint = _make_endpoint(call, is_async, binder, route.param_names, self._run_sync if not inline else None)
        for impl in impls_in_call_order(self.pm, "wrap_handler"):
            t0 = time.perf_counter()
            try:
                wrapped = impl.function(*[{"app": self, "route": route, "handler": endpoint}[n] for n in impl.argnames])
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in wrap_handler for {route.path}: {exc!r}") from exc
            self._traced("wrap_handler", impl.plugin_name, t0)
            if wrapped is not None:
                if not inspect.iscoroutinefunction(wrapped) and not callable(wrapped):
                    raise PluginError(f"plugin {impl.plugin_name!r} returned a non-callable from wrap_handler")
                endpoint = wrapped
                route.wrapped_by.append(impl.plugin_name)
        route.endpoint = endpoint
        interest = route_interest(self.pm, self, route)
        route.request_chain = compile_chain(self.pm, "request_received", interest, trace)
        route.response_chain = compile_chain(self.pm, "response_ready", interest, trace)
        route.replay_chain = compile_chain(self.pm, "response_ready", interest, trace, replayed=True)
        route.exception_chain = compile_chain(self.pm, "exception", interest, trace)
        route.sent_chain = compile_chain(self.pm, "response_sent", interest, trace)
        route.replay_sent_chain = compile_chain(self.pm, "response_sent", interest, trace, replayed=True)

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
        for component in (self.template_engine, self.orchestrator):
            hook = getattr(component, "startup", None)
            if callable(hook):
                result = hook(self)
                if inspect.isawaitable(result):
                    await result
        for impl in impls_in_call_order(self.pm, "startup"):
            try:
                await self._call_lifecycle(impl, "startup")
            except Exception as exc:
                raise PluginError(f"plugin {impl.plugin_name!r} failed at startup: {exc!r}") from exc

    async def _call_lifecycle(self, impl: Any, hook: str) -> None:
        """Call one startup/shutdown implementation with the app, await it (within hook_timeout), trace it."""
        t0 = time.perf_counter()
        result = impl.function(*[{"app": self}[n] for n in impl.argnames])
        if inspect.isawaitable(result):
            await bounded(result, hook, self.config.hook_timeout)
        self._traced(hook, impl.plugin_name, t0)

    async def shutdown(self) -> None:
        """Run plugins' shutdown hooks in reverse order, then stop components; errors are logged."""
        if not self._started:
            return
        self._started = False
        # Reverse of startup order: pluggy calls last-registered first, so reverse that.
        for impl in reversed(impls_in_call_order(self.pm, "shutdown")):
            try:
                await self._call_lifecycle(impl, "shutdown")
            except Exception:
                self.logger.exception("plugin %r failed at shutdown", impl.plugin_name)
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

    # --- per request -------------------------------------------------------------------------
    def make_request(
        self, method: str, url: bytes, headers: list[tuple[bytes, bytes]], body: bytes, conn: Any,
        version: str,
    ) -> HttpRequest:
        """Build the request object for the server (the request-factory half of the interface)."""
        if 0x23 in url:  # "#" (an int needle: `b"#" in url` costs ten times as much)
            raise ValueError("a request target has no fragment")  # RFC 9112 §3.2
        path, _, query = url.partition(b"?")
        if path[:1] != b"/":
            if path == b"*" and method == "OPTIONS":
                pass
            elif path[:7].lower() == b"http://" or path[:8].lower() == b"https://":  # RFC 3986 §3.1
                parsed = httptools.parse_url(url)  # absolute-form (RFC 9112 §3.2.2)
                path = parsed.path or b"/"
                query = parsed.query or b""
            else:
                raise ValueError("invalid request target")
        request = HttpRequest(method, path.decode("latin-1"), query.decode("latin-1"), headers, body,
                              conn, self, version)
        request.conditional = getattr(conn, "conditional", True)
        return request

    def _resolve(self, request: HttpRequest) -> Route | HttpResponse:
        raw = request.raw_path
        tree = self._tree
        if "%" in raw:
            if "%00" in raw:  # a NUL cuts a path short in C APIs; no route needs one
                return create_error_response(400, "NUL in the path")
            try:
                segments = decode_segments(raw)
            except (ValueError, UnicodeDecodeError):
                return create_error_response(400, "malformed percent-encoding in the path")
            hit = tree.match_segments(segments)
            if hit is None and not any("/" in s for s in segments):
                found = tree.static.get("/".join(segments))
                hit = (found, []) if found is not None else None
        else:
            hit = tree.match(raw)
        if hit is None:
            if raw == "*":
                return HttpResponse(None, 204, headers={"allow": "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"})
            if len(raw) > 1 and raw.endswith("/"):
                stripped = raw.rstrip("/") or "/"
                if "%" not in stripped and tree.match(stripped) is not None:
                    location = self.root_path + stripped + (f"?{request.query_string}" if request.query_string else "")
                    return HttpResponse(None, 308, headers={"location": location})
            return create_error_response(404, "Not Found")
        methods, values = hit
        route = methods.get(request.method)
        if route is None:
            if request.method == "HEAD":
                route = methods.get("GET")
            if route is None:
                allow = set(methods) | {"OPTIONS"}
                if "GET" in allow:
                    allow.add("HEAD")
                headers = {"allow": ", ".join(sorted(allow))}
                if request.method == "OPTIONS":
                    return HttpResponse(None, 204, headers=headers)
                return create_error_response(405, "Method Not Allowed", headers)
        request.route = route
        request.path_params = values  # type: ignore[assignment]  # raw values until the binder converts them
        return route

    async def handle(self, request: HttpRequest) -> None:
        """Answer one request: route, hooks, handler, hooks, send. Never raises."""
        target = self._resolve(request)
        response: HttpResponse | None
        if target.__class__ is Route:
            route: Route | None = target
            try:
                response = None
                chain = route.request_chain  # type: ignore[union-attr]
                if chain is not None:
                    answer = run_first(chain, "request_received", request)
                    response = answer if answer is None or isinstance(answer, HttpResponse) else await answer
                if response is None:
                    response = await route.endpoint(request)  # type: ignore[union-attr, misc]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                response = await self._on_exception(request, exc, route.exception_chain)  # type: ignore[union-attr]
            extensions = response.extensions
            if extensions is not None and REPLAYED in extensions:
                chain = route.replay_chain  # type: ignore[union-attr]
                observers = route.replay_sent_chain  # type: ignore[union-attr]
            else:
                chain = route.response_chain  # type: ignore[union-attr]
                observers = route.sent_chain  # type: ignore[union-attr]
        else:
            route = None
            response = target  # type: ignore[assignment]
            chain = self._global["response_ready"]
            observers = self._global["response_sent"]
        assert response is not None
        if chain is not None:
            try:
                replaced = run_replace(chain, request, response)
                response = replaced if isinstance(replaced, HttpResponse) else await replaced
            except PluginFailure as exc:
                response = await self._on_exception(request, exc, None)
        try:
            if response.__class__ is HttpResponse:
                try:
                    sent = _send.send_buffered(request, response)
                except Exception as exc:
                    # Framing failed before a byte was written (a status out of range set
                    # directly, a raw cookie line with CR/LF): the client still gets a 500.
                    self.logger.error("could not frame the response for %s %s", request.method,
                                      request.raw_path, exc_info=exc)
                    sent = _send.send_buffered(request, create_error_response(500, "Internal Server Error"))
            else:
                try:
                    sent = await _send.send(request, response)
                except _send.BodyNotStarted as exc:
                    cause = exc.__cause__ or exc
                    response = await self._on_exception(request, cause, route.exception_chain if route else None)
                    sent = await _send.send(request, response)
        except Exception as exc:
            self.logger.error("failed to send the response for %s %s", request.method, request.raw_path, exc_info=exc)
            request.conn.keep_alive = False
            return
        if observers is not None:
            pending = run_observers(observers, request, sent)
            if pending is not None:
                await pending
        if self._access:
            access_log.info('%s - "%s %s HTTP/%s" %d', _client(request), request.method, request.raw_path,
                            request.http_version, sent.status_code)

    async def _on_exception(self, request: HttpRequest, exc: BaseException, chain: Any) -> HttpResponse:
        chain = chain if chain is not None else self._global["exception"]
        try:
            answer = run_first(chain, "exception", request, exc)
            response = answer if answer is None or isinstance(answer, HttpResponse) else await answer
        except PluginFailure as failure:
            self.logger.error("plugin %r failed in the exception hook", failure.plugin, exc_info=failure.original)
            response = None
        if response is None:
            self.logger.error("unhandled exception", exc_info=exc)
            response = create_error_response(500, "Internal Server Error")
        return response

    # --- helpers for plugins and handlers ------------------------------------------------------
    def get_plugin(self, name: str) -> Any:
        """The loaded plugin object called ``name``, or None."""
        return self._plugins_by_name.get(name)

    def url_for(self, name: str, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in (percent-encoded)."""
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
        return self.root_path + path

    def constant_headers(self) -> bytes:
        """``Server`` and the global headers, pre-encoded once (``Date`` is added by the server)."""
        out = b""
        if self.config.server_header:
            out += b"Server: " + self.config.server_header.encode("latin-1") + b"\r\n"
        for name, value in self.config.global_headers.items():
            out += canonical_name(name.lower()) + b": " + value.encode("latin-1") + b"\r\n"
        return out


def _client(request: HttpRequest) -> str:
    client = request.client
    return f"{client[0]}:{client[1]}" if client else "-"


def _as_logger(logger: Any, config: AreionConfig) -> logging.Logger:
    if isinstance(logger, logging.Logger):
        return logger
    if isinstance(logger, DefaultLogger):
        return logger.logger
    if logger is None:
        return DefaultLogger(log_file=config.log_file, log_level=config.log_level).logger
    duck: logging.Logger = logger  # a duck-typed logger with info/error/exception
    return duck


def _takes_no_args(func: Callable[..., Any]) -> bool:
    try:
        return not inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _async_adapter(sync_inner: Callable[..., Any], run_sync: Callable[..., Any], inline: bool) -> Callable[..., Any]:
    """An awaitable stand-in for a sync handler, for async middleware to ``await``."""
    if inline:
        async def adapter(*args: Any, **kwargs: Any) -> Any:
            return sync_inner(*args, **kwargs)
    else:
        async def adapter(*args: Any, **kwargs: Any) -> Any:
            return await run_sync(sync_inner, *args, **kwargs)
    return adapter


def _compose(
    handler: Callable[..., Any], middlewares: Sequence[Middleware],
    run_sync: Callable[..., Any], inline: bool,
) -> tuple[Callable[..., Any], bool]:
    """Wrap ``handler`` in seed-style middleware (outermost first in ``middlewares``).

    Returns the composed callable and whether it may return an awaitable. An async
    middleware around a sync handler gets an async adapter (thread pool unless inline), so
    ``await handler(...)`` works in either combination.
    """
    if _takes_no_args(handler):
        inner = handler
        if inspect.iscoroutinefunction(inner):
            async def no_args_async(request: Any, **kw: Any) -> Any:
                return await inner()
            handler = no_args_async
        else:
            def no_args(request: Any, **kw: Any) -> Any:
                return inner()
            handler = no_args
    current = handler
    is_async = inspect.iscoroutinefunction(handler)
    for mw in reversed(middlewares):
        wrapped = mw(current)
        if inspect.iscoroutinefunction(wrapped) and not is_async:
            wrapped = mw(_async_adapter(current, run_sync, inline))
        if not callable(wrapped):
            raise RouteError(f"middleware {mw!r} did not return a callable")
        is_async = is_async or inspect.iscoroutinefunction(wrapped)
        current = wrapped
    return current, is_async


async def _settle(result: Any) -> HttpResponse:
    """A handler's return value as a response, awaiting what a middleware may have left awaitable."""
    while inspect.isawaitable(result):
        result = await result
    return to_response(result)


def _make_endpoint(
    call: Callable[..., Any], is_async: bool, binder: Any, param_names: tuple[str, ...],
    run_sync: Callable[..., Any] | None,
) -> Callable[[HttpRequest], Any]:
    """The innermost async handler: bind parameters, call, convert the return value.

    Specialised at startup: a plain ``async def`` chain is awaited directly (the common case,
    and the fast path measured in bench/), anything else goes through the general version.
    """
    convert = to_response

    if inspect.iscoroutinefunction(call):
        if binder is None:
            async def direct(request: HttpRequest) -> HttpResponse:
                result = await call(request)
                cls = result.__class__
                if cls is HttpResponse:
                    return result  # type: ignore[no-any-return]
                if cls is dict or cls is str or cls is list:
                    return convert(result)
                return await _settle(result)
            return direct

        async def direct_params(request: HttpRequest) -> HttpResponse:
            kwargs = binder(request, request.path_params)
            request.path_params = {n: kwargs[n] for n in param_names}
            result = await call(request, **kwargs)
            cls = result.__class__
            if cls is HttpResponse:
                return result  # type: ignore[no-any-return]
            if cls is dict or cls is str or cls is list:
                return convert(result)
            return await _settle(result)
        return direct_params

    if is_async or run_sync is None:
        async def general(request: HttpRequest) -> HttpResponse:
            if binder is None:
                result = call(request)
            else:
                kwargs = binder(request, request.path_params)
                request.path_params = {n: kwargs[n] for n in param_names}
                result = call(request, **kwargs)
            return await _settle(result)
        return general

    async def pooled(request: HttpRequest) -> HttpResponse:
        if binder is None:
            result = await run_sync(call, request)
        else:
            kwargs = binder(request, request.path_params)
            request.path_params = {n: kwargs[n] for n in param_names}
            result = await run_sync(call, request, **kwargs)
        return await _settle(result)  # a sync middleware around an async handler returns an awaitable
    return pooled
