"""Async hooks run to their first suspension (``_first_step.py``), through the runners.

A hook that finishes without waiting is answered at once (no awaitable, no timer); one that
suspends is carried on by a Handed awaitable, bounded by ``hook_timeout``; either way its
value, its exception (as a PluginFailure naming plugin and hook), a cancellation, the call
order and context variables behave as for a coroutine awaited directly. The compiled build
(PyIter_Send) and the pure-Python one (scripts/smoke.sh runs this file with AREION_PURE=1)
pass the same tests.
"""

from __future__ import annotations

import asyncio
import contextvars
from types import SimpleNamespace
from typing import Any

import pytest

from areion_core import HttpResponse
from areion_core._first_step import Handed, first_step, stepping
from areion_core.hook_chains import (
    HookLink,
    HookTimeout,
    PluginFailure,
    bounded,
    run_first,
    run_observers,
    run_received,
    run_replace,
    sole_link,
)

pytestmark = pytest.mark.smoke

LIMIT = 0.05


def request(limit: float = LIMIT) -> Any:
    return SimpleNamespace(app=SimpleNamespace(config=SimpleNamespace(hook_timeout=limit)), method="GET",
                           raw_path="/x", calls=[])


def link(name: str, fn: Any) -> HookLink:
    return HookLink(name, fn, asyncio.iscoroutinefunction(fn))


def test_an_async_hook_that_never_waits_is_answered_at_once() -> None:
    answer = HttpResponse("cached")

    async def passes(req: Any) -> None:
        req.calls.append("passes")

    async def answers(req: Any) -> HttpResponse:
        req.calls.append("answers")
        return answer

    async def never(req: Any) -> None:
        req.calls.append("never")

    req = request()
    # No loop is running: nothing here may need one.
    assert run_received((link("a", passes), link("b", answers), link("c", never)), req) is answer
    assert req.calls == ["passes", "answers"]


def test_an_async_response_ready_replaces_and_passes_in_order_without_an_awaitable() -> None:
    first = HttpResponse("first")

    async def replace(req: Any, response: HttpResponse) -> HttpResponse:
        req.calls.append(("replace", response.body))
        return HttpResponse(response.body + b"!")

    async def keep(req: Any, response: HttpResponse) -> None:
        req.calls.append(("keep", response.body))

    req = request()
    got = run_replace((link("r", replace), link("k", keep), link("r2", replace)), req, first)
    assert isinstance(got, HttpResponse) and got.body == b"first!!"
    assert req.calls == [("replace", b"first"), ("keep", b"first!"), ("replace", b"first!")]


@pytest.mark.parametrize("runner", ["received", "first", "replace"])
def test_an_exception_before_any_wait_is_a_plugin_failure_naming_plugin_and_hook(runner: str) -> None:
    error = ValueError("broken")

    async def raises(*args: Any) -> None:
        raise error

    chain = (link("breaker", raises),)
    with pytest.raises(PluginFailure) as info:
        if runner == "received":
            run_received(chain, request())
        elif runner == "first":
            run_first(chain, "exception", request(), RuntimeError())
        else:
            run_replace(chain, request(), HttpResponse("x"))
    hook = {"received": "request_received", "first": "exception", "replace": "response_ready"}[runner]
    assert (info.value.plugin, info.value.hook, info.value.original) == ("breaker", hook, error)


def test_a_base_exception_before_any_wait_passes_on_and_the_next_hook_still_runs() -> None:
    async def cancelled(req: Any) -> None:
        raise asyncio.CancelledError("gone")

    async def fine(req: Any) -> HttpResponse:
        return HttpResponse("fine")

    with pytest.raises(asyncio.CancelledError):
        run_received((link("c", cancelled),), request())
    got = run_received((link("f", fine),), request())
    assert isinstance(got, HttpResponse) and got.body == b"fine"


async def test_a_hook_that_waits_is_carried_on_in_order_and_its_value_used() -> None:
    async def waits(req: Any) -> HttpResponse | None:
        req.calls.append("waits")
        await asyncio.sleep(0)
        req.calls.append("woke")
        return None

    async def answers(req: Any) -> HttpResponse:
        await asyncio.sleep(0)
        req.calls.append("answers")
        return HttpResponse("late")

    req = request()
    pending = run_received((link("w", waits), link("a", answers)), req)
    assert not isinstance(pending, HttpResponse) and pending is not None
    assert req.calls == ["waits"]  # stepped once, then handed over
    got = await pending  # type: ignore[misc]
    assert isinstance(got, HttpResponse) and got.body == b"late"
    assert req.calls == ["waits", "woke", "answers"]


@pytest.mark.parametrize("runner", ["received", "replace", "started"])
async def test_a_hook_that_waits_past_its_limit_is_cancelled_and_a_hook_timeout(runner: str) -> None:
    seen: list[str] = []

    async def hangs(*args: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    chain = (link("hanger", hangs),)
    if runner == "received":
        pending: Any = run_received(chain, request())
    elif runner == "replace":
        pending = run_replace(chain, request(), HttpResponse("x"))
    else:
        pending = run_first(chain, "request_started", request())
    with pytest.raises(PluginFailure) as info:
        await asyncio.wait_for(pending, 5)
    assert info.value.plugin == "hanger" and isinstance(info.value.original, HookTimeout)
    assert seen == ["cancelled"]


async def test_a_hook_that_raises_after_waiting_is_a_plugin_failure_with_its_own_exception() -> None:
    error = KeyError("late")

    async def raises_later(req: Any, response: HttpResponse) -> None:
        await asyncio.sleep(0)
        raise error

    pending = run_replace((link("late", raises_later),), request(), HttpResponse("x"))
    with pytest.raises(PluginFailure) as info:
        await pending  # type: ignore[misc]
    assert (info.value.plugin, info.value.hook, info.value.original) == ("late", "response_ready", error)


async def test_an_observer_that_raises_after_waiting_is_logged_and_the_next_observer_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    async def raises_later(req: Any, response: HttpResponse) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("observer broke")

    async def notes(req: Any, response: HttpResponse) -> None:
        ran.append("notes")

    pending = run_observers((link("bad", raises_later), link("good", notes)), request(), HttpResponse("x"))
    assert pending is not None
    await pending
    assert ran == ["notes"]
    assert "plugin 'bad' raised in response_sent" in caplog.text


async def test_cancelling_the_request_reaches_a_waiting_hook_and_is_no_plugin_failure() -> None:
    seen: list[str] = []
    started = asyncio.Event()

    async def waits(req: Any) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def handle() -> Any:
        pending = run_received((link("w", waits),), request(limit=10))
        return await pending  # type: ignore[misc]

    task = asyncio.ensure_future(handle())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


async def test_context_variables_set_by_a_hook_are_seen_after_it_waiting_or_not() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def sets_at_once(req: Any) -> None:
        var.set("at once")

    async def sets_after_waiting(req: Any) -> None:
        req.calls.append(var.get())
        await asyncio.sleep(0)
        var.set("after waiting")

    req = request()
    assert run_received((link("a", sets_at_once),), req) is None
    assert var.get() == "at once"
    pending = run_received((link("b", sets_after_waiting),), req)
    await pending  # type: ignore[misc]
    assert req.calls == ["at once"] and var.get() == "after waiting"


async def test_a_hook_whose_first_step_runs_another_chain_gets_both_answers() -> None:
    async def inner(req: Any) -> HttpResponse:
        return HttpResponse("inner")

    async def outer(req: Any) -> HttpResponse:
        nested = run_received((link("inner", inner),), req)  # while outer's first step runs
        assert isinstance(nested, HttpResponse)
        return HttpResponse(b"outer+" + nested.body)

    got = run_received((link("outer", outer),), request())
    assert isinstance(got, HttpResponse) and got.body == b"outer+inner"


async def test_bounded_steps_a_coroutine_and_bounds_only_one_that_waits() -> None:
    async def at_once() -> str:
        return "done"

    async def hangs() -> None:
        await asyncio.Event().wait()

    assert await bounded(at_once(), "response_sent", LIMIT) == "done"
    with pytest.raises(HookTimeout):
        await bounded(hangs(), "response_sent", LIMIT)


async def test_a_handed_coroutine_is_passed_a_thrown_error() -> None:
    caught: list[BaseException] = []
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def waits(req: Any) -> str:
        try:
            await gate
        except ValueError as exc:
            caught.append(exc)
            return "recovered"
        return "not thrown"

    pending = run_received((link("w", waits),), request())
    assert pending is not None and caught == []
    gate.set_exception(ValueError("thrown"))
    with pytest.raises(PluginFailure) as info:  # "recovered" is not an HttpResponse
        await pending  # type: ignore[misc]
    assert isinstance(info.value.original, TypeError) and [str(e) for e in caught] == ["thrown"]


async def test_first_step_gives_a_value_an_exception_or_the_rest_to_await() -> None:
    async def value() -> int:
        return 7

    async def nothing() -> None:
        return None

    async def raises() -> None:
        raise LookupError("raised at once")

    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waits() -> str:
        return "woke: " + await gate

    assert first_step(value()) == 7 and first_step(nothing()) is None
    with pytest.raises(LookupError, match="raised at once"):
        first_step(raises())
    rest = first_step(waits())
    assert isinstance(rest, Handed) and rest.first is gate
    gate.set_result("yes")
    assert await rest == "woke: yes"


async def test_a_stepping_hook_is_a_plain_function_answering_at_once_or_handing_the_rest() -> None:
    async def hook(req: Any, wait: bool) -> str:
        req.calls.append("ran")
        if wait:
            await asyncio.sleep(0)
        return "answer"

    req = request()
    stepped = stepping(hook)
    assert stepped(req, False) == "answer" and req.calls == ["ran"]
    rest = stepped(req, True)
    assert isinstance(rest, Handed) and req.calls == ["ran", "ran"]
    assert await rest == "answer"


async def test_stepping_of_a_fixed_argument_count_answers_waits_and_raises_as_the_general_form() -> None:
    async def received(req: Any) -> str:
        req.calls.append("received")
        if req.wait:
            await asyncio.sleep(0)
        if req.fail:
            raise LookupError("hook failed")
        return "early"

    async def ready(req: Any, response: HttpResponse) -> HttpResponse:
        req.calls.append(f"ready {response.body!r}")
        if req.wait:
            await asyncio.sleep(0)
        return HttpResponse("replaced")

    one, two = stepping(received, 1), stepping(ready, 2)
    assert one.__name__ == "stepped_one" and two.__name__ == "stepped_two"
    req = request()
    req.wait = req.fail = False
    assert one(req) == "early"
    assert two(req, HttpResponse("x")).body == b"replaced"
    assert req.calls == ["received", "ready b'x'"]
    req.wait = True
    rest = one(req)
    assert isinstance(rest, Handed) and await rest == "early"
    later = two(req, HttpResponse("y"))
    assert isinstance(later, Handed) and (await later).body == b"replaced"
    req.wait, req.fail = False, True
    with pytest.raises(LookupError, match="hook failed"):
        one(req)
    with pytest.raises(TypeError):
        one(req, "one too many")


async def test_a_sole_async_link_is_stepped_with_its_hooks_argument_count() -> None:
    async def received(req: Any) -> None:
        return None

    async def ready(req: Any, response: HttpResponse) -> None:
        return None

    names = [(found[1].__name__ if (found := sole_link((link("p", fn),), hook)) else None)
             for fn, hook in ((received, "request_received"), (ready, "response_ready"), (ready, "other_hook"))]
    assert names == ["stepped_one", "stepped_two", "stepped"]


def test_observers_go_on_past_one_that_raises_or_returns_something_and_owe_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    def raises(req: Any, response: HttpResponse) -> None:
        ran.append("raises")
        raise RuntimeError("observer broke")

    def returns(req: Any, response: HttpResponse) -> str:
        ran.append("returns")
        return "ignored"  # not an awaitable: nothing to wait for

    async def notes(req: Any, response: HttpResponse) -> None:
        ran.append("notes")

    def last(req: Any, response: HttpResponse) -> None:
        ran.append("last")

    chain = (link("bad", raises), link("odd", returns), link("good", notes), link("last", last))
    assert run_observers(chain, request(), HttpResponse("x")) is None
    assert ran == ["raises", "returns", "notes", "last"]
    assert "plugin 'bad' raised in response_sent" in caplog.text
    assert "RuntimeError: observer broke" in caplog.text  # with its traceback
    assert "odd" not in caplog.text


def test_observer_links_need_only_be_sequences_of_name_function_and_kind() -> None:
    # The compiled loop reads a link's function from the tuple itself; a link of another
    # sequence type (a list made by hand) is indexed as Python indexes it.
    seen: list[str] = []
    chain = (("tuple", lambda req, response: seen.append("tuple"), False),
             ["list", lambda req, response: seen.append("list"), False])  # type: ignore[list-item]
    assert run_observers(chain, request(), HttpResponse("x")) is None  # type: ignore[arg-type]
    assert seen == ["tuple", "list"]
