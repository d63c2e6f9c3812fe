"""The recorder installed as ``app.telemetry``: Prometheus metrics made on first use, OpenTelemetry spans.

Other plugins describe what they report with an ``areion_core.Metric``; the first report of a
metric creates the prometheus-client object from that description, and each label set's child
is kept, so a later report costs two dictionary look-ups and the child's own update.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from areion_core import Metric, Telemetry

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

_NO_SPAN = Telemetry().span("")


class ObservabilityTelemetry(Telemetry):
    """Feeds ``app.telemetry`` reports to prometheus-client (``registry``) and spans to ``tracer``.

    ``registry`` None: metrics are off (reports return at once); ``tracer`` None: tracing is off.
    """

    def __init__(self, registry: CollectorRegistry | None, tracer: Tracer | None = None,
                 before_first_metric: Callable[[], object] | None = None) -> None:
        self.registry = registry
        self.tracer = tracer
        #: Called before a metric is made (the multiprocess switch must come first).
        self.before_first_metric = before_first_metric
        self.enabled = registry is not None
        self.tracing = tracer is not None
        self._metrics: dict[Metric, Any] = {}
        # (metric, label values in labelnames order) -> the prometheus-client child.
        self._children: dict[tuple[Metric, tuple[str, ...]], Any] = {}

    # --- metrics ------------------------------------------------------------------------------
    def metric(self, metric: Metric) -> Any:
        """The prometheus-client object for ``metric``, created in the registry on first use."""
        made = self._metrics.get(metric)
        if made is None:
            if self.before_first_metric is not None:
                self.before_first_metric()
            made = self._metrics[metric] = _create(metric, self.registry)
        return made

    def _child(self, metric: Metric, labels: dict[str, str]) -> Any:
        try:
            values = tuple([labels[name] for name in metric.labelnames]) if labels else ()
        except KeyError as exc:
            raise ValueError(f"{metric.name} needs the labels {', '.join(metric.labelnames)}, "
                             f"got {', '.join(labels) or 'none'}") from exc
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            if len(labels) != len(metric.labelnames):
                raise ValueError(f"{metric.name} takes the labels {', '.join(metric.labelnames) or 'none'}, "
                                 f"got {', '.join(labels)}")
            made = self.metric(metric)
            child = self._children[key] = made.labels(*values) if values else made
        return child

    def inc(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        if self.registry is not None:
            self._child(metric, labels).inc(amount)

    def dec(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        if self.registry is not None:
            self._child(metric, labels).dec(amount)

    def set(self, metric: Metric, value: float, **labels: str) -> None:
        if self.registry is not None:
            self._child(metric, labels).set(value)

    def observe(self, metric: Metric, value: float, **labels: str) -> None:
        if self.registry is not None:
            self._child(metric, labels).observe(value)

    # --- spans --------------------------------------------------------------------------------
    def span(self, name: str, **attributes: Any) -> AbstractContextManager[Any]:
        """A child of the current span (the request's server span inside a request)."""
        tracer = self.tracer
        if tracer is None:
            return _NO_SPAN
        return tracer.start_as_current_span(name, attributes=attributes or None)


def _create(metric: Metric, registry: CollectorRegistry | None) -> Any:
    """A prometheus-client metric as ``metric`` describes it (``registry`` None: unregistered)."""
    common: dict[str, Any] = {"labelnames": metric.labelnames, "registry": registry}
    if metric.kind == "counter":
        return Counter(metric.name, metric.documentation, **common)
    if metric.kind == "gauge":
        # livesum: across workers, the sum over the processes alive now (a dead worker's open
        # WebSockets or held lease are not anyone's any more). Ignored in a single process.
        return Gauge(metric.name, metric.documentation, multiprocess_mode="livesum", **common)
    if metric.kind == "histogram":
        if metric.buckets is not None:
            return Histogram(metric.name, metric.documentation, buckets=metric.buckets, **common)
        return Histogram(metric.name, metric.documentation, **common)
    raise ValueError(f"{metric.name}: unknown metric kind {metric.kind!r}")
