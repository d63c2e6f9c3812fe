"""The showcase's observability routes: a handler that reports a metric of its own and opens a span.

The plugin itself serves ``/metrics``, ``/healthz`` and ``/readyz``; ``/dice`` shows what an
application adds: a ``Metric`` described once and counted through ``app.telemetry``, and a
span (a child of the request's server span when tracing is on:
``SHOWCASE_TRACING=true make run`` prints each trace on the console).
"""

from __future__ import annotations

import random

from areion_core import HttpRequest, Metric, Router

router = Router()

#: An application metric: described here, created by the recorder on first use.
DICE_ROLLS = Metric("showcase_dice_rolls_total", "counter", "Dice rolled on /dice, by face.", ("face",))


@router.get("/dice")
async def dice(request: HttpRequest) -> dict[str, int]:
    """Roll a die: counted in ``showcase_dice_rolls_total`` by face, inside a ``dice.roll`` span."""
    assert request.app is not None
    telemetry = request.app.telemetry
    with telemetry.span("dice.roll", sides=6):
        face = random.randint(1, 6)
    telemetry.inc(DICE_ROLLS, face=str(face))
    return {"face": face}
