"""The HTTP metrics: requests, durations, response sizes and requests in flight.

Labels are bounded by construction: the method (unknown ones become ``OTHER``), the route
*template* (``/users/{id}``; a request no route matched is ``unmatched``) and the status class
(``2xx``).

**Cost.** prometheus-client takes a lock and, across workers, writes a memory-mapped file
for every update: six updates a request cost about 4 µs, a third of what answering ``/json``
costs. So a request only adds to plain numbers of its series (:class:`_Series`: a count, two
sums, two lists of bucket counts, found with ``bisect``) — the event loop is one thread, so
nothing needs a lock — and :meth:`HttpMetrics.flush` moves them into the prometheus-client
metrics before every scrape this process answers and once a second (``FLUSH_INTERVAL``), so a
scrape answered by another worker sees this one's requests at most that late.
"""

from __future__ import annotations

import asyncio
import math
import time
from bisect import bisect_left as _bisect_left
from collections.abc import Collection
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from areion_core import HttpRequest, HttpResponse, Metric, Route

from .settings import MetricsSettings

#: ``request.state`` key: the bytes the connection had written before the request.
STATE_KEY = "observability.http"
UNMATCHED = "unmatched"
#: Seconds between two flushes into prometheus-client (what another worker's scrape waits at most).
FLUSH_INTERVAL = 1.0
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")
_perf_counter_ns = time.perf_counter_ns
_NS = 1_000_000_000

LABELS = ("method", "route", "status_class")
REQUESTS = Metric("areion_http_requests_total", "counter",
                  "HTTP requests answered, by method, route template and status class.", LABELS)
DURATION = Metric("areion_http_request_duration_seconds", "histogram",
                  "Time from the request being read to the response's last byte, by method, route template and "
                  "status class.",
                  LABELS)
SIZE = Metric("areion_http_response_size_bytes", "histogram",
              "Bytes written for each response (head and body), by method, route template and status class.",
              LABELS)
IN_FLIGHT = Metric("areion_http_requests_in_flight", "gauge", "HTTP requests being answered now.")


class _Series:
    """What one (method, route, status class) gathered since the last flush, and its children."""

    __slots__ = ("duration", "duration_buckets", "duration_sum", "requests", "size", "size_buckets", "size_sum")

    def __init__(self, requests: Any, duration: Any, size: Any, duration_bounds: int, size_bounds: int) -> None:
        self.requests, self.duration, self.size = requests, duration, size
        self.duration_sum = 0  # nanoseconds
        self.size_sum = 0
        # One slot per finite bound, and one past the last (+Inf).
        self.duration_buckets = [0] * (duration_bounds + 1)
        self.size_buckets = [0] * (size_bounds + 1)

    def flush(self) -> None:
        # Every request lands in one duration bucket: their sum is the request count.
        count = sum(self.duration_buckets)
        if not count:
            return
        self.requests.inc(count)
        _add_to_histogram(self.duration, self.duration_buckets, self.duration_sum / _NS)
        _add_to_histogram(self.size, self.size_buckets, self.size_sum)
        self.duration_sum = 0
        self.size_sum = 0


def _add_to_histogram(child: Any, buckets: list[int], total: float) -> None:
    """Add gathered observations to a prometheus-client histogram child.

    prometheus-client has no public call to add many observations at once; its histogram
    child keeps one value per bucket (non-cumulative) and one for the sum, each with ``inc``.
    """
    values = child._buckets
    for index, n in enumerate(buckets):
        if n:
            values[index].inc(n)
            buckets[index] = 0
    child._sum.inc(total)


class HttpMetrics:
    """Counts every request the app answers, except those to ``excluded`` routes (health probes)."""

    def __init__(self, registry: CollectorRegistry | None, settings: MetricsSettings,
                 excluded: Collection[Route] = ()) -> None:
        self._gather(settings, excluded)
        self.bind(registry)

    @classmethod
    def unbound(cls, settings: MetricsSettings, excluded: Collection[Route] = ()) -> HttpMetrics:
        """Ready to gather, its prometheus-client metrics made later by :meth:`bind`.

        The plugin makes it at configure time, so its hot hooks can be bound to ``started``
        and ``sent`` when the chains are compiled; prometheus-client's metrics are made at
        startup, once a worker is in multiprocess mode. ``excluded`` is read per request (the
        plugin passes its set, which ``route_added`` fills later).
        """
        metrics = cls.__new__(cls)
        metrics._gather(settings, excluded)
        return metrics

    def _gather(self, settings: MetricsSettings, excluded: Collection[Route]) -> None:
        self.settings = settings
        # In nanoseconds, whole (an infinite bound stays a float): the durations are the core's
        # clock readings, ints, and comparing ints is cheaper than ints with floats.
        self.duration_bounds = tuple(round(b * _NS) if math.isfinite(b) else b for b in settings.duration_buckets)
        # Whole numbers as ints when they are (the defaults): a response size is an int, and
        # comparing int with int is cheaper than int with float in the per-request bisect.
        self.size_bounds = tuple(int(b) if b == int(b) else b for b in settings.size_buckets)
        self.excluded = excluded
        #: Requests started and not yet sent in this process.
        self.active = 0
        self._series: dict[tuple[str, Route | None, int], _Series] = {}
        self._timer: asyncio.TimerHandle | None = None
        #: Whether :meth:`bind` made the prometheus-client metrics (a flush waits for them).
        self.bound = False

    def bind(self, registry: CollectorRegistry | None) -> None:
        """Make the prometheus-client metrics the gathered numbers are flushed into."""
        settings = self.settings
        self.requests = Counter(REQUESTS.name, REQUESTS.documentation, LABELS, registry=registry)
        self.duration = Histogram(DURATION.name, DURATION.documentation, LABELS, registry=registry,
                                  buckets=settings.duration_buckets)
        self.size = Histogram(SIZE.name, SIZE.documentation, LABELS, registry=registry,
                              buckets=settings.size_buckets)
        self.in_flight = Gauge(IN_FLIGHT.name, IN_FLIGHT.documentation, registry=registry,
                               multiprocess_mode="livesum")
        self.bound = True

    # --- the request's way (hot) ------------------------------------------------------------
    def started(self, request: HttpRequest) -> None:
        """``request_started``: note the start, count the request in flight."""
        if request.route in self.excluded:
            return
        # The duration runs from request.received_ns, the core's one clock reading per
        # request: only the bytes written so far are noted here.
        state = request.state
        if state is None:
            request.state = {STATE_KEY: request.conn.bytes_written}
        else:
            state[STATE_KEY] = request.conn.bytes_written
        self.active += 1

    def sent(self, request: HttpRequest, response: HttpResponse) -> None:
        """``response_sent``: add the request's duration, size and outcome to its series."""
        state = request.state
        before = state.pop(STATE_KEY, None) if state is not None else None
        if before is None:
            return  # an excluded route, or a request that began before the metrics did
        elapsed = _perf_counter_ns() - request.received_ns
        size = request.conn.bytes_written - before
        self.active -= 1
        key = (request.method, request.route, response.status_code // 100)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._new_series(*key)
        series.duration_sum += elapsed
        series.duration_buckets[_bisect_left(self.duration_bounds, elapsed)] += 1
        series.size_sum += size
        series.size_buckets[_bisect_left(self.size_bounds, size)] += 1

    def _new_series(self, method: str, route: Route | None, status: int) -> _Series:
        labels = (method if method in _METHODS else "OTHER",
                  route.path if route is not None else UNMATCHED,
                  _CLASSES[status] if 0 <= status < len(_CLASSES) else f"{status}xx")
        return _Series(self.requests.labels(*labels), self.duration.labels(*labels), self.size.labels(*labels),
                       len(self.duration_bounds), len(self.size_bounds))

    # --- into prometheus-client ---------------------------------------------------------------
    def flush(self) -> None:
        """Move what the requests gathered into the prometheus-client metrics."""
        if not self.bound:
            return  # before startup: no request was answered yet
        for series in self._series.values():
            series.flush()
        self.in_flight.set(self.active)

    def start_flushing(self, loop: asyncio.AbstractEventLoop) -> None:
        """Flush every ``FLUSH_INTERVAL`` seconds from now on (across workers)."""
        def tick() -> None:
            self.flush()
            self._timer = loop.call_later(FLUSH_INTERVAL, tick)

        self._timer = loop.call_later(FLUSH_INTERVAL, tick)

    def stop_flushing(self) -> None:
        """Stop the timer and flush what is left (at shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
