"""Handler timeouts: a route's ``timeout=`` (or ``limits.request_timeout``) as a deadline on its endpoint.

Compiled into the route's endpoint at startup (``endpoints.compile_endpoint``): a route with
no timeout keeps its endpoint as it was and pays nothing per request. A route with one gets
``with_timeout``'s wrapper, which starts a loop timer (``call_later``, so the deadline is
kept to the event loop's precision, not to the server's once-a-second sweep) and, when the
timer fires, cancels the task the handler runs in. The handler sees ``CancelledError`` where
it waits (its ``finally`` runs), the wrapper takes its own cancellation back
(``Task.uncancel``), logs a warning naming the request and the route, and answers with a
problem response in place of the handler's.

**Which task.** Under Areion's own server a request's first step runs eagerly inside its
connection's driver task (``server/driver.py``), which then carries the request on; with
``AREION_EAGER=0`` each request has a task of its own; under an ASGI server it is that
server's task for the request. ``asyncio.current_task()`` is the right one in all three, and
the driver passes a cancellation on to the handler exactly as ``Task.__step`` does. Only the
wrapper's own cancellation is taken back: if someone else cancelled the task too (shutdown's
grace period, an ASGI client gone), ``CancelledError`` goes on up.

**503, not 504.** RFC 9110 §15.6.5 defines 504 for a *gateway or proxy* that did not get a
timely answer from an upstream server. Areion is the origin here, the handler is not an
upstream server, and a 504 from the origin reads, in every proxy's log and dashboard, as the
proxy's own upstream timeout — the one failure it must not be confused with. 503 (§15.6.4)
says what happened: the server could not handle the request now, and a later try may work.
Go's ``http.TimeoutHandler`` and Sanic's response timeout answer 503 for the same reason.

**What it covers.** Parameter binding, the middleware and the handler, up to the response
object the handler returns. A streamed body is produced after its headers went out, when a
status can no longer change, so the timeout does not apply to streaming it (a slow client is
``limits.send_timeout``'s business; bound the generator's own waits with ``asyncio.timeout``).

**What cannot be cancelled.** A plain ``def`` handler runs in the thread pool: the client
gets the 503 at the deadline, and the thread runs on to the end (Python cannot stop a thread);
its result is dropped. Code that blocks the event loop — an ``inline`` sync handler, an
``async def`` that never awaits — cannot be interrupted while it blocks: it is cancelled at
its next ``await``, and an answer it returns without awaiting stands.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from .exceptions import ConfigError, RouteError
from .problem import problem_response
from .response import HttpResponse

#: The status of a request whose handler ran out of time (see the module docstring: not 504).
TIMEOUT_STATUS = 503

Endpoint = Callable[[Any], Awaitable[HttpResponse]]


def check_timeout(value: object, where: str) -> float | None:
    """A route's ``timeout=`` as seconds: a positive, finite number, or None (no timeout).

    None turns a global ``limits.request_timeout`` off for the route; anything else that is
    not a positive number of seconds is a ``RouteError`` naming the route.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise RouteError(f"timeout for {where}: got {value!r}, expected a positive number of seconds "
                         "(or None for no timeout)")
    return float(value)


def check_default_timeout(value: float | None) -> float | None:
    """``limits.request_timeout`` (None: off); the config reader lets through ``inf`` and ``nan``."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError("limits.request_timeout", value, "a positive, finite number of seconds")
    return value


def timeout_response(seconds: float) -> HttpResponse:
    """What the client gets when the handler ran out of time: a 503 problem response."""
    return problem_response(TIMEOUT_STATUS, f"The request was not answered within {seconds:g} s.",
                            extensions={"timeout": seconds})


class _Deadline:
    """One request's timer callback: cancels the handler's task, and remembers having done it."""

    __slots__ = ("fired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.fired = False

    def __call__(self) -> None:
        self.fired = True
        self.task.cancel()


def with_timeout(
    endpoint: Endpoint, seconds: float, route: str, logger: logging.Logger, in_thread: bool,
) -> Endpoint:
    """``endpoint`` bounded to ``seconds``: past them the handler is cancelled and the answer is a 503.

    ``route`` names the route in the log line; ``in_thread`` says the handler runs in the
    thread pool (the log then says that its thread runs on).
    """
    current_task = asyncio.current_task
    outcome = "its thread runs on (a plain def cannot be cancelled)" if in_thread else "it was cancelled"

    async def timed(request: Any) -> HttpResponse:
        task = current_task()
        if task is None:  # not in a task (never under Areion's server or ASGI): nothing to cancel
            return await endpoint(request)
        base = task.cancelling()
        deadline = _Deadline(task)
        timer = task.get_loop().call_later(seconds, deadline)
        try:
            response = await endpoint(request)
        except (Exception, asyncio.CancelledError):
            timer.cancel()
            # Not ours, or ours and someone else's (shutdown, a client gone under ASGI): pass it on.
            if not deadline.fired or task.uncancel() > base:
                raise
        else:
            timer.cancel()
            if not deadline.fired:
                return response
            task.uncancel()  # the handler swallowed the cancellation; its answer came too late
        logger.warning("%s %s: route %s did not answer within its %gs timeout; %s, and the client got %d",
                       request.method, request.raw_path, route, seconds, outcome, TIMEOUT_STATUS)
        return timeout_response(seconds)

    return timed
