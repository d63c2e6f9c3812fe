"""Rate limiting: a route's rule, the store's decision, the 429 and the IETF RateLimit headers.

The headers follow draft-ietf-httpapi-ratelimit-headers-10 (the fields are unchanged in -11):
``RateLimit-Policy: "<policy>";q=<quota>;w=<window seconds>`` says what the limit is, and
``RateLimit: "<policy>";r=<remaining>;t=<seconds until the quota resets>`` how much is left. A
refusal is a 429 problem+json whose ``Retry-After`` is the true wait (rounded up to a whole
second), never a guess.

When the store fails (Redis down) the limiter fails *open* — the request goes through,
without RateLimit headers — or *closed* — a 503 — as configured; either way the outage is
logged once when it starts and once when it ends, never once per request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from areion_core import HttpResponse, StandardMetrics, problem_response

from .rates import KeyFunc, Rate
from .stores import Decision, MemoryStore, RedisStore, retry_seconds

if TYPE_CHECKING:
    from areion_core import HttpRequest

    from .settings import RateLimitSettings

log = logging.getLogger("areion.security")
#: ``request.state`` key of the decision the response's RateLimit headers report.
STATE_KEY = "security.rate_limit"


@dataclass(frozen=True, slots=True)
class LimitRule:
    """The limit one route (or one method of it) gets: counted per ``scope`` and per key."""

    rate: Rate
    scope: str
    key: KeyFunc
    algorithm: str
    #: The route template, for the ``rate_limited`` metric's label.
    route: str
    #: The ``RateLimit-Policy`` value (an sf-string names the policy: the scope), made once.
    policy: str = field(init=False)
    _name: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        name = _sf_string(self.scope)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "policy", f"{name};q={self.rate.limit};w={self.rate.window}")

    def remaining(self, decision: Decision) -> str:
        """The ``RateLimit`` value for ``decision``."""
        return f"{self._name};r={decision.remaining};t={retry_seconds(decision.reset)}"


def _sf_string(text: str) -> str:
    """``text`` as a Structured Field string (RFC 8941 §3.3.3): quoted, ``\\`` and ``"`` escaped."""
    cleaned = "".join(c for c in text if " " <= c <= "~")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


class RateLimiter:
    """Counts requests in a store and turns decisions into responses or headers."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.settings = settings
        self.store: MemoryStore | RedisStore = (
            RedisStore(settings.redis, settings.prefix, settings.timeout) if settings.store == "redis"
            else MemoryStore())
        self.send_headers = settings.headers
        self.fail_open = settings.fail == "open"
        #: True while the store is failing (so the outage is logged once).
        self.outage = False

    def check(self, request: HttpRequest, rule: LimitRule) -> HttpResponse | Awaitable[HttpResponse | None] | None:
        """Count ``request``: None to let it through, a 429 (or 503) to refuse it."""
        key = rule.key(request)
        store = self.store
        if type(store) is MemoryStore:
            return self._decide(request, rule, store.hit(rule.scope, key, rule.rate, rule.algorithm))
        # The Redis store's future resolves with this request's answer (see _answer).
        future: Awaitable[HttpResponse | None] = store.hit_answer(  # type: ignore[union-attr]  # not memory
            rule.scope, key, rule.rate, rule.algorithm, self._answer, request, rule)
        return future

    def _answer(self, request: HttpRequest, rule: LimitRule, outcome: Decision | Exception) -> HttpResponse | None:
        """A waiting request's answer from the store's outcome: its decision, or its failure."""
        if isinstance(outcome, Exception):  # RedisError, OSError, timeouts: the store cannot decide
            return self._store_failed(outcome)
        if self.outage:
            self.outage = False
            log.warning("rate limits: the store answers again; limits are enforced")
        return self._decide(request, rule, outcome)

    def _store_failed(self, exc: Exception) -> HttpResponse | None:
        if not self.outage:
            self.outage = True
            log.error("rate limits: the store failed (%s: %s); failing %s until it answers again",
                      type(exc).__name__, exc, "open" if self.fail_open else "closed")
        if self.fail_open:
            return None
        return problem_response(503, "the rate limiter is unavailable", headers={"retry-after": "1"})

    def _decide(self, request: HttpRequest, rule: LimitRule, decision: Decision) -> HttpResponse | None:
        if decision.allowed:
            if self.send_headers:
                state = request.state
                if state is None:
                    state = request.state = {}
                state[STATE_KEY] = (rule, decision)
            return None
        app = request.app
        if app is not None:
            app.telemetry.inc(StandardMetrics.rate_limited, route=rule.route)
        headers = {"retry-after": str(retry_seconds(decision.retry_after))}
        if self.send_headers:
            headers["ratelimit-policy"] = rule.policy
            headers["ratelimit"] = rule.remaining(decision)
        return problem_response(
            429, f"rate limit of {rule.rate.limit} per {rule.rate.window} s exceeded; retry in "
                 f"{headers['retry-after']} s", headers=headers)

    async def close(self) -> None:
        """Close the store's connections (the Redis store's pool)."""
        if isinstance(self.store, RedisStore):
            await self.store.close()


def stamp_rate_limit(request: HttpRequest, response: HttpResponse) -> None:
    """Put the RateLimit headers of the request's decision on an allowed request's response."""
    state = request.state
    found: Any = state.get(STATE_KEY) if state else None
    if found is not None:
        rule, decision = found
        headers = response.headers
        headers["ratelimit-policy"] = rule.policy
        headers["ratelimit"] = rule.remaining(decision)
