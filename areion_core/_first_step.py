"""A hook's coroutine run to its first suspension, without the StopIteration a finished ``send`` raises.

Most ``async def`` hooks finish without ever waiting. Run with ``coro.send(None)``, such a
coroutine ends in a StopIteration: an exception object, a traceback and a frame object for
the caller, and the exception matched and unwound — about 2.8k instructions for a hook that
would cost a few hundred as a plain function. ``yield from`` receives a coroutine's return
value without any exception, so the runners hand the coroutine to a *stepper*: a generator
parked at a ``yield``, sent the coroutine, running it with ``yield from`` and yielding back
how it went (``NONE``: it returned None, ``VALUE`` or ``FAILED``: it returned or raised what
the stepper's box now holds). About 1.4k instructions, all of it coroutine and frame.

A coroutine that suspends instead makes the stepper yield the future it waits on: the stepper
is then that hook's, carried on by a :class:`Handed` awaitable, and never reused. Steppers wait
in ``STEPPERS``, each taken by one caller at a time (``list.pop`` and ``append`` are atomic): a
hook whose first step runs another chain takes another one, and threads never share one.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Generator
from typing import Any

#: How a stepped coroutine went: returned None; returned the box's value; raised the box's exception.
NONE: Any = object()
VALUE: Any = object()
FAILED: Any = object()

#: A stepper's ``send`` and its box (the value or exception of the coroutine it last ran).
Stepper = tuple[Callable[[Any], Any], list[Any]]


@types.coroutine
def _steps(box: list[Any]) -> Generator[Any, Any, None]:
    coro = yield None
    while True:
        try:
            box[0] = yield from coro  # a suspension passes through, out of the caller's send()
            step = NONE if box[0] is None else VALUE
        except Exception as exc:  # a BaseException (a cancellation) ends the stepper and passes on
            box[0] = exc
            step = FAILED
        coro = yield step


def new_stepper() -> Stepper:
    """A parked stepper, for a caller that found ``STEPPERS`` empty."""
    box: list[Any] = [None]
    steps = _steps(box)
    steps.send(None)
    return steps.send, box


#: The parked steppers. A caller pops one, sends it a coroutine and, when the step is ``NONE``,
#: appends it back; any other step goes to :func:`settle`.
STEPPERS: list[Stepper] = [new_stepper()]
_park = STEPPERS.append


def settle(stepper: Stepper, step: Any) -> Any:
    """The outcome of a step other than ``NONE``: the coroutine's value, its exception raised, or,
    when it suspended on ``step``, a :class:`Handed` awaitable of the rest."""
    if step is VALUE or step is FAILED:
        box = stepper[1]
        value = box[0]
        box[0] = None
        _park(stepper)
        if step is FAILED:
            try:
                raise value
            finally:
                del value  # no frame ↔ traceback cycle
        return value
    return Handed(stepper, step)


class Handed:
    """Awaits the rest of a coroutine whose stepper yielded ``first`` (it suspended): the stepper's own."""

    __slots__ = ("first", "stepper")

    def __init__(self, stepper: Stepper, first: Any) -> None:
        self.stepper = stepper
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        send, box = self.stepper
        throw = send.__self__.throw  # type: ignore[attr-defined]  # the stepper generator's
        yielded = self.first
        while yielded is not NONE and yielded is not VALUE and yielded is not FAILED:
            try:
                sent = yield yielded
            except BaseException as exc:  # a cancellation (the timeout) or a thrown error: pass it in
                yielded = throw(exc)
            else:
                yielded = send(sent)
        value = box[0]
        box[0] = None
        if yielded is FAILED:
            try:
                raise value
            finally:
                del value
        return value
