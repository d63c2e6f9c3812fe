"""What plugins report through: metrics and trace spans.

The core records nothing itself. ``app.telemetry`` is a :class:`Telemetry`, whose methods do
nothing, until a plugin (areion-observability) installs a recorder of its own in its
``configure`` hook. Plugins therefore report unconditionally, at the cost of one method call
that returns at once, and read ``app.telemetry`` when they report (or at ``startup``), never
in ``configure``, where the recorder may not be installed yet.

A metric is described by a :class:`Metric` — name, kind, help text and label names — so a
recorder can create it the first time it is reported, with no registration step. The
metrics Areion's own plugins report are listed in :class:`StandardMetrics` (and in
``docs/plugins.md``); a third-party plugin defines its own ``Metric`` constants the same way.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal

MetricKind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric a plugin reports: Prometheus naming (``areion_…``, counters end in ``_total``)."""

    name: str
    kind: MetricKind
    documentation: str
    labelnames: tuple[str, ...] = ()
    #: Histogram bucket upper bounds in the metric's unit (None: the recorder's default).
    buckets: tuple[float, ...] | None = None


_NO_SPAN: AbstractContextManager[None] = nullcontext()


class Telemetry:
    """The recorder plugins report to (``app.telemetry``); this base records nothing.

    Label values are passed as keyword arguments named as in the metric's ``labelnames``.
    Keep label values bounded — a route *template*, an encoding, a job name — never a raw
    path or a client address.
    """

    #: False while nothing records; a plugin may skip computing a costly value when False.
    enabled: bool = False
    #: True when spans are recorded (tracing on and sampling).
    tracing: bool = False

    def inc(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to a counter or a gauge."""

    def dec(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        """Subtract ``amount`` from a gauge."""

    def set(self, metric: Metric, value: float, **labels: str) -> None:
        """Set a gauge."""

    def observe(self, metric: Metric, value: float, **labels: str) -> None:
        """Record one observation in a histogram (durations in seconds, sizes in bytes)."""

    def span(self, name: str, **attributes: Any) -> AbstractContextManager[Any]:
        """A context manager around work worth a trace span (child of the request's span)."""
        return _NO_SPAN


class StandardMetrics:
    """The metrics Areion's own plugins report (names are a contract, like hook names)."""

    cache_lookups = Metric(
        "areion_cache_lookups_total", "counter",
        "Response-cache lookups by route template and result (hit, miss, stale).", ("route", "result"))
    compression_saved_bytes = Metric(
        "areion_compression_saved_bytes_total", "counter",
        "Bytes saved by response compression, by encoding.", ("encoding",))
    job_runs = Metric(
        "areion_job_runs_total", "counter",
        "Scheduled job runs by job and outcome (success, failure).", ("job", "outcome"))
    job_duration = Metric(
        "areion_job_duration_seconds", "histogram", "Scheduled job run time by job.", ("job",))
    job_lease_held = Metric(
        "areion_job_lease_held", "gauge",
        "1 while this process holds the scheduler's lease (runs the jobs), else 0.")
    websockets_open = Metric(
        "areion_websockets_open", "gauge", "Open WebSocket connections by route template.", ("route",))
    websocket_messages = Metric(
        "areion_websocket_messages_total", "counter",
        "WebSocket messages by route template and direction (in, out).", ("route", "direction"))
    rate_limited = Metric(
        "areion_rate_limited_total", "counter", "Requests refused by a rate limit, by route template.", ("route",))
