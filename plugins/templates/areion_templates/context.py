"""Building a template's context: the ``request``, context processors, then the caller's values.

A context processor is ``func(request) -> Mapping`` or ``async def func(request) -> Mapping``;
what it returns is merged into every template's context, under the values the handler passes
(the handler's values win). ``request`` is None when a template is rendered outside a request.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

ContextProcessor = Callable[[Any], "Mapping[str, Any] | Awaitable[Mapping[str, Any]]"]


class AsyncProcessorError(RuntimeError):
    """An async context processor had to wait for I/O inside the synchronous ``render()``."""


def _name(func: Any) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _check(func: Any, result: Any) -> Mapping[str, Any]:
    if not isinstance(result, Mapping):
        raise TypeError(f"context processor {_name(func)} returned {type(result).__name__}, expected a mapping")
    return result


def build_context(
    processors: Sequence[ContextProcessor], context: Mapping[str, Any] | None, request: Any,
    loop: asyncio.AbstractEventLoop | None,
) -> dict[str, Any]:
    """The context for a synchronous render.

    Async processors are awaited as well as a synchronous caller allows: from a worker thread
    (a plain ``def`` handler) they run on the app's loop and this thread waits; on the loop's
    own thread they are driven inline, which works while they do not wait for I/O, and raise
    ``AsyncProcessorError`` (pointing at ``render_async``) when they do.
    """
    ctx: dict[str, Any] = {"request": request}
    for func in processors:
        result = func(request)
        if inspect.isawaitable(result):
            result = _await_from_sync(result, func, loop)
        ctx.update(_check(func, result))
    if context:
        ctx.update(context)
    return ctx


async def build_context_async(
    processors: Sequence[ContextProcessor], context: Mapping[str, Any] | None, request: Any,
) -> dict[str, Any]:
    """The context for an async render: async processors are simply awaited."""
    ctx: dict[str, Any] = {"request": request}
    for func in processors:
        result = func(request)
        if inspect.isawaitable(result):
            result = await result
        ctx.update(_check(func, result))
    if context:
        ctx.update(context)
    return ctx


def _await_from_sync(awaitable: Awaitable[Any], func: Any, loop: asyncio.AbstractEventLoop | None) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return _run_inline(awaitable, func)

    async def wait() -> Any:
        return await awaitable

    if loop is not None and loop.is_running():
        return asyncio.run_coroutine_threadsafe(wait(), loop).result()
    return asyncio.run(wait())


def _run_inline(awaitable: Awaitable[Any], func: Any) -> Any:
    """Drive an awaitable to completion without the event loop, if it never blocks.

    The synchronous ``render()`` runs on the loop's thread when called from an ``async def``
    handler, so it cannot wait for the loop. A coroutine that only yields ``None`` (a bare
    ``asyncio.sleep(0)``) or finishes at once (a cache hit) can still be completed here; one
    that yields a future is waiting for I/O, which only ``render_async`` can do.
    """
    steps = awaitable.__await__()
    try:
        while True:
            if steps.send(None) is not None:
                break
    except StopIteration as stop:
        return stop.value
    close = getattr(steps, "close", None)
    if close is not None:
        close()
    raise AsyncProcessorError(
        f"context processor {_name(func)} waits for I/O, which the synchronous render_template() "
        "cannot do on the event loop; in an async handler use "
        "`await areion_templates.render_template_async(request, name, context)`"
    )
