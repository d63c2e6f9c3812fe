"""What one run of the suite measured, and the comparisons the report and targets need."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from _codec_table import CodecFigure
from _frameworks import Framework, Kind
from _scenarios import Scenario
from _wrk import WrkResult


@dataclass
class Measurement:
    """One framework on one scenario: wrk's figures, or why there are none."""

    framework: Framework
    scenario: Scenario
    log: Path
    result: WrkResult | None = None
    error: str | None = None
    idle_rss_kib: int = 0
    peak_rss_kib: int = 0
    #: Things that make the figure suspect without failing it (a chatty server log, …).
    warnings: list[str] = field(default_factory=list)
    #: The CPUs the server was allowed on (``taskset -c`` syntax), or "" when not pinned.
    server_cpus: str = ""
    #: Whether the server could run on wrk's CPU (not pinned away from it).
    shares_client_cpu: bool = False
    #: wrk's ``-c`` for this measurement.
    connections: int = 0
    #: The last correct answer's body, decoded (the codec table compresses ``/big``'s).
    sample: bytes = b""
    #: wrk's ``-t`` and the measured seconds asked for.
    threads: int = 0
    duration_s: int = 0
    #: The round of an interleaved scenario (1, 2, …); 1 elsewhere.
    round: int = 1
    #: Its place in the run's plan (1, 2, …): in a bracketed scenario (``Scenario.bracket``),
    #: a variant's slice is paired with the base's slices at the places beside it.
    slot: int = 0
    #: Per try of the measured run, the highest share of a CPU it used (server's, wrk's)
    #: that the hypervisor took (``_steal.py``): more than one try when one took too much.
    steal: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.error is None

    @property
    def rps(self) -> float:
        return self.result.requests_per_s if self.result is not None and self.ok else 0.0


@dataclass(frozen=True)
class Propagation:
    """Cache invalidations between two processes through Redis (bench/invalidation.py), one
    mode: how many were measured, and their p50, p99 and max in ms; ``error`` when it failed."""

    mode: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    error: str = ""


@dataclass
class Results:
    """Every measurement of a run, in the order taken."""

    measurements: list[Measurement] = field(default_factory=list)
    #: The compression codecs on ``/big``'s body, when the ``big-br`` scenario ran.
    codecs: list[CodecFigure] = field(default_factory=list)
    #: Where the codec table's document came from.
    codec_document: str = ""
    #: Invalidation propagation (``--invalidation N``), one figure per mode.
    invalidation: list[Propagation] = field(default_factory=list)

    def add(self, measurement: Measurement) -> None:
        self.measurements.append(measurement)

    def for_scenario(self, scenario: str) -> list[Measurement]:
        return [m for m in self.measurements if m.scenario.name == scenario]

    def get(self, framework: str, scenario: str) -> Measurement | None:
        for measurement in self.measurements:
            if measurement.framework.name == framework and measurement.scenario.name == scenario:
                return measurement
        return None

    def rounds(self, framework: str, scenario: str) -> list[Measurement]:
        """Every measurement of ``framework`` on ``scenario`` (the rounds of an interleaved
        scenario), in the order taken."""
        return [
            m for m in self.measurements
            if m.framework.name == framework and m.scenario.name == scenario
        ]  # fmt: skip

    def peers(
        self, scenario: str, *, native: bool | None = False, access_log: bool | None = False
    ) -> list[Measurement]:
        """The peers that answered ``scenario`` (never Areion, never the raw ceiling). By
        default the reference set of the earlier targets: pure-Python servers without an
        access log; ``None`` takes either kind."""
        return [
            m for m in self.for_scenario(scenario)
            if m.framework.kind is Kind.PEER and m.ok
            and (native is None or m.framework.native is native)
            and (access_log is None or m.framework.access_log is access_log)
        ]  # fmt: skip

    def fastest_peer(
        self, scenario: str, *, native: bool | None = False, access_log: bool | None = False
    ) -> Measurement | None:
        """The peer with the most requests/s among ``peers(...)``."""
        return max(
            self.peers(scenario, native=native, access_log=access_log),
            key=lambda m: m.rps,
            default=None,
        )

    def best_peer_p99(self, scenario: str) -> Measurement | None:
        """The reference peer (pure-Python, no access log) with the lowest p99."""
        return min(
            self.peers(scenario),
            key=lambda m: m.result.p99_ms if m.result else 0.0,
            default=None,
        )
