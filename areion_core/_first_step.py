"""A hook's coroutine run to its first suspension, its value taken without a StopIteration.

Most ``async def`` hooks finish without ever waiting. Run with ``coro.send(None)``, such a
coroutine ends in a StopIteration: an exception object made, raised, matched and unwound —
about 1.5k instructions for a hook that costs a few hundred as a plain function. Compiled
(``_compiled.py``; the ``.pxd`` beside this file), :func:`first_step` calls ``PyIter_Send``
(CPython's C API since 3.10), which hands back a finished coroutine's value with no exception
at all: about 35 ns over the hook's own call. The pure-Python build sends and catches the
StopIteration.

A coroutine that suspends instead is carried on by a :class:`Handed` awaitable, which yields
what the coroutine yielded (the future it waits on) and then passes everything the awaiting
task sends or throws on to the coroutine. Only such a hook costs an awaitable (and, in the
runners, a timer: ``hook_chains.bounded``).

:func:`run_observers` is ``response_sent``'s chain runner, here to be compiled: the loop every
response with an observing plugin takes, with a link's function read straight from its tuple.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from importlib.machinery import EXTENSION_SUFFIXES
from types import CoroutineType
from typing import Any

#: Whether this module runs as its extension module (the compiled build).
COMPILED = __file__.endswith(tuple(EXTENSION_SUFFIXES))


class Handed:
    """Awaits the rest of a coroutine that suspended on its first step (``first``: what it yielded)."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self.coro, self.first
        send, throw = coro.send, coro.throw
        while True:
            try:
                try:
                    sent = yield yielded
                except BaseException as exc:  # a cancellation (the timeout) or a thrown error: pass it in
                    yielded = throw(exc)
                else:
                    yielded = send(sent)
            except StopIteration as stop:
                return stop.value


if COMPILED:
    def first_step(coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` to its first suspension: its value (None included) when it returned,
        its exception raised when it raised, or a :class:`Handed` awaitable of the rest when it
        suspended."""
        # Declared (and written in C) in _first_step.pxd: PyIter_Send, then Handed on a suspension.
        return _areion_first_step(coro, Handed)  # type: ignore[name-defined]  # noqa: F821
else:
    def first_step(coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` to its first suspension: its value (None included) when it returned,
        its exception raised when it raised, or a :class:`Handed` awaitable of the rest when it
        suspended."""
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            return stop.value
        return Handed(coro, yielded)


#: What an ``async def`` function returns (named from ``types``: a coroutine function defined
#: here would, compiled, make Cython's own coroutine type).
_COROUTINE = CoroutineType


def _observers_from(chain: tuple[Any, ...], index: int, result: Any, failed: Exception | None, request: Any,
                    response: Any) -> Any:
    raise RuntimeError("areion_core.hook_chains, when imported, sets the way on from a link that raised or waits")


#: ``hook_chains.observers_from``: the rest of a chain once a link raised or returned something
#: (the failure logged, an awaitable awaited). Set there, when it is imported: this module
#: imports nothing of areion_core.
observers_from: Callable[..., Any] = _observers_from


def run_observers(chain: tuple[Any, ...], request: Any, response: Any) -> Any:
    """``response_sent``'s chain (``hook_chains``' links) for one response, in order: None when
    every link returned None at once (a coroutine run to its first step), as nearly all do.

    Compiled, this loop is the only cost of a chain beyond the hooks' own calls. The first link
    that raises, or returns something (an awaitable: a hook that waits), hands the rest of the
    chain to ``hook_chains.observers_from``, which logs the failure or awaits, and goes on.
    """
    for index in range(len(chain)):
        link = chain[index]
        try:
            # A link's function: compiled, read straight from the tuple (a NamedTuple's [1]
            # goes through its type's generic item slot, the dearest part of the loop).
            fn = _areion_function(link) if COMPILED else link[1]  # type: ignore[name-defined]  # noqa: F821
            result = fn(request, response)
            if type(result) is _COROUTINE:
                result = first_step(result)
        except Exception as exc:
            return observers_from(chain, index, None, exc, request, response)
        if result is not None:
            return observers_from(chain, index, result, None, request, response)
    return None


def stepping(fn: Callable[..., Coroutine[Any, Any, Any]], arguments: int | None = None) -> Callable[..., Any]:
    """``fn``, an ``async def`` function, as a plain one that runs its coroutine to the first
    suspension (:func:`first_step`): a hook the dispatcher calls itself (``hook_chains.sole_link``).

    ``arguments``: how many positional arguments every call passes (1 for request_received,
    2 for response_ready), or None for any. Compiled, a function of a fixed count is called
    without a tuple of arguments and calls ``fn`` and the C step directly: about 400
    instructions a call less than the general one.
    """
    if arguments == 1:
        def stepped_one(first: Any) -> Any:
            coro = fn(first)
            return _areion_first_step(coro, Handed) if COMPILED else first_step(coro)  # type: ignore[name-defined]  # noqa: F821

        return stepped_one
    if arguments == 2:
        def stepped_two(first: Any, second: Any) -> Any:
            coro = fn(first, second)
            return _areion_first_step(coro, Handed) if COMPILED else first_step(coro)  # type: ignore[name-defined]  # noqa: F821

        return stepped_two

    def stepped(*args: Any) -> Any:
        return first_step(fn(*args))

    return stepped
