"""Hot hooks compiled into plain call chains at startup, and the runners that call them.

pluggy costs about a microsecond per call even with nothing registered; the request path
cannot afford that. At startup each hot hook becomes, per route, a tuple of
:class:`HookLink` ``(plugin name, function, is_async)`` in call order (see ``plugins.py``
for the ordering rules), or ``None`` when no interested plugin implements it.

An awaitable a hook returns is awaited for at most ``hook_timeout`` seconds (the app's
config), then cancelled: a hung plugin costs one request a bounded wait, never a connection
or the process. Sync links are called as they are, with no bound and no cost: a sync hook
that blocks the event loop cannot be interrupted from Python.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, NamedTuple

from . import _first_step
from ._first_step import Handed, first_step, stepping
from ._first_step import run_observers as run_observers  # the runner of response_sent: compiled
from ._future_deadlines import EXPIRED, expire_at
from .config import DEFAULT_HOOK_TIMEOUT
from .hookspecs import HOT_HOOKS
from .response import HttpResponse


class HookLink(NamedTuple):
    """One plugin's implementation of a hot hook, as compiled into a route's chain."""

    plugin: str
    function: Callable[..., Any]
    is_async: bool


Link = HookLink
#: The links of one compiled chain, in call order.
HookChain = tuple[HookLink, ...]
#: A compiled hot-hook chain: the links in call order, or None when no plugin implements it.
Chain = tuple[HookLink, ...] | None

_ROUTE_CHAINS = {
    "request_received": "request_chain",
    "response_ready": "response_chain",
    "exception": "exception_chain",
    "response_sent": "sent_chain",
}


def route_chain(route: Any, hook: str) -> tuple[HookLink, ...]:
    """The compiled chain of ``hook`` on ``route`` (empty when no plugin implements it there)."""
    try:
        attribute = _ROUTE_CHAINS[hook]
    except KeyError:
        raise ValueError(f"{hook!r} is not a hot hook (one of {', '.join(_ROUTE_CHAINS)})") from None
    chain: Chain = getattr(route, attribute, None)
    return chain or ()


async def run_response_ready(request: Any, response: HttpResponse, *, skip: Collection[str] = ()) -> HttpResponse:
    """Run ``request.route``'s ``response_ready`` chain on ``response``, leaving out the plugins in ``skip``.

    For a plugin that makes a response outside the request cycle (a background refresh of a
    cached entry) and wants it to end up as a live request's response would: compressed,
    stamped, given its headers by the other plugins.
    """
    for name, fn, is_async in route_chain(request.route, "response_ready"):
        if name in skip:
            continue
        result = fn(request, response)
        if is_async or (result is not None and inspect.isawaitable(result)):
            result = await result
        if result is not None:
            response = _checked(name, "response_ready", result)
    return response

logger = logging.getLogger("areion.plugins")


class PluginFailure(Exception):
    """A plugin raised inside a hot hook; the request becomes a 500 naming the plugin."""

    def __init__(self, plugin: str, hook: str, exc: BaseException) -> None:
        super().__init__(f"plugin {plugin!r} raised in {hook}: {exc!r}")
        self.plugin = plugin
        self.hook = hook
        self.original = exc


class HookTimeout(Exception):
    """An async hook implementation ran past ``hook_timeout`` and was cancelled."""

    def __init__(self, hook: str, limit: float) -> None:
        super().__init__(f"{hook} did not finish within {limit:g}s (hook_timeout); cancelled")
        self.hook = hook
        self.limit = limit


async def bounded(awaitable: Awaitable[Any], hook: str, limit: float) -> Any:
    """Await ``awaitable`` for at most ``limit`` seconds; past that, cancel it and raise HookTimeout.

    A coroutine is first run up to its first suspension: most ``async def`` hooks finish
    without ever waiting (compression deciding to leave a response alone), and those pay for
    no timer — an ``asyncio.timeout`` costs about 4 µs. Only one that really waits is bounded.
    A ``TimeoutError`` the hook raises on its own is passed on unchanged. The HookTimeout
    chains the cancellation, so a logged traceback shows where the hook was waiting.
    """
    if awaitable.__class__ is _COROUTINE:
        awaitable = first_step(awaitable)
        if awaitable.__class__ is not Handed:
            return awaitable  # it finished without waiting
    timeout = asyncio.timeout(limit)
    try:
        async with timeout:
            return await awaitable
    except TimeoutError as exc:
        if timeout.expired():
            raise HookTimeout(hook, limit) from exc
        raise


async def _probe() -> None:
    pass


_probe_coro = _probe()
_COROUTINE = type(_probe_coro)
_probe_coro.close()


def _limit(request: Any) -> float:
    # Read only on the async paths below; the sync fast path never looks.
    app = request.app
    limit: float = app.config.hook_timeout if app is not None else DEFAULT_HOOK_TIMEOUT
    return limit


def _traced(name: str, hook: str, fn: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    if is_async:
        async def traced_async(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*args)
            finally:
                logger.info("hook %s [%s] took %.1f µs", hook, name, (time.perf_counter() - t0) * 1e6)
        return traced_async

    def traced(*args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            logger.info("hook %s [%s] took %.1f µs", hook, name, (time.perf_counter() - t0) * 1e6)
    return traced


def compile_chain(
    impls: list[Any],
    hook: str,
    interest: dict[str, frozenset[str] | None] | None = None,
    trace: bool = False,
    replayed: bool = False,
) -> Chain:
    """The call chain of one hot hook from its implementations in call order, keeping only
    plugins interested in the route (``interest``: plugin name → the hot hooks it wants there,
    None for all).

    ``replayed`` leaves out implementations marked ``skip_replayed`` (the chain replayed
    responses take).
    """
    assert hook in HOT_HOOKS
    links: list[Link] = []
    for impl in selected(impls, hook, interest, replayed):
        fn = bound_function(impl, hook)
        argnames = tuple(impl.argnames)
        expected = ("request",) if hook in ("request_started", "request_received") else (
            ("request", "exc") if hook == "exception" else ("request", "response"))
        if argnames != expected:
            # Implementations may take a subset of the arguments, in any order.
            fn = _adapt(fn, argnames, expected)
        is_async = inspect.iscoroutinefunction(bound_function(impl, hook))
        if trace:
            fn = _traced(impl.plugin_name, hook, fn, is_async)
        links.append(HookLink(impl.plugin_name, fn, is_async))
    return tuple(links) or None


def bound_function(impl: Any, hook: str) -> Callable[..., Any]:
    """What a chain calls for ``impl``: the plugin object's attribute named as the hook when it
    is no longer the method registered (the plugin bound the hook to the object doing the
    work, in ``configure``: no forwarding call per request), else the registered method.

    The attribute is read when the chains are compiled, once the app is built; the marker's
    options (``tryfirst``, ``skip_replayed``...) stay the registered method's. An
    implementation registered under another name (``specname``) is never rebound.
    """
    if impl.opts.get("specname") or impl.plugin is None:
        return impl.function  # type: ignore[no-any-return]
    current = getattr(impl.plugin, hook, None)
    if current is None or current == impl.function:
        return impl.function  # type: ignore[no-any-return]
    if not callable(current):
        raise TypeError(f"plugin {impl.plugin_name!r}: its attribute {hook!r} is {current!r}, not a function")
    return current  # type: ignore[no-any-return]


def selected(
    impls: list[Any], hook: str, interest: dict[str, frozenset[str] | None] | None = None, replayed: bool = False
) -> list[Any]:
    """The implementations of ``hook`` that go into a route's chain (see :func:`compile_chain`)."""
    chosen = []
    for impl in impls:
        if replayed and getattr(impl.function, "areion_skip_replayed", False):
            continue
        if interest is not None:
            wanted = interest.get(impl.plugin_name)
            if wanted is not None and hook not in wanted:
                continue
        chosen.append(impl)
    return chosen


def small_body_floor(impls: list[Any]) -> int:
    """The body size under which every one of ``impls`` (a ``response_ready`` chain's) leaves a
    plain response alone (``skip_small_bodies``); 0 when one of them may act on any response."""
    floor: int | None = None
    for impl in impls:
        threshold = getattr(impl.function, "areion_small_body_threshold", None)
        size = int(threshold(impl.plugin)) if threshold is not None else 0
        floor = size if floor is None else min(floor, size)
    return floor or 0


def _adapt(fn: Callable[..., Any], argnames: tuple[str, ...], expected: tuple[str, ...]) -> Callable[..., Any]:
    positions = tuple(expected.index(a) for a in argnames)

    def adapted(*args: Any) -> Any:
        return fn(*[args[i] for i in positions])

    return adapted


# The runners below are sync-first: while every plugin answers synchronously they return the
# result directly, and only a plugin that returns an awaitable makes them return one (the
# rest of the chain then continues in a coroutine). A chain of sync plugins costs no
# coroutine per request; the caller awaits only when it gets something awaitable.


def _checked(name: str, hook: str, result: Any) -> HttpResponse:
    if not isinstance(result, HttpResponse):
        raise _wrong_type(name, hook, result)
    return result


def _wrong_type(name: str, hook: str, result: Any) -> PluginFailure:
    return PluginFailure(name, hook, TypeError(f"returned {type(result).__name__}, not HttpResponse"))


def run_received(chain: tuple[Link, ...], request: Any) -> HttpResponse | Awaitable[HttpResponse | None] | None:
    """request_received: the first plugin's answer, None, or an awaitable of either.

    Like the other runners, sync-first: a coroutine a hook returns is run at once to its first
    suspension (an ``async def`` that never waits costs no more than a plain function), and
    only one that really waits makes the runner return an awaitable for the rest.
    """
    for link in chain:
        try:
            result = link[1](request)
            if result.__class__ is _COROUTINE:  # run at once to its first suspension
                result = first_step(result)
        except Exception as exc:
            raise PluginFailure(link[0], "request_received", exc) from exc
        if result is None:
            continue
        if result.__class__ is HttpResponse:
            return result
        if result.__class__ is _FUTURE or inspect.isawaitable(result):  # a store's future: no ABC check
            return _first_async(chain, chain.index(link), result, "request_received", (request,))
        return _checked(link[0], "request_received", result)
    return None


#: ``(plugin name, function, hook)`` of a chain's sole link, as the dispatcher calls it: a
#: plain tuple, whose ``[1]`` the interpreter reads faster than a NamedTuple's.
SoleLink = tuple[str, Callable[..., Any], str]


#: How many arguments the dispatcher passes a sole link of each hook (``stepping``'s).
SOLE_LINK_ARGUMENTS = {"request_received": 1, "request_started": 1, "response_ready": 2}


def sole_link(chain: Chain, hook: str) -> SoleLink | None:
    """``(plugin name, function, hook)`` of a chain of ``hook`` that has one link; else None.

    The dispatcher calls such a link's function itself (an ``async def`` hook's as
    ``stepping`` makes it: its coroutine run at once to its first suspension), and hands what
    it returns, when that is neither None nor a response, to ``received_later`` or
    ``replaced_later``: one plugin's hooks on a route, the usual case, cost no runner call,
    sync or async.
    """
    if chain is None or len(chain) != 1:
        return None
    link = chain[0]
    return (link.plugin, stepping(link.function, SOLE_LINK_ARGUMENTS.get(hook)) if link.is_async else link.function,
            hook)


def hook_failure(link: SoleLink | None, exc: Exception) -> Exception:
    """``exc`` as a runner raises it: when ``link`` (the sole link the dispatcher called) raised
    it, a PluginFailure naming the plugin and the hook; otherwise (a PluginFailure already) as it is."""
    if link is None or exc.__class__ is PluginFailure:
        return exc
    failure = PluginFailure(link[0], link[2], exc)
    failure.__cause__ = exc
    return failure


def received_later(chain: tuple[Link, ...], request: Any, result: Any,
                   hook: str = "request_received") -> Awaitable[HttpResponse | None]:
    """request_received's (or request_started's) answer when the dispatcher called ``chain``'s
    sole link and it returned ``result``, neither None nor a response (a suspended ``async
    def`` hook's rest, or a plain function's awaitable): an awaitable of the answer (a wrong
    type raises PluginFailure), as ``run_received`` would give it."""
    if inspect.isawaitable(result):
        return _first_async(chain, 0, result, hook, (request,))
    raise _wrong_type(chain[0][0], hook, result)


def replaced_later(chain: tuple[Link, ...], request: Any, response: HttpResponse,
                   result: Any) -> Awaitable[HttpResponse]:
    """response_ready's response when the dispatcher called ``chain``'s sole link and it
    returned ``result``, neither None nor a response: as ``received_later``, for ``run_replace``."""
    if inspect.isawaitable(result):
        return _replace_async(chain, 0, result, request, response)
    raise _wrong_type(chain[0][0], "response_ready", result)


def run_first(chain: tuple[Link, ...], hook: str, *args: Any) -> HttpResponse | Awaitable[HttpResponse | None] | None:
    """A first-answer-wins chain (request_received, exception): the answer, None, or an awaitable of either."""
    for link in chain:
        try:
            result = link[1](*args)
            if result.__class__ is _COROUTINE:  # run at once to its first suspension
                result = first_step(result)
        except Exception as exc:
            raise PluginFailure(link[0], hook, exc) from exc
        if result is None:
            continue
        if result.__class__ is HttpResponse:
            return result
        if inspect.isawaitable(result):
            return _first_async(chain, chain.index(link), result, hook, args)
        return _checked(link[0], hook, result)
    return None


async def _first_async(chain: tuple[Link, ...], index: int, pending: Any, hook: str,
                       args: tuple[Any, ...]) -> HttpResponse | None:
    limit = _limit(args[0])
    for i in range(index, len(chain)):
        name, fn, _ = chain[i]
        try:
            if i != index:
                result = fn(*args)
                if result is not None and result.__class__ is not HttpResponse and inspect.isawaitable(result):
                    result = await bounded(result, hook, limit)
            elif pending.__class__ is _FUTURE:
                # A plain future (a store's answer, the rate limiter's): awaited here, and cancelled
                # at its deadline by the timer all such futures share (_future_deadlines.py).
                expire_at(pending, limit)
                try:
                    result = await pending
                except asyncio.CancelledError as exc:
                    if exc.args and exc.args[0] is EXPIRED:
                        raise HookTimeout(hook, limit) from exc
                    raise
            else:
                result = await bounded(pending, hook, limit)
        except Exception as exc:
            raise PluginFailure(name, hook, exc) from exc
        if result is not None:
            return _checked(name, hook, result)
    return None


_FUTURE = asyncio.Future


def run_replace(
    chain: tuple[Link, ...], request: Any, response: HttpResponse
) -> HttpResponse | Awaitable[HttpResponse]:
    """response_ready: each plugin may replace the response so far; the last one, or an awaitable of it."""
    for link in chain:
        try:
            result = link[1](request, response)
            if result.__class__ is _COROUTINE:  # run at once to its first suspension
                result = first_step(result)
        except Exception as exc:
            raise PluginFailure(link[0], "response_ready", exc) from exc
        if result is None:
            continue
        if result.__class__ is not HttpResponse and inspect.isawaitable(result):
            return _replace_async(chain, chain.index(link), result, request, response)
        response = _checked(link[0], "response_ready", result)
    return response


async def _replace_async(chain: tuple[Link, ...], index: int, pending: Any, request: Any,
                         response: HttpResponse) -> HttpResponse:
    limit = _limit(request)
    for i in range(index, len(chain)):
        name, fn, _ = chain[i]
        try:
            result = pending if i == index else fn(request, response)
            if result is not None and result.__class__ is not HttpResponse and inspect.isawaitable(result):
                result = await bounded(result, "response_ready", limit)
        except Exception as exc:
            raise PluginFailure(name, "response_ready", exc) from exc
        if result is not None:
            response = _checked(name, "response_ready", result)
    return response


def observers_from(chain: tuple[Link, ...], index: int, result: Any, failed: Exception | None, request: Any,
                   response: HttpResponse) -> Awaitable[None] | None:
    """``run_observers``' way on once link ``index`` raised (``failed``) or returned ``result``:
    a failure is logged and never reaches the client; an awaitable (a plugin waits) is the
    rest of the chain awaited; anything else is ignored. Then the links after it."""
    if failed is not None:
        logger.error("plugin %r raised in response_sent", chain[index][0], exc_info=failed)
    elif inspect.isawaitable(result):
        return _observers_async(chain, index, result, request, response)
    rest: Awaitable[None] | None = run_observers(chain[index + 1:], request, response)
    return rest


_first_step.observers_from = observers_from


async def _observers_async(chain: tuple[Link, ...], index: int, pending: Any, request: Any,
                           response: HttpResponse) -> None:
    limit = _limit(request)
    for i in range(index, len(chain)):
        name, fn, _ = chain[i]
        try:
            result = pending if i == index else fn(request, response)
            if result is not None and inspect.isawaitable(result):
                await bounded(result, "response_sent", limit)
        except HookTimeout as exc:
            logger.error("plugin %r failed in response_sent for %s %s: %s", name, request.method,
                         request.raw_path, exc, exc_info=exc)
        except Exception:
            logger.exception("plugin %r raised in response_sent", name)
