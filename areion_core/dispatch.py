"""The request's way through the app: request object, route, hooks, handler, hooks, send, log.

The server calls two things per request, both here: ``make_request`` when a request has been
read, and ``handle(request)`` to answer it. ``handle`` reads top to bottom:

1. find the route (a 404, 405, 308 or OPTIONS answer is made without one), then run the
   app-wide ``request_started`` chain, which sees every request and may answer any of them;
2. run the route's ``request_received`` chain — a plugin may answer at once (a cache hit);
3. otherwise call the route's endpoint (handler, middleware, parameters: ``endpoints.py``);
   an exception becomes a response through the ``exception`` chain;
4. run the ``response_ready`` chain (each plugin may replace the response);
5. write the response (``writing.py``), then run the ``response_sent`` chain and note the
   request in the access log.

The hook chains were compiled per route at startup (``hook_chains.py``): a hook no plugin
implements costs one ``is None`` test here, and a chain of one sync link (one plugin's plain
``def`` hook) is called here directly, without its runner.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import httptools

from . import writing
from .hook_chains import (
    PluginFailure,
    hook_failure,
    received_later,
    replaced_later,
    run_first,
    run_observers,
    run_received,
    run_replace,
    sole_link,
)
from .hookspecs import REPLAYED
from .request import HttpRequest
from .response import HttpResponse, create_error_response
from .routing import Route, RouteTree, decode_segments

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .access_log import AccessLog
    from .hook_chains import Chain
    from .types import Connection, PluginApp

_ALL_METHODS = "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"


class Dispatcher:
    """Answers requests for one built app (``app.dispatcher``)."""

    __slots__ = ("_static_plans", "access_log", "app", "body_plans", "exception_chain", "logger", "ready_chain",
                 "ready_link", "root_path", "sent_chain", "started_call", "started_chain", "started_link", "tree")

    def __init__(self, app: PluginApp, tree: RouteTree, chains: dict[str, Chain], access_log: AccessLog | None) -> None:
        self.app = app
        self.tree = tree
        self.root_path = app.root_path
        self.logger: logging.Logger = app.logger
        self.access_log = access_log
        # The chains of requests that match no route (404, 405, OPTIONS, redirects).
        self.ready_chain = chains["response_ready"]
        self.ready_link = sole_link(self.ready_chain, "response_ready")
        self.sent_chain = chains["response_sent"]
        self.exception_chain = chains["exception"]
        # Every request, matched or not, after routing (trusted hosts, CORS preflights, metrics).
        self.started_chain = chains["request_started"]
        self.started_link = sole_link(self.started_chain, "request_started")
        # What handle calls for request_started: one plugin's hook itself, or the chain's runner.
        self.started_call: Callable[[HttpRequest], Any] = (
            self.started_link[1] if self.started_link is not None else self._run_started)
        # The routes whose bodies are not the server's default: their limit, and whether their
        # handler reads the body as it arrives (see body_plan).
        default_limit = app.config.limits.max_body_bytes
        self.body_plans: dict[Route, tuple[int, bool]] = {
            route: (route.max_body_bytes or default_limit, route.streams_body)
            for route in _routes_of(tree) if route.max_body_bytes is not None or route.streams_body
        }
        # When every such route has a fixed path (the usual case), a request's path answers by
        # one dict lookup: {path: {method: plan}}; None when some route has parameters.
        static: dict[bytes, dict[str, tuple[int, bool]]] | None = {}
        for route, plan in self.body_plans.items():
            if route.param_names or static is None or "%" in route.path:
                static = None
                continue
            for method in route.methods:
                static.setdefault(route.path.encode("latin-1"), {})[method] = plan
        self._static_plans = static

    def body_plan(self, method: str, url: bytes) -> tuple[int, bool] | None:
        """For the server, at the end of a header section with a body: the route's body limit and
        whether it streams, or None for the server's defaults (see server/state.py ``BodyPlan``)."""
        path = url.partition(b"?")[0]
        static = self._static_plans
        if static is not None and 0x25 not in path:  # no "%": the path is as the route writes it
            methods = static.get(path)
            return methods.get(method) if methods is not None else None
        if path[:1] != b"/":
            return None
        raw = path.decode("latin-1")
        tree = self.tree
        if "%" in raw:
            try:
                hit = tree.match_segments(decode_segments(raw))
            except (ValueError, UnicodeDecodeError):
                return None
        else:
            hit = tree.match(raw)
        if hit is None:
            return None
        route = hit[0].get(method)
        return self.body_plans.get(route) if route is not None else None

    def make_request(
        self, method: str, url: bytes, headers: list[tuple[bytes, bytes]], body: bytes, conn: Connection,
        version: str, conditional: bool = True,
    ) -> HttpRequest:
        """The request object for a request the server has read (ValueError: a target we refuse)."""
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
                # The target's authority is the request's host: an origin server MUST ignore
                # the Host field then (RFC 9112 §3.2.2), so request.host, url_for and the cache
                # key never see a Host that disagrees with the target.
                authority = parsed.host or b""
                if parsed.port is not None:
                    authority += b":%d" % parsed.port
                headers = [pair for pair in headers if pair[0].lower() != b"host"]
                headers.append((b"Host", authority))
            else:
                raise ValueError("invalid request target")
        request = HttpRequest(method, path.decode("latin-1"), query.decode("latin-1"), headers, body,
                              conn, self.app, version)
        request.conditional = conditional
        return request

    def resolve(self, request: HttpRequest) -> Route | HttpResponse:
        """The route for ``request``, or the response when none matches (404, 405, 308, OPTIONS)."""
        raw = request.raw_path
        tree = self.tree
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
            found = tree.static.get(raw)  # tree.match()'s first step, inline for the common case
            hit = (found, []) if found is not None else tree.match_segments(raw.split("/"))
        if hit is None:
            return self._unmatched(request)
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

    def _unmatched(self, request: HttpRequest) -> HttpResponse:
        raw = request.raw_path
        if raw == "*":
            return HttpResponse(None, 204, headers={"allow": _ALL_METHODS})
        if len(raw) > 1 and raw.endswith("/"):
            stripped = raw.rstrip("/") or "/"
            if "%" not in stripped and self.tree.match(stripped) is not None:
                query = request.query_string
                # request.root_path: the app's, or a trusted proxy's X-Forwarded-Prefix.
                location = request.root_path + stripped + (f"?{query}" if query else "")
                return HttpResponse(None, 308, headers={"location": location})
        return create_error_response(404, "Not Found")

    async def handle(self, request: HttpRequest) -> None:
        """Answer one request: route, hooks, handler, hooks, send, log. Never raises."""
        before = request.conn.bytes_written if (access := self.access_log) is not None else 0
        target = self.resolve(request)
        route: Route | None
        early: HttpResponse | None = None
        if self.started_chain is not None:
            try:  # one plugin's hook called here (no runner, no coroutine when it answers at once)
                early = self.started_call(request)
                if early is not None and not isinstance(early, HttpResponse):
                    early = await self._started_later(request, target, early)
            except Exception as exc:
                early = await self.on_exception(request, hook_failure(self.started_link, exc), _exception_chain(target))
        if isinstance(target, Route):
            route, link = target, None  # link: a chain's sole link, called here while set
            try:
                chain = route.request_chain
                if chain is not None and early is None:
                    link = route.received_link
                    first = run_received(chain, request) if link is None else link[1](request)
                    if first is not None and not isinstance(first, HttpResponse):
                        first = await (first if link is None else received_later(chain, request, first))
                    early, link = first, None
                response = early if early is not None else await route.endpoint(request)
            except Exception as exc:  # (CancelledError is a BaseException: it goes on)
                response = await self.on_exception(request, hook_failure(link, exc), route.exception_chain)
            extensions = response.extensions
            if extensions is not None and REPLAYED in extensions:
                chain, observers, link = route.replay_chain, route.replay_sent_chain, route.replay_link
            else:
                chain, observers, link = route.response_chain, route.sent_chain, route.ready_link
                if (floor := route.ready_floor) and response.__class__ is HttpResponse and len(response.body) < floor:
                    chain = None  # its plugins all leave so small a body alone (skip_small_bodies; 0: not all)
        else:
            response, route = early if early is not None else target, None
            chain, observers, link = self.ready_chain, self.sent_chain, self.ready_link
        if chain is not None:
            try:
                replaced = run_replace(chain, request, response) if link is None else link[1](request, response)
                if replaced is not None:
                    response = replaced if isinstance(replaced, HttpResponse) else await (
                        replaced if link is None else replaced_later(chain, request, response, replaced))
            except Exception as exc:  # a PluginFailure, or what the sole link raised
                response = await self.on_exception(request, hook_failure(link, exc), None)
        sent: HttpResponse | None
        if response.__class__ is HttpResponse:
            try:
                sent = writing.send_buffered(request, response)
            except Exception as exc:
                sent = self._send_500(request, exc)
        else:
            sent = await self._send(request, response, route)
        if request._form is not None:
            request.close_form()  # an upload's temporary files go once the response is sent
        if sent is None:
            return
        if observers is not None and (pending := run_observers(observers, request, sent)) is not None:
            await pending
        if access is not None and (route is None or route.access_log):
            access.record(request, sent.status_code, request.conn.bytes_written - before, request.received_ns)

    def _run_started(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse | None] | None:
        """The ``request_started`` chain's answer when it has several links (``run_first``)."""
        return run_first(self.started_chain, "request_started", request)  # type: ignore[arg-type]

    async def _started_later(
        self, request: HttpRequest, target: Route | HttpResponse, pending: Awaitable[HttpResponse | None]
    ) -> HttpResponse | None:
        """The ``request_started`` answer a hook gave as an awaitable (it suspended, or failed in
        a runner): awaited, its failure answered by the exception chain."""
        if self.started_link is not None:  # the sole link's own result: checked as a runner would
            pending = received_later(self.started_chain, request, pending, "request_started")  # type: ignore[arg-type]
        try:
            return await pending
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return await self.on_exception(request, exc, _exception_chain(target))

    def _send_500(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        # Framing failed before a byte was written (a status out of range set directly, a raw
        # cookie line with CR/LF): the client still gets a 500.
        self.logger.error("could not frame the response for %s %s", request.method, request.raw_path, exc_info=exc)
        try:
            return writing.send_buffered(request, create_error_response(500, "Internal Server Error"))
        except Exception as again:
            self._failed_to_send(request, again)
            return None

    async def _send(self, request: HttpRequest, response: HttpResponse, route: Route | None) -> HttpResponse | None:
        """Write a streamed, file or other non-plain response (these may wait on the client)."""
        try:
            try:
                return await writing.send(request, response)
            except writing.BodyNotStarted as exc:
                cause = exc.__cause__ or exc
                response = await self.on_exception(request, cause, route.exception_chain if route else None)
                return await writing.send(request, response)
        except Exception as exc:
            self._failed_to_send(request, exc)
            return None

    def _failed_to_send(self, request: HttpRequest, exc: BaseException) -> None:
        self.logger.error("failed to send the response for %s %s", request.method, request.raw_path, exc_info=exc)
        request.conn.end_after_response()

    async def on_exception(self, request: HttpRequest, exc: BaseException, chain: Chain) -> HttpResponse:
        """The response for an exception raised while answering: the first plugin's answer, or a 500."""
        chain = chain if chain is not None else self.exception_chain
        try:
            answer = run_first(chain, "exception", request, exc) if chain is not None else None
            response = answer if answer is None or isinstance(answer, HttpResponse) else await answer
        except PluginFailure as failure:
            self.logger.error("plugin %r failed in the exception hook", failure.plugin, exc_info=failure.original)
            response = None
        if response is None:
            self.logger.error("unhandled exception", exc_info=exc)
            response = create_error_response(500, "Internal Server Error")
        return response


def _routes_of(tree: RouteTree) -> list[Route]:
    """Every route in ``tree`` (once each)."""
    seen: dict[int, Route] = {}
    for methods in tree.static.values():
        seen.update((id(r), r) for r in methods.values())
    pending = [tree.root]
    while pending:
        node = pending.pop()
        for table in (node.leaf, node.wildcard):
            if table:
                seen.update((id(r), r) for r in table.values())
        pending.extend(node.static.values())
        if node.param is not None:
            pending.append(node.param)
    return list(seen.values())


def _exception_chain(target: Route | HttpResponse) -> Chain:
    """The ``exception`` chain for a request bound for ``target``: its route's, or None (the app's)."""
    return target.exception_chain if isinstance(target, Route) else None
