"""The request object handed to every handler, middleware and hot hook."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import orjson

from ._forwarded import PROXY_HEADERS, RequestOrigin, TrustedProxies, has_proxy_headers, resolve_origin
from .exceptions import BadRequestError
from .forms import FormData, parse_urlencoded
from .headers import Headers
from .request_body import EMPTY_BODY, Body, BodyReading, BodySource, PendingBody

if TYPE_CHECKING:
    from .response import HttpResponse
    from .routing import Route
    from .types import Connection, PluginApp


class QueryParams(Mapping[str, str]):
    """Query parameters: ``params["k"]`` is the first value, ``get_all("k")`` every value."""

    __slots__ = ("_first", "_pairs")

    def __init__(self, query_string: str | list[tuple[str, str]] = "") -> None:
        if isinstance(query_string, str):
            try:
                pairs = parse_qsl(query_string, keep_blank_values=True, errors="strict")
            except (UnicodeDecodeError, ValueError):
                # Not the decoder's message: it names Python's codec machinery, not the request.
                raise BadRequestError("malformed query string (not percent-encoded UTF-8)") from None
        else:
            pairs = query_string
        self._pairs: list[tuple[str, str]] = pairs
        first: dict[str, str] = {}
        for k, v in pairs:
            first.setdefault(k, v)
        self._first = first

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` in the order given (``?tag=a&tag=b`` → ``["a", "b"]``)."""
        return [v for k, v in self._pairs if k == key]

    getlist = get_all

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"QueryParams({self._pairs!r})"


_perf_counter_ns = time.perf_counter_ns


class HttpRequest(BodyReading):
    """An HTTP request as handlers see it.

    Attributes: ``method``, ``path`` (percent-decoded), ``raw_path``, ``query_string``,
    ``headers`` (case-insensitive, multi-valued), ``query_params``, ``body`` (bytes; also
    ``await request.body()``), ``metadata``, ``cookies``, ``client``, ``scheme``, ``host``,
    ``root_path``, ``url``, ``route`` and ``received_ns``. Behind a proxy that ``forwarded_allow_ips`` trusts,
    ``client``, ``scheme``, ``host`` and ``root_path`` are what its proxy headers report.
    """

    __slots__ = (
        "_cookies",
        "_headers",
        "_metadata",
        "_origin",
        "_parsed_body",
        "_path",
        "_query",
        "app",
        "conditional",
        "conn",
        "http_version",
        "method",
        "path_params",
        "query_string",
        "raw_headers",
        "raw_path",
        "received_ns",
        "request_id",
        "route",
        "state",
    )
    #: Worked out on first use by _forwarded() (only with forwarded_allow_ips); None until then.
    _origin: RequestOrigin | None

    def __init__(
        self,
        method: str,
        raw_path: str,
        query_string: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | BodySource = b"",
        conn: Connection | None = None,
        app: PluginApp | None = None,
        http_version: str = "1.1",
    ) -> None:
        #: ``time.perf_counter_ns()`` when the request was read: durations start here (the
        #: access log's, a plugin's Server-Timing), one clock read for all of them.
        self.received_ns = _perf_counter_ns()
        self.method = method
        self.raw_path = raw_path
        self.query_string = query_string
        #: The header pairs as received (names in their original case); do not modify. A plain
        #: attribute, not a property: plugins scan it on hot paths (cache keys, CORS origins).
        self.raw_headers = headers
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        #: A streamed body's source while the body has not been read (see request_body.py).
        self._source: Any = None
        self._form: FormData | None = None
        if not body:
            self.body: Body = EMPTY_BODY
        elif isinstance(body, bytes):
            self.body = Body(body)
        else:
            self._source = body
            self.body = PendingBody(self)
        self._metadata: dict[str, Any] | None = None
        self._cookies: dict[str, str] | None = None
        #: The connection the response is written through. None only for a request made by
        #: hand (tests, background work), which is never answered on the wire.
        self.conn: Connection = conn  # type: ignore[assignment]
        self.app = app
        self.route: Route | None = None
        self.path_params: dict[str, Any] = {}
        self.http_version = http_version
        self._parsed_body: Any = _UNSET
        self._path: str | None = None
        #: Per-request scratch space for plugins and middleware.
        self.state: dict[str, Any] | None = None
        #: False only when the server saw no If-None-Match / If-Modified-Since header.
        self.conditional = True
        #: The request's id, set by a plugin that gives requests one (areion-request-id); the
        #: access log writes it.
        self.request_id: str | None = None
        self._origin: RequestOrigin | None = None

    # --- lazily parsed views ---------------------------------------------------------
    @property
    def path(self) -> str:
        path = self._path
        if path is None:
            raw = self.raw_path
            path = unquote(raw, errors="strict") if "%" in raw else raw
            self._path = path
        return path

    @property
    def headers(self) -> Headers:
        h = self._headers
        if h is None:
            h = self._headers = Headers(self.raw_headers)
        return h

    @property
    def query_params(self) -> QueryParams:
        q = self._query
        if q is None:
            q = self._query = QueryParams(self.query_string)
        return q

    @property
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies from every ``Cookie`` header (``name=value`` pairs; the first of a name wins)."""
        if self._cookies is None:
            jar: dict[str, str] = {}
            for line in self.headers.get_all("cookie"):
                for part in line.split(";"):
                    name, sep, value = part.strip().partition("=")
                    if sep and name and name not in jar:
                        value = value.strip()
                        if len(value) >= 2 and value[0] == value[-1] == '"':
                            value = value[1:-1]
                        jar[name] = value
            self._cookies = jar
        return self._cookies

    # client, scheme, host and root_path are the connection's, unless the peer is a proxy that
    # forwarded_allow_ips trusts: then its proxy headers say (_forwarded.py), read on first use.
    @property
    def client(self) -> tuple[str, int] | None:
        """The client's (host, port): the peer's, or the one a trusted proxy names; None off a socket."""
        app = self.app
        conn = self.conn
        if app is not None and (trusted := app.config.forwarded_allow_ips) is not None:
            peer = conn.client if conn is not None else None
            # The access log asks every request behind a proxy: when the peer is not trusted, or
            # sent no proxy header, the answer is the peer, with no origin worked out (and no
            # AttributeError raised for the unset _origin: formatting its message costs more).
            if not trusted.trusts(peer[0] if peer is not None else None) or not has_proxy_headers(self.raw_headers):
                return peer
            return self._forwarded(trusted).client
        return conn.client if conn is not None else None

    @property
    def scheme(self) -> str:
        """``"https"`` or ``"http"``: the connection's, or the one a trusted proxy reports."""
        app = self.app
        if app is not None and (trusted := app.config.forwarded_allow_ips) is not None:
            return self._forwarded(trusted).scheme
        conn = self.conn  # _own_scheme(), inline: asked on every response with HSTS configured
        return "https" if conn is not None and getattr(conn, "tls", False) else "http"

    @property
    def host(self) -> str:
        """The host (and port) the client asked for: ``Host``, or the one a trusted proxy reports."""
        app = self.app
        if app is not None and (trusted := app.config.forwarded_allow_ips) is not None:
            return self._forwarded(trusted).host
        return self._raw_host()

    @property
    def root_path(self) -> str:
        """The path the app is mounted under: ``root_path`` (or the ASGI server's), or a trusted
        proxy's ``X-Forwarded-Prefix``. ``app.url_for(name, request=request)`` starts with it."""
        app = self.app
        if app is None:
            return ""
        trusted = app.config.forwarded_allow_ips
        return app.root_path if trusted is None else self._forwarded(trusted).root_path

    @property
    def url(self) -> str:
        """The URL the client asked for: scheme, host, root path, path and query."""
        qs = f"?{self.query_string}" if self.query_string else ""
        return f"{self.scheme}://{self.host}{self.root_path}{self.raw_path}{qs}"

    def _own_scheme(self) -> str:
        return "https" if self.conn is not None and getattr(self.conn, "tls", False) else "http"

    def _raw_host(self) -> str:
        """The first ``Host`` of the raw pairs (what ``headers.get("host")`` gives), without
        building the header index: the host is asked on most requests (trusted hosts, cache
        keys, URLs), often as the only header."""
        for name, value in self.raw_headers:
            if len(name) == 4 and name.lower() == b"host":
                return value.decode("latin-1")
        return ""

    def _forwarded(self, trusted: TrustedProxies) -> RequestOrigin:
        # Worked out on first use (None until then): a request that never asks pays nothing.
        found = self._origin
        if found is not None:
            return found
        conn = self.conn
        app = self.app
        peer = conn.client if conn is not None else None
        root_path = app.root_path if app is not None else ""
        raw = self.raw_headers
        # One pass over the raw pairs: the first Host, and whether any proxy header came.
        host: bytes | None = None
        proxied = False
        for name, value in raw:
            size = len(name)
            if size == 4:
                if host is None and name.lower() == b"host":
                    host = value
            elif (size == 9 or 15 <= size <= 18) and name.lower() in PROXY_HEADERS:
                proxied = True
        text = host.decode("latin-1") if host is not None else ""
        if not proxied or not trusted.trusts(peer[0] if peer is not None else None):
            # The connection's own origin (what resolve_origin gives then): the usual request,
            # even behind a proxy (a health check), builds no header index for it.
            origin = self._origin = RequestOrigin(peer, self._own_scheme(), text, root_path)
            return origin
        origin = self._origin = resolve_origin(raw, peer, self._own_scheme(), text, root_path, trusted)
        return origin

    # --- 1.x compatibility API ---------------------------------------------------------------------
    def get_header(self, key: str, default: str | None = None) -> str | None:
        return self.headers.get(key, default)

    def get_raw_body(self) -> bytes:
        self._check_read("get_raw_body()")
        return bytes(self.body)

    def get_parsed_body(self) -> Any:
        """The body parsed by its Content-Type: JSON, urlencoded or multipart form.

        An empty body gives ``{}``; a body that does not parse is a 400.
        """
        if self._parsed_body is not _UNSET:
            return self._parsed_body
        self._check_read("get_parsed_body()")
        body = self.body
        ctype = (self.headers.get("content-type") or "").lower()
        if not body:
            result: Any = {}
        elif ctype.startswith("application/x-www-form-urlencoded"):
            result = parse_urlencoded(bytes(body)).to_dict()
        elif ctype.startswith("multipart/form-data"):
            result = self._parse_multipart_now().to_dict()
        elif ctype.startswith("text/") and "json" not in ctype:
            try:
                result = body.decode()
            except UnicodeDecodeError:
                raise BadRequestError("request body is not valid UTF-8") from None
        else:
            try:
                result = orjson.loads(memoryview(body))
            except orjson.JSONDecodeError as exc:
                raise BadRequestError(f"request body is not valid JSON: {exc}") from None
        self._parsed_body = result
        return result

    def get_query_param(self, key: str, default: str | None = None) -> str | None:
        return self.query_params.get(key, default)

    def get_query_params(self, key: str) -> list[str]:
        """Every value of a repeated query key."""
        return self.query_params.get_all(key)

    def get_raw_query_params(self) -> str:
        return self.query_string

    def get_parsed_query_params(self) -> dict[str, str | list[str]]:
        """``{key: value}``, or ``{key: [values]}`` for keys given more than once."""
        out: dict[str, str | list[str]] = {}
        for k, v in self.query_params.multi_items():
            if k in out:
                prev = out[k]
                if isinstance(prev, list):
                    prev.append(v)
                else:
                    out[k] = [prev, v]
            else:
                out[k] = v
        return out

    def add_metadata(self, key: str, value: Any) -> None:
        self.metadata[key] = value

    def get_metadata(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def render_template(self, template_name: str, context: Mapping[str, Any] | None = None) -> HttpResponse:
        """Render a template with the app's template engine (needs ``areion-templates``)."""
        engine = self._engine()
        response: HttpResponse = engine.render(template_name, dict(context or {}), request=self)
        return response

    async def render_template_async(self, template_name: str, context: Mapping[str, Any] | None = None) -> HttpResponse:
        """Render with the engine's async path, so templates may await (needs ``areion-templates``)."""
        engine = self._engine()
        render_async = getattr(engine, "render_async", None)
        if render_async is None:
            return engine.render(template_name, dict(context or {}), request=self)  # type: ignore[no-any-return]
        return await render_async(template_name, dict(context or {}), request=self)  # type: ignore[no-any-return]

    def stream_template(self, template_name: str, context: Mapping[str, Any] | None = None) -> HttpResponse:
        """A streamed response rendered piece by piece (needs ``areion-templates``)."""
        engine = self._engine()
        stream = getattr(engine, "stream", None)
        if stream is None:
            return engine.render(template_name, dict(context or {}), request=self)  # type: ignore[no-any-return]
        return stream(template_name, dict(context or {}), request=self)  # type: ignore[no-any-return]

    def _engine(self) -> Any:
        engine = self.app.template_engine if self.app is not None else None
        if engine is None:
            raise RuntimeError(
                "render_template needs a template engine: pip install areion-templates "
                "(or areion-core[templates]) and enable the 'templates' plugin"
            )
        return engine

    def submit_task(self, task: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``task`` in the background with the app's orchestrator (needs ``areion-scheduling``)."""
        orch = self.app.orchestrator if self.app is not None else None
        if orch is None:
            raise RuntimeError(
                "submit_task needs an orchestrator: pip install areion-scheduling "
                "(or areion-core[scheduling]) and enable the 'scheduling' plugin"
            )
        return orch.submit_task(task, *args, **kwargs)

    def log(self, message: str, level: str | int = "info") -> None:
        logger = self.app.logger if self.app is not None else logging.getLogger("areion")
        lvl = level if isinstance(level, int) else logging.getLevelName(level.upper())
        lvl = lvl if isinstance(lvl, int) else logging.INFO
        std = logger if isinstance(logger, logging.Logger) else getattr(logger, "logger", None)
        if self.request_id is not None and isinstance(std, logging.Logger):
            std.log(lvl, message, extra={"request_id": self.request_id})  # JSON logs carry it
            return
        logger.log(lvl, message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "query_params": self.get_parsed_query_params(),
            "body": self.body.decode("utf-8", "replace"),
            "metadata": dict(self.metadata),
        }

    def __repr__(self) -> str:
        return f"<HttpRequest {self.method} {self.raw_path}>"


class _Unset:
    __slots__ = ()


_UNSET: Any = _Unset()
