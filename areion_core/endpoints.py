"""A route's endpoint: its handler inside its middleware, parameters bound, the return value a response.

Worked out once per route at startup. The endpoint is the innermost async callable of a
route (what ``wrap_handler`` plugins wrap): it binds path and query parameters by annotation,
calls the composed handler and turns what it returns into an :class:`HttpResponse`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from ._param_binding import build_binder, is_path_only
from .exceptions import RouteError
from .request import HttpRequest
from .response import _JSON_CLASSES, HttpResponse, to_response
from .routing import Middleware, Route
from .timeouts import check_default_timeout, with_timeout

Endpoint = Callable[[HttpRequest], Any]


def compile_endpoint(
    route: Route, middlewares: Sequence[Middleware], run_sync: Callable[..., Any], inline: bool,
    request_timeout: float | None = None, logger: logging.Logger | None = None,
    handler: Callable[..., Any] | None = None,
) -> Endpoint:
    """The endpoint of ``route``: ``middlewares`` (outermost first) around its handler.

    ``run_sync`` runs a plain function in the thread pool; with ``inline`` plain functions are
    called on the event loop instead. ``request_timeout`` (``limits.request_timeout``) bounds
    the handler of a route without a ``timeout=`` of its own; ``route.timeout`` is set to the
    bound the route gets, and only a bounded route's endpoint is wrapped (``timeouts.py``).
    ``handler`` replaces ``route.handler`` inside the middleware (a WebSocket route's
    request-level endpoint, which calls the route's handler); parameters still bind by
    ``route.handler``'s signature.
    """
    binder = build_binder(route)
    if route.kind == "websocket":
        request_timeout = None  # a WebSocket lives as long as its conversation
    inner = handler or route.handler
    if middlewares:
        # Middleware sees an HttpResponse: the handler's value is converted (and given the
        # route's status_code) before the innermost middleware gets it.
        inner = _converting(_accepting_request(inner), route.status_code)
    call, is_async = compose(inner, middlewares, run_sync, inline)
    if route.status_code is not None and not middlewares:  # only such routes pay for it
        call = _with_status(call, route.status_code, None if (is_async or inline) else run_sync)
        is_async = True
    endpoint = _make_endpoint(call, is_async, binder, route.param_names, None if inline else run_sync)
    if "timeout" not in route.options:
        route.timeout = check_default_timeout(request_timeout)
    if route.timeout is None:
        return endpoint
    in_thread = not inline and not inspect.iscoroutinefunction(handler or route.handler)
    return with_timeout(endpoint, route.timeout, f"{route.name} ({route.path})",
                        logger or logging.getLogger("areion"), in_thread)


def _takes_no_args(func: Callable[..., Any]) -> bool:
    try:
        return not inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _async_adapter(sync_inner: Callable[..., Any], run_sync: Callable[..., Any], inline: bool) -> Callable[..., Any]:
    """An awaitable stand-in for a sync handler, for async middleware to ``await``."""
    async def inline_adapter(*args: Any, **kwargs: Any) -> Any:
        return sync_inner(*args, **kwargs)

    async def pooled_adapter(*args: Any, **kwargs: Any) -> Any:
        return await run_sync(sync_inner, *args, **kwargs)

    return inline_adapter if inline else pooled_adapter


def compose(
    handler: Callable[..., Any], middlewares: Sequence[Middleware],
    run_sync: Callable[..., Any], inline: bool,
) -> tuple[Callable[..., Any], bool]:
    """Wrap ``handler`` in 1.x-style middleware (outermost first in ``middlewares``).

    Returns the composed callable and whether it may return an awaitable. An async
    middleware around a sync handler gets an async adapter (thread pool unless inline), so
    ``await handler(...)`` works in either combination.
    """
    handler = _accepting_request(handler)
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


def _accepting_request(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` callable as ``handler(request, **params)`` (a 1.x handler may take nothing)."""
    if not _takes_no_args(handler):
        return handler
    inner = handler
    if inspect.iscoroutinefunction(inner):
        async def no_args_async(request: Any, **kw: Any) -> Any:
            return await inner()
        return no_args_async

    def no_args(request: Any, **kw: Any) -> Any:
        return inner()
    return no_args


def _value_response(result: Any, status: int | None) -> HttpResponse:
    """A handler's value as a response: ``status`` (``status_code=``) unless a ``(value, status)``
    tuple or an ``HttpResponse`` says otherwise."""
    if isinstance(result, HttpResponse):
        return result
    response = to_response(result)
    if status is not None and not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], int)):
        response.status_code = status
        if result is None:
            response.body = b""
    return response


def _converting(handler: Callable[..., Any], status: int | None) -> Callable[..., Any]:
    """``handler`` returning an ``HttpResponse`` whatever it returns (for the middleware around it)."""
    if inspect.iscoroutinefunction(handler):
        async def converted_async(*args: Any, **kwargs: Any) -> HttpResponse:
            result = await handler(*args, **kwargs)
            while inspect.isawaitable(result):
                result = await result
            return _value_response(result, status)
        return converted_async

    def converted(*args: Any, **kwargs: Any) -> Any:
        result = handler(*args, **kwargs)
        if inspect.isawaitable(result):
            return _settle_with(result, status)
        return _value_response(result, status)
    return converted


async def _settle_with(result: Any, status: int | None) -> HttpResponse:
    while inspect.isawaitable(result):
        result = await result
    return _value_response(result, status)


def _with_status(call: Callable[..., Any], status: int, run_sync: Callable[..., Any] | None) -> Callable[..., Any]:
    """``call`` (a handler without middleware) whose returned value is answered with ``status``.

    A ``(value, status)`` tuple keeps its own status; a plain function still runs in ``run_sync``.
    """
    async def status_call(*args: Any, **kwargs: Any) -> Any:
        result = call(*args, **kwargs) if run_sync is None else await run_sync(call, *args, **kwargs)
        while inspect.isawaitable(result):
            result = await result
        return _value_response(result, status)

    return status_call


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
    if inspect.iscoroutinefunction(call):
        return _direct_endpoint(call, binder, param_names)

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


def _direct_endpoint(call: Callable[..., Any], binder: Any, param_names: tuple[str, ...]) -> Endpoint:
    """The endpoint of a plain ``async def`` chain: awaited directly, its usual values (a
    response, a dict, a str, a list, a dataclass or model of a class seen before) converted
    without ``_settle``'s checks."""
    convert = to_response
    # Classes to_response found to be dataclasses or models: never awaitable (their instances
    # were settled before they were converted), so converted without _settle's checks.
    json_classes = _JSON_CLASSES
    if binder is None:
        async def direct(request: HttpRequest) -> HttpResponse:
            result = await call(request)
            cls = result.__class__
            if cls is HttpResponse:
                return result  # type: ignore[no-any-return]
            if cls is dict or cls is str or cls is list or cls in json_classes:
                return convert(result)
            return await _settle(result)
        return direct

    if is_path_only(binder):
        async def direct_path(request: HttpRequest) -> HttpResponse:
            # The binder's dict holds exactly the route's parameters: it is path_params.
            request.path_params = kwargs = binder(request, request.path_params)
            result = await call(request, **kwargs)
            cls = result.__class__
            if cls is HttpResponse:
                return result  # type: ignore[no-any-return]
            if cls is dict or cls is str or cls is list or cls in json_classes:
                return convert(result)
            return await _settle(result)
        return direct_path

    async def direct_params(request: HttpRequest) -> HttpResponse:
        kwargs = binder(request, request.path_params)
        request.path_params = {n: kwargs[n] for n in param_names}
        result = await call(request, **kwargs)
        cls = result.__class__
        if cls is HttpResponse:
            return result  # type: ignore[no-any-return]
        if cls is dict or cls is str or cls is list or cls in json_classes:
            return convert(result)
        return await _settle(result)
    return direct_params
