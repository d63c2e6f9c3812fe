"""Routes, routers, groups and the segment tree that matches paths.

Paths are written ``/users/:id`` or ``/users/{id}``. Matching walks one tree node per path
segment, so its cost grows with the path's length, not with the number of routes. Static
segments win over parameters, and a failed static branch falls back to the parameter branch
(``/users/me/settings`` and ``/users/:id`` are both reachable). Each route keeps its own
parameter names, so ``/a/:id`` and ``/a/:slug/edit`` can share a tree position.

Trailing slashes: a route is registered without one (except ``/``). A request whose path
differs from a route only by a trailing slash is redirected with 308 to the route's path,
keeping the query string; any other path is matched exactly.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .exceptions import RouteError
from .timeouts import check_timeout

Middleware = Callable[[Callable[..., Any]], Callable[..., Any]]
_OPTIONS_ATTR = "__areion_route_options__"
#: The route option that makes a route a WebSocket route (set by ``Router.websocket``).
WEBSOCKET_OPTION = "websocket"
DEFAULT_METHODS = ("GET",)


def set_route_option(func: Callable[..., Any], key: str, value: Any) -> Callable[..., Any]:
    """Attach a per-route option to a handler (for plugin decorators); returns ``func``.

    Works whether the decorator sits above or below ``@router.route``: options are read
    when the app is built.
    """
    target = _options_holder(func)
    options = target.__dict__.get(_OPTIONS_ATTR)
    if options is None:
        options = {}
        setattr(target, _OPTIONS_ATTR, options)
    options[key] = value
    return func


def check_status_code(value: Any, where: str) -> int | None:
    """A route's ``status_code=``: None, or an int from 200 to 599 (a ``RouteError`` otherwise)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 200 <= value <= 599:
        raise RouteError(f"{where}: status_code must be an int from 200 to 599, got {value!r}")
    return value


def check_max_body_bytes(value: Any, where: str) -> int | None:
    """A route's ``max_body_bytes=``: None, or a positive int (a ``RouteError`` otherwise)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RouteError(f"{where}: max_body_bytes must be a positive int (bytes), got {value!r}")
    return value


#: Attribute names a handler that reads its body as it arrives uses (``request.stream()``,
#: ``await request.form()``).
_STREAMING_NAMES = frozenset({"stream", "form"})


def reads_body_as_stream(handler: Callable[..., Any]) -> bool:
    """Whether ``handler``'s code reads the request body with ``stream()`` or ``form()``.

    Read from the names its code object (and the functions nested in it) uses, once, when the
    app is built: such a route is handed its request before the body has arrived. A route
    says so itself with ``stream_body=True`` (or ``False``) when this guess is wrong.
    """
    code = getattr(inspect.unwrap(handler), "__code__", None)
    pending = [code] if code is not None else []
    while pending:
        current = pending.pop()
        if _STREAMING_NAMES.intersection(current.co_names):
            return True
        pending.extend(c for c in current.co_consts if inspect.iscode(c))
    return False


def route_options(func: Callable[..., Any]) -> dict[str, Any]:
    """The options plugin decorators attached to ``func`` (empty if none)."""
    return dict(getattr(_options_holder(func), _OPTIONS_ATTR, {}) or {})


def _options_holder(func: Callable[..., Any]) -> Any:
    """The function that carries route options: the innermost one under functools.wraps layers."""
    return inspect.unwrap(func) if hasattr(func, "__wrapped__") else func


def _declaring_locals(handler: Callable[..., Any]) -> dict[str, Any] | None:
    """The locals of the code that declared a route, when the handler has string annotations.

    ``from __future__ import annotations`` turns ``user: NewUser`` into the string
    ``"NewUser"``; when ``NewUser`` is a class local to a function, only that function's
    frame can resolve it, so take a snapshot while we are inside it.
    """
    annotations = getattr(handler, "__annotations__", None)
    if not annotations or not any(isinstance(a, str) for a in annotations.values()):
        return None
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or frame.f_code.co_name == "<module>":
        return None  # module-level names are in the handler's globals already
    return dict(frame.f_locals)


def _split(path: str) -> list[str]:
    if not path.startswith("/"):
        raise RouteError(f"route path must start with '/': {path!r}")
    return [s for s in path.split("/") if s != ""]


def _is_rest(segment: str) -> bool:
    """``*path`` or ``{path:path}``: the rest of the URL, slashes included (last segment only)."""
    return segment.startswith("*") or (segment.startswith("{") and segment.endswith(":path}"))


def _segment_param(segment: str) -> str | None:
    if segment.startswith(":") or segment.startswith("*"):
        name = segment[1:]
    elif segment.startswith("{") and segment.endswith("}"):
        name = segment[1:-1]
        name = name.removesuffix(":path")
    else:
        return None
    if not name.isidentifier():
        raise RouteError(f"invalid parameter name {name!r} in route segment {segment!r}")
    return name


def normalise_path(path: str) -> str:
    """``/users/:id/`` → ``/users/{id}`` (the form routes are listed and documented in)."""
    parts = []
    for seg in _split(path):
        name = _segment_param(seg)
        parts.append("{" + name + "}" if name else seg)
    return "/" + "/".join(parts)


@dataclass
class RouteSpec:
    """A route as declared on a router, before the app compiles it."""

    path: str
    handler: Callable[..., Any]
    methods: tuple[str, ...]
    middlewares: tuple[Middleware, ...] = ()
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    #: Locals where the route was declared, to resolve string annotations of local classes.
    localns: dict[str, Any] | None = None


class Route:
    """A compiled route: what plugins see in ``route_added`` and on ``request.route``."""

    __slots__ = (
        "access_log",
        "catch_all",
        "endpoint",
        "exception_chain",
        "handler",
        "include_in_schema",
        "inline",
        "kind",
        "localns",
        "max_body_bytes",
        "methods",
        "middlewares",
        "name",
        "options",
        "param_names",
        "param_types",
        "path",
        "query_params",
        "ready_floor",
        "ready_link",
        "received_link",
        "replay_chain",
        "replay_link",
        "replay_sent_chain",
        "request_chain",
        "response_chain",
        "sent_chain",
        "status_code",
        "streams_body",
        "tags",
        "timeout",
        "wrapped_by",
    )

    def __init__(self, spec: RouteSpec) -> None:
        self.path = normalise_path(spec.path)
        self.methods = frozenset(spec.methods)
        self.handler = spec.handler
        self.name: str = spec.name or str(getattr(spec.handler, "__name__", "route"))
        opts = route_options(spec.handler)
        opts.update(spec.options)
        self.options: dict[str, Any] = opts
        segments = _split(spec.path)
        self.param_names = tuple(n for s in segments if (n := _segment_param(s)))
        #: The last parameter takes the rest of the path, slashes included.
        self.catch_all = bool(segments) and _is_rest(segments[-1])
        self.param_types: dict[str, Any] = {}
        self.tags = spec.tags
        self.include_in_schema = bool(opts.get("include_in_schema", True))
        self.middlewares = spec.middlewares
        self.localns = spec.localns
        self.inline = bool(opts.get("inline", False))
        #: False: the access log leaves this route's requests out (``access_log=False``: health probes).
        self.access_log = opts.get("access_log", True) is not False
        #: "http", or "websocket" for a ``Router.websocket`` route (GET + Upgrade; websocket.py).
        self.kind: str = "websocket" if opts.get(WEBSOCKET_OPTION) else "http"
        #: Seconds the handler may take (``timeout=``; None: none). The app replaces it with the
        #: timeout the route really gets (its own, else ``limits.request_timeout``) when it builds.
        self.timeout: float | None = check_timeout(opts.get("timeout"), f"route {self.name} ({self.path})")
        #: The status of a value the handler returns (``status_code=``; None: 200, or 204 for None).
        self.status_code: int | None = check_status_code(opts.get("status_code"),
                                                         f"route {self.name} ({self.path})")
        #: The most bytes a request body may have on this route (``max_body_bytes=``; None: the
        #: server's ``limits.max_body_bytes``).
        self.max_body_bytes: int | None = check_max_body_bytes(opts.get("max_body_bytes"),
                                                               f"route {self.name} ({self.path})")
        #: Whether the handler gets the request before its body (``stream_body=``, else guessed
        #: from the handler's code: it calls ``request.stream()`` or ``request.form()``).
        stream_body = opts.get("stream_body")
        self.streams_body = reads_body_as_stream(self.handler) if stream_body is None else bool(stream_body)
        # Filled in by the app when it compiles the pipeline.
        self.endpoint: Callable[[Any], Awaitable[Any]] = _not_compiled
        self.request_chain: Any = None
        self.response_chain: Any = None
        #: A plain response with a shorter body skips ``response_chain``: every plugin in it
        #: leaves such a body alone (``skip_small_bodies``). 0: the chain runs for every response.
        self.ready_floor = 0
        #: The response_ready and response_sent chains without ``skip_replayed`` impls, for
        #: replayed responses (cache hits).
        self.replay_chain: Any = None
        self.replay_sent_chain: Any = None
        self.exception_chain: Any = None
        self.sent_chain: Any = None
        #: The request_received, response_ready and replayed response_ready chains' link when
        #: it is their one (``hook_chains.sole_link``): the dispatcher calls it.
        self.received_link: Any = None
        self.ready_link: Any = None
        self.replay_link: Any = None
        self.wrapped_by: list[str] = []
        self.query_params: Any = None

    def __repr__(self) -> str:
        return f"<Route {'|'.join(sorted(self.methods))} {self.path} -> {self.name}>"


async def _not_compiled(request: Any) -> Any:
    raise RuntimeError("this route has not been compiled: build the app first")


class _Node:
    __slots__ = ("leaf", "param", "static", "wildcard")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.param: _Node | None = None
        # method -> route; each route keeps its own parameter names.
        self.leaf: dict[str, Route] | None = None
        self.wildcard: dict[str, Route] | None = None


class RouteTree:
    """The compiled matcher: exact paths in a dict, the rest in a segment tree."""

    def __init__(self) -> None:
        self.static: dict[str, dict[str, Route]] = {}
        self.root = _Node()

    def add(self, route: Route) -> None:
        for method in sorted(route.methods):
            self._add(route, method)

    def _add(self, route: Route, method: str) -> None:
        segments = _split(route.path)
        if not any(_segment_param(s) for s in segments):
            methods = self.static.setdefault(route.path, {})
            if method in methods:
                raise RouteError(f"duplicate route {method} {route.path}: "
                                 f"{methods[method].name} and {route.name}")
            methods[method] = route
            return
        node = self.root
        if route.catch_all:
            for seg in segments[:-1]:
                node = _child(node, seg)
            if node.wildcard is None:
                node.wildcard = {}
            if method in node.wildcard:
                raise RouteError(f"duplicate route {method} {route.path}: "
                                 f"{node.wildcard[method].name} and {route.name}")
            node.wildcard[method] = route
            return
        for seg in segments:
            node = _child(node, seg)
        if node.leaf is None:
            node.leaf = {}
        if method in node.leaf:
            raise RouteError(f"duplicate route {method} {route.path}: "
                             f"{node.leaf[method].name} and {route.name}")
        node.leaf[method] = route

    def match(self, path: str) -> tuple[dict[str, Route], list[str]] | None:
        """Methods → route for a path without percent-escapes, and its parameter values."""
        found = self.static.get(path)
        if found is not None:
            return found, []
        return self.match_segments(path.split("/"))

    def match_segments(self, segments: list[str]) -> tuple[dict[str, Route], list[str]] | None:
        """Match already-decoded segments (``"/a/b"`` → ``["", "a", "b"]``).

        A trailing slash or ``//`` gives empty segments, which never match.
        """
        # Follow the one possible branch while there is only one; fall back to the
        # backtracking walk at the first node where a static child and a parameter compete.
        node = self.root
        values: list[str] = []
        for i in range(1, len(segments)):
            seg = segments[i]
            if not seg:
                return None
            child = node.static.get(seg)
            if child is not None:
                if node.param is None and node.wildcard is None:
                    node = child
                    continue
                break
            if node.param is not None:
                if node.wildcard is not None:
                    break
                values.append(seg)
                node = node.param
                continue
            if node.wildcard is not None:
                values.append("/".join(segments[i:]))
                return node.wildcard, values
            return None
        else:
            return (node.leaf, values) if node.leaf is not None else None
        values = []
        result = _walk(self.root, segments, 1, values)
        if result is None:
            return None
        return result, values

    def all_methods(self, path: str) -> dict[str, Route] | None:
        hit = self.match(path)
        return hit[0] if hit else None


def _child(node: _Node, seg: str) -> _Node:
    if _segment_param(seg):
        if node.param is None:
            node.param = _Node()
        return node.param
    return node.static.setdefault(seg, _Node())


def _walk(node: _Node, segments: list[str], i: int, values: list[str]) -> dict[str, Route] | None:
    if i == len(segments):
        return node.leaf
    seg = segments[i]
    if seg == "":
        return None
    child = node.static.get(seg)
    if child is not None:
        found = _walk(child, segments, i + 1, values)
        if found is not None:
            return found
    if node.param is not None:
        values.append(seg)
        found = _walk(node.param, segments, i + 1, values)
        if found is not None:
            return found
        values.pop()
    if node.wildcard is not None:
        values.append("/".join(segments[i:]))
        return node.wildcard
    return None


def decode_segments(raw_path: str) -> list[str]:
    """Split a raw path on ``/`` and percent-decode each segment (``%2F`` stays inside its segment).

    Malformed escapes or bytes that are not UTF-8 raise ``ValueError``.
    """
    segments = raw_path.split("/")
    for i, seg in enumerate(segments):
        if "%" in seg:
            for j in range(len(seg)):
                if seg[j] == "%" and not _is_hex2(seg[j + 1:j + 3]):
                    raise ValueError(f"malformed percent-escape in path segment {seg!r}")
            segments[i] = unquote(seg, errors="strict")
    return segments


def _is_hex2(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


class Router:
    """Collects routes. ``Router(prefix="/api")``; ``group()`` and ``include_router()`` nest them."""

    def __init__(self, prefix: str = "", middlewares: Sequence[Middleware] = (), tags: Sequence[str] = ()) -> None:
        if prefix and (not prefix.startswith("/") or prefix == "/"):
            if prefix == "/":
                prefix = ""
            else:
                raise RouteError(f"router prefix must start with '/': {prefix!r}")
        self.prefix = prefix.rstrip("/")
        self.middlewares: list[Middleware] = list(middlewares)
        self.global_middlewares: list[Middleware] = []
        self.tags = tuple(tags)
        self._routes: list[RouteSpec] = []
        self._children: list[Router] = []

    # --- declaring routes ----------------------------------------------------------------
    def add_route(
        self,
        path: str,
        handler: Callable[..., Any],
        methods: Iterable[str] | None = None,
        middlewares: Sequence[Middleware] | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        """Register ``handler`` for ``path`` (the 1.x API; ``methods`` defaults to GET).

        ``options`` are per-route options: ``inline=True`` (a plain ``def`` runs on the event
        loop), ``timeout=`` (seconds the handler may take before it is cancelled and the client
        gets a 503; None: no timeout even when ``limits.request_timeout`` is set),
        ``max_body_bytes=`` (the largest request body this route accepts, instead of
        ``limits.max_body_bytes``: a larger one is a 413), ``stream_body=`` (True: the handler
        gets the request before its body arrives and reads it with ``request.stream()`` /
        ``request.form()``; guessed from the handler's code when not given),
        ``status_code=`` (200-599: the status of a value the handler returns instead of 200 or
        a None return's 204; an ``HttpResponse`` it returns keeps its own), and whatever
        plugins read (``include_in_schema``, ...).
        """
        if not callable(handler):
            raise RouteError(f"handler for {path!r} is not callable: {handler!r}")
        if isinstance(methods, str):
            methods = [methods]
        meths = tuple(m.upper() for m in (methods or DEFAULT_METHODS))
        for m in meths:
            if not m.isalpha():
                raise RouteError(f"invalid HTTP method {m!r} for {path!r}")
        segments = _split(path)  # validates the leading slash
        if "timeout" in options:
            check_timeout(options["timeout"], f"route {path!r}")
        if "status_code" in options:
            check_status_code(options["status_code"], f"route {path!r}")
        if "max_body_bytes" in options:
            check_max_body_bytes(options["max_body_bytes"], f"route {path!r}")
        for i, seg in enumerate(segments):
            _segment_param(seg)
            if _is_rest(seg) and i != len(segments) - 1:
                raise RouteError(f"a catch-all segment must be the last one: {path!r}")
        self._routes.append(RouteSpec(path, handler, meths, tuple(middlewares or ()), name, dict(options),
                                      localns=_declaring_locals(handler)))

    def route(
        self,
        path: str,
        methods: Iterable[str] | None = None,
        middlewares: Sequence[Middleware] | None = None,
        name: str | None = None,
        **options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of ``add_route``."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_route(path, func, methods, middlewares, name, **options)
            return func

        return decorator

    def get(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["GET"], **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["POST"], **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["PUT"], **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["PATCH"], **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["DELETE"], **kw)

    def websocket(
        self, path: str, middlewares: Sequence[Middleware] | None = None, name: str | None = None, **options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: a WebSocket route, ``async def handler(ws, **path_params)``.

        A GET route whose handler receives an ``areion_core.WebSocket`` once the client asked
        to upgrade (a plain GET gets 426). The protocol comes from a plugin (areion-realtime);
        middleware wraps the handshake like any request. No default timeout applies.
        """

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            if not inspect.iscoroutinefunction(inspect.unwrap(func)):
                raise RouteError(f"WebSocket handler for {path!r} must be an async def")
            # OpenAPI describes HTTP operations only: a WebSocket route stays out of the schema.
            options.setdefault("include_in_schema", False)
            self.add_route(path, func, ["GET"], middlewares, name, **{WEBSOCKET_OPTION: True, **options})
            return func

        return decorator

    def group(
        self, base_path: str, middlewares: Sequence[Middleware] | None = None, tags: Sequence[str] | None = None,
    ) -> Router:
        """A sub-router under ``base_path`` whose middlewares apply to every route in it."""
        tag = base_path.strip("/").split("/")[-1] if base_path.strip("/") else ""
        child = Router(base_path, middlewares or (), tags if tags is not None else ((tag,) if tag else ()))
        self._children.append(child)
        return child

    def include_router(self, router: Router, prefix: str = "") -> None:
        """Mount another router's routes (with its prefix, middlewares and groups) in this one."""
        if router is self:
            raise RouteError("a router cannot include itself")
        if prefix:
            wrapper = Router(prefix)
            wrapper._children.append(router)
            router = wrapper
        self._children.append(router)

    def add_global_middleware(self, middleware: Middleware) -> None:
        """A middleware applied to every route of the app (outermost)."""
        self.global_middlewares.append(middleware)

    # --- flattening ----------------------------------------------------------------------
    def collect(self) -> tuple[list[RouteSpec], list[Middleware]]:
        """Every route with its full path and middlewares (outer groups first), and global middlewares."""
        specs: list[RouteSpec] = []
        global_mws: list[Middleware] = []
        self._collect("", (), (), specs, global_mws)
        return specs, global_mws

    def _collect(
        self, base: str, mws: tuple[Middleware, ...], tags: tuple[str, ...],
        out: list[RouteSpec], global_mws: list[Middleware],
    ) -> None:
        base = base + self.prefix
        mws = mws + tuple(self.middlewares)
        tags = tags + tuple(t for t in self.tags if t not in tags)
        global_mws.extend(self.global_middlewares)
        for spec in self._routes:
            full = base + ("" if spec.path == "/" and base else spec.path)
            out.append(RouteSpec(full or "/", spec.handler, spec.methods, mws + spec.middlewares,
                                 spec.name, spec.options, tags, spec.localns))
        for child in self._children:
            child._collect(base, mws, tags, out, global_mws)

    # --- 1.x compatibility: introspection ----------------------------------------------------------------
    def _tree(self) -> RouteTree:
        tree = RouteTree()
        for spec in self.collect()[0]:
            tree.add(Route(spec))
        return tree

    def get_handler(self, method: str, path: str) -> Callable[..., Any] | None:
        hit = self._tree().match(path if path == "/" else path.rstrip("/"))
        if hit is None:
            return None
        route = hit[0].get(method.upper())
        return route.handler if route else None

    def get_allowed_methods(self, path: str) -> list[str]:
        hit = self._tree().match(path if path == "/" else path.rstrip("/"))
        return sorted(hit[0]) if hit else []


DefaultRouter = Router
