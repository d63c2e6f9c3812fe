"""_future_deadlines: hook_timeout for plain futures, one loop timer for all of them."""

from __future__ import annotations

import asyncio

from areion_core._future_deadlines import _COMPACT_AT, EXPIRED, FutureDeadlines


async def test_futures_not_done_by_their_deadline_are_cancelled_in_order_and_done_ones_are_left() -> None:
    loop = asyncio.get_running_loop()
    deadlines = FutureDeadlines(loop, 0.05)
    first, answered, later = loop.create_future(), loop.create_future(), loop.create_future()
    deadlines.add(first)
    deadlines.add(answered)
    answered.set_result("answer")
    await asyncio.sleep(0.03)
    deadlines.add(later)  # joins behind the others: its deadline comes last
    await asyncio.sleep(0.04)
    assert first.cancelled() and not later.done()
    assert answered.result() == "answer"
    await asyncio.sleep(0.05)
    assert later.cancelled()
    for future in (first, later):
        try:
            future.result()
        except asyncio.CancelledError as exc:
            assert exc.args == (EXPIRED,)  # tells the expiry from a cancellation of the request
    assert len(deadlines) == 0


async def test_a_future_stuck_at_the_front_does_not_keep_the_done_ones_behind_it() -> None:
    loop = asyncio.get_running_loop()
    deadlines = FutureDeadlines(loop, 60)
    stuck = loop.create_future()
    deadlines.add(stuck)
    for _ in range(3 * _COMPACT_AT):
        future = loop.create_future()
        deadlines.add(future)
        future.set_result(None)
    assert len(deadlines) <= _COMPACT_AT
    assert not stuck.done()
    stuck.cancel()
