"""The targets the issues set, each checked against one run's figures.

A target is reported only when this run measured what it needs (its framework and its
scenario were selected); one whose framework failed is "not met". Issue 14's targets (Areion
as `make run` serves it, against the peers users pick for speed, and what the access log
and the plugins cost) come first, in ``check_issue14_targets``; the earlier issues' follow
in ``check_targets``. The earlier throughput and latency targets compare the tuned Areion
row with the pure-Python peers running without an access log, the set they were set
against; the native-server peers and the ``+log`` rows have targets of their own here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from _frameworks import Kind
from _results import Measurement, Results

MET = "met"
NOT_MET = "**not met**"
NOT_JUDGED = "not judged"

#: (scenario, minimum ratio of Areion to the fastest peer, where the target comes from)
THROUGHPUT_TARGETS: tuple[tuple[str, float, str], ...] = (
    ("json", 1.5, "issues 2, 9"),
    ("plaintext", 1.5, "issue 9"),
    ("params", 1.5, "issue 9"),
    ("echo", 1.2, "issue 9"),
    ("static", 1.2, "issue 9"),
    ("json-close", 1.0, "issue 9 (ahead of every peer)"),
)
#: The template page against Starlette's Jinja2Templates (the only peer serving it).
TEMPLATE_TARGETS: tuple[tuple[str, float, str], ...] = (("table", 1.5, "issue 7"),)
CEILING_SCENARIO, CEILING_MINIMUM = "json", 0.5
PLUGIN_SCENARIO, PLUGIN_TOLERANCE = "json", 0.03
#: The interleaved comparisons (issue 14); issue 3's target reads it when it ran.
OVERHEAD_SCENARIO = "overhead"
DEFAULT, BARE = "areion-default", "areion-bare"
#: The scenarios of issue 9's "every shared scenario" (64 connections): not the burst.
ISSUE9_SCENARIOS = tuple(name for name, _, _ in THROUGHPUT_TARGETS)
IDLE_RSS_LIMIT_MB = 40.0
IDLE_RSS_SCENARIO = "json"


@dataclass(frozen=True)
class Ratio:
    """A target between two measurements of this run: ``a`` ≥ ``minimum`` × ``b``."""

    target: str
    source: str
    a: tuple[str, str]  # (framework, scenario)
    b: tuple[str, str]
    minimum: float
    #: The same comparison in the interleaved overhead scenario, (variant, base): when it ran,
    #: the target is judged on the median of the rounds' variant ÷ base (``paired_cost``),
    #: the single runs of ``a`` and ``b`` (minutes apart) shown beside it.
    interleaved: tuple[str, str] | None = None


#: Areion against itself: the cache (issue 4) and the cached compression (issue 5).
RATIO_TARGETS: tuple[Ratio, ...] = (
    Ratio(
        "Cache hit (memory store) ≥ 90% of plain `GET /json`",
        "issue 4", ("areion", "cache-hit"), ("areion", "json"), 0.9,
        interleaved=("areion-cache-hit", "areion"),
    ),
    Ratio(
        "The 5 ms endpoint through the memory cache ≥ 20× uncached (one connection)",
        "issue 4", ("areion", "slow-cached-c1"), ("areion", "slow-uncached-c1"), 20.0,
    ),
    Ratio(
        "The 5 ms endpoint through the Redis cache ≥ 10× uncached (one connection)",
        "issue 4", ("areion-redis", "slow-cached-c1"), ("areion", "slow-uncached-c1"), 10.0,
    ),
    Ratio(
        "Cache hit, Redis store with its local tier ≥ 80% of a memory-store hit (64 connections)",
        "issue 21", ("areion-redis", "cache-hit"), ("areion", "cache-hit"), 0.8,
        interleaved=("areion-redis-cache-hit", "areion-cache-hit"),
    ),
    Ratio(
        "50 KB JSON, brotli: cached ≥ 5× compressed on every request",
        "issue 5", ("areion", "big-br"), ("areion", "big-br-uncached"), 5.0,
    ),
)  # fmt: skip
WORKERS_ONE, WORKERS_TWO, WORKERS_SCENARIO = "areion-workers1", "areion-workers2", "workers"


@dataclass(frozen=True)
class TargetCheck:
    target: str
    source: str
    measured: str
    status: str


def _failed(measurement: Measurement) -> str:
    error = (measurement.error or "").replace("|", "/").replace("\n", " ")
    return f"{measurement.framework.name} failed: {error}"


def _rate(measurement: Measurement) -> str:
    return f"{measurement.framework.name} {measurement.rps:,.0f}/s"


def _throughput(
    results: Results, targets: tuple[tuple[str, float, str], ...] = THROUGHPUT_TARGETS
) -> Iterator[TargetCheck]:
    for scenario, minimum, source in targets:
        areion = results.get("areion", scenario)
        peer = results.fastest_peer(scenario)
        if areion is None or peer is None:
            continue
        target = (
            f"{areion.scenario.title}: Areion ≥ {minimum:.1f}× the fastest peer "
            "(pure-Python, no access log)"
        )
        if not areion.ok:
            yield TargetCheck(target, source, _failed(areion), NOT_MET)
            continue
        ratio = areion.rps / peer.rps
        measured = f"{ratio:.2f}× ({_rate(areion)} vs {_rate(peer)})"
        yield TargetCheck(target, source, measured, MET if ratio >= minimum else NOT_MET)


def _ahead(results: Results) -> Iterator[TargetCheck]:
    """Ahead of every peer on every shared scenario: the smallest of the ratios above."""
    ratios: list[tuple[float, str]] = []
    seen: set[str] = set()
    for measurement in results.measurements:
        scenario = measurement.scenario
        if scenario.name in seen or scenario.name not in ISSUE9_SCENARIOS:
            continue
        seen.add(scenario.name)
        areion = results.get("areion", scenario.name)
        peer = results.fastest_peer(scenario.name)
        if areion is None or peer is None:
            continue
        if not areion.ok:
            yield TargetCheck(
                "Areion ahead of every peer on every shared scenario", "issue 9",
                _failed(areion), NOT_MET,
            )  # fmt: skip
            return
        ratios.append((areion.rps / peer.rps, f"{scenario.name} vs {peer.framework.name}"))
    if not ratios:
        return
    lowest, where = min(ratios)
    measured = f"lowest {lowest:.2f}× ({where}) over {len(ratios)} scenarios"
    status = MET if lowest > 1.0 else NOT_MET
    yield TargetCheck(
        "Areion ahead of every peer on every shared scenario", "issue 9", measured, status
    )


def _ceiling(results: Results) -> Iterator[TargetCheck]:
    areion = results.get("areion", CEILING_SCENARIO)
    raw = results.get("raw", CEILING_SCENARIO)
    target = f"`GET /json`: Areion ≥ {CEILING_MINIMUM:.0%} of the raw ceiling"
    # Judged on the interleaved rounds when the overhead scenario ran both.
    interleaved = _interleaved_ratio(results, Ratio(
        target, "issue 9", ("areion", CEILING_SCENARIO), ("raw", CEILING_SCENARIO),
        CEILING_MINIMUM, interleaved=("areion", "raw"),
    ))  # fmt: skip
    if interleaved is not None:
        yield interleaved
        return
    if areion is None or raw is None:
        return
    if not (areion.ok and raw.ok):
        failed = areion if not areion.ok else raw
        yield TargetCheck(target, "issue 9", _failed(failed), NOT_MET)
        return
    ratio = areion.rps / raw.rps
    measured = f"{ratio:.0%} ({_rate(areion)} vs {_rate(raw)})"
    yield TargetCheck(target, "issue 9", measured, MET if ratio >= CEILING_MINIMUM else NOT_MET)


def _p99(results: Results) -> Iterator[TargetCheck]:
    seen: set[str] = set()
    for measurement in results.measurements:
        scenario = measurement.scenario
        if scenario.name in seen or scenario.name not in ISSUE9_SCENARIOS:
            continue
        seen.add(scenario.name)
        areion = results.get("areion", scenario.name)
        best = results.best_peer_p99(scenario.name)
        if areion is None or best is None or best.result is None:
            continue
        target = f"{scenario.title}: Areion's p99 ≤ the best peer's"
        if not areion.ok or areion.result is None:
            yield TargetCheck(target, "issue 9", _failed(areion), NOT_MET)
            continue
        mine, theirs = areion.result.p99_ms, best.result.p99_ms
        measured = f"{mine:.2f} ms vs {theirs:.2f} ms ({best.framework.name})"
        yield TargetCheck(target, "issue 9", measured, MET if mine <= theirs else NOT_MET)


def _errors(results: Results) -> Iterator[TargetCheck]:
    # The current code's variants: a before-row (--before) runs an earlier revision.
    mine = [
        m for m in results.measurements
        if m.framework.kind is Kind.AREION and m.framework.before_of is None
    ]  # fmt: skip
    if not mine:
        return
    target = "Areion (every variant): zero socket errors and no error responses, every scenario"
    failed = [m for m in mine if not m.ok]
    if failed:
        yield TargetCheck(target, "issues 2, 9", _failed(failed[0]), NOT_MET)
        return
    bad = [
        f"{m.framework.name} {m.scenario.name}: {m.result.socket_errors_text()} socket, "
        f"{m.result.http_errors} HTTP"
        for m in mine
        if m.result is not None and (m.result.socket_errors or m.result.http_errors)
    ]
    measured = "; ".join(bad) if bad else f"0 in {len(mine)} measurements"
    yield TargetCheck(target, "issues 2, 9", measured, NOT_MET if bad else MET)


def _plugin_overhead(results: Results) -> Iterator[TargetCheck]:
    """Issue 3 from the matrix's single `json` figures; when the interleaved `overhead`
    scenario ran, issue 14's line judges the same thing from it instead."""
    if results.rounds("areion", OVERHEAD_SCENARIO) and results.rounds(
        "areion-bare", OVERHEAD_SCENARIO
    ):
        return
    full = results.get("areion", PLUGIN_SCENARIO)
    bare = results.get("areion-bare", PLUGIN_SCENARIO)
    if full is None or bare is None:
        return
    target = (
        f"{full.scenario.title}: every plugin enabled costs ≤ {PLUGIN_TOLERANCE:.0%} "
        "against no plugins"
    )
    if not (full.ok and bare.ok):
        yield TargetCheck(target, "issue 3", _failed(full if not full.ok else bare), NOT_MET)
        return
    ratio = full.rps / bare.rps
    measured = f"{ratio:.1%} ({_rate(full)} vs {_rate(bare)})"
    status = MET if ratio >= 1 - PLUGIN_TOLERANCE else NOT_MET
    yield TargetCheck(target, "issue 3", measured, status)


def _ratios(results: Results) -> Iterator[TargetCheck]:
    for ratio in RATIO_TARGETS:
        interleaved = _interleaved_ratio(results, ratio)
        if interleaved is not None:
            yield interleaved
            continue
        a, b = results.get(*ratio.a), results.get(*ratio.b)
        if a is None or b is None:
            continue
        if not (a.ok and b.ok):
            yield TargetCheck(ratio.target, ratio.source, _failed(a if not a.ok else b), NOT_MET)
            continue
        value = a.rps / b.rps
        shown = f"{value:.0%}" if ratio.minimum < 1 else f"{value:.1f}×"
        measured = (
            f"{shown} ({a.framework.name} {a.scenario.name} {a.rps:,.0f}/s vs "
            f"{b.framework.name} {b.scenario.name} {b.rps:,.0f}/s)"
        )
        yield TargetCheck(
            ratio.target, ratio.source, measured, MET if value >= ratio.minimum else NOT_MET
        )


def _interleaved_ratio(results: Results, ratio: Ratio) -> TargetCheck | None:
    """``ratio`` judged on its interleaved rounds, when the overhead scenario ran them."""
    if ratio.interleaved is None:
        return None
    variant, base = ratio.interleaved
    mine, theirs = results.rounds(variant, OVERHEAD_SCENARIO), results.rounds(base, OVERHEAD_SCENARIO)
    if not mine or not theirs:
        return None
    bare = results.rounds(BARE, OVERHEAD_SCENARIO)
    failed = [m for m in (*mine, *theirs, *bare) if not m.ok]
    if failed:
        return TargetCheck(ratio.target, ratio.source, _failed(failed[0]), NOT_MET)
    value, paired = paired_ratio(mine, theirs, bare)
    each = f", each against the {BARE} slices beside it" if bare else ""
    measured = (
        f"{value:.0%} (median of {paired} interleaved rounds' {variant} ÷ {base}{each}, on "
        "`GET /json`; "
        f"by the rounds' upper quartiles {1 - upper_quartile_cost(mine, theirs):.0%}; "
        f"means {_mean_rps(mine):,.0f}/s vs {_mean_rps(theirs):,.0f}/s)"
    )
    a, b = results.get(*ratio.a), results.get(*ratio.b)
    if a is not None and b is not None and a.ok and b.ok:
        measured += (
            f"; single runs minutes apart: {a.framework.name} {a.scenario.name} {a.rps:,.0f}/s vs "
            f"{b.framework.name} {b.scenario.name} {b.rps:,.0f}/s, {a.rps / b.rps:.0%}"
        )
    return TargetCheck(ratio.target, ratio.source, measured, MET if value >= ratio.minimum else NOT_MET)


def _workers(results: Results) -> Iterator[TargetCheck]:
    """Two workers against one. Judged (≥ 1.5×) only when the workers had CPUs of their own;
    on a 2-CPU machine they share wrk's and the figure measures contention."""
    one = results.get(WORKERS_ONE, WORKERS_SCENARIO)
    two = results.get(WORKERS_TWO, WORKERS_SCENARIO)
    if one is None or two is None:
        return
    target = "`GET /json`, 2 workers against 1: throughput scales with cores (≥ 1.5×)"
    if not (one.ok and two.ok):
        yield TargetCheck(target, "issue 9", _failed(one if not one.ok else two), NOT_MET)
        return
    value = two.rps / one.rps
    measured = f"{value:.2f}× (2 workers {two.rps:,.0f}/s vs 1 worker {one.rps:,.0f}/s)"
    if two.shares_client_cpu:
        where = f"CPUs {two.server_cpus}" if two.server_cpus else "unpinned"
        measured += f"; servers on {where}, wrk's CPU included"
        status = f"{NOT_JUDGED} (wrk shares the workers' CPUs: contention, not scaling)"
    else:
        measured += f"; servers on CPUs {two.server_cpus}"
        status = MET if value >= 1.5 else NOT_MET
    yield TargetCheck(target, "issue 9", measured, status)


def _idle_rss(results: Results) -> Iterator[TargetCheck]:
    mine = [m for m in results.measurements if m.framework.name == "areion"]
    if not mine:
        return
    target = f"Areion idle worker RSS, every plugin loaded, < {IDLE_RSS_LIMIT_MB:.0f} MB"
    sampled = [m for m in mine if m.idle_rss_kib]
    if not sampled:
        yield TargetCheck(target, "issue 9", _failed(mine[0]), NOT_MET)
        return
    idle_mb = idle_rss_mb(results, "areion")
    measured = f"{idle_mb:.1f} MB"
    bare = idle_rss_mb(results, "areion-bare")
    if bare:
        measured += f" (no plugins: {bare:.1f} MB)"
    status = MET if idle_mb < IDLE_RSS_LIMIT_MB else NOT_MET
    yield TargetCheck(target, "issue 9", measured, status)


def idle_rss_mb(results: Results, framework: str) -> float:
    """Idle RSS after the first answer to ``GET /json`` when measured, else the lowest."""
    preferred = results.get(framework, IDLE_RSS_SCENARIO)
    if preferred is not None and preferred.idle_rss_kib:
        return preferred.idle_rss_kib / 1024
    sampled = [
        m.idle_rss_kib for m in results.measurements
        if m.framework.name == framework and m.idle_rss_kib
    ]  # fmt: skip
    return min(sampled, default=0) / 1024


def check_targets(results: Results) -> list[TargetCheck]:
    """Every target this run can judge, in the order the report lists them."""
    return [
        *_throughput(results),
        *_ahead(results),
        *_ceiling(results),
        *_p99(results),
        *_errors(results),
        *_plugin_overhead(results),
        *_ratios(results),
        *_throughput(results, TEMPLATE_TARGETS),
        *_workers(results),
        *_idle_rss(results),
        *_invalidation(results),
    ]


#: Issue 21: "an overwrite or invalidation on any host evicts the local copy everywhere
#: within 50 ms".
INVALIDATION_P99_MS = 50.0


def _invalidation(results: Results) -> Iterator[TargetCheck]:
    for figure in results.invalidation:
        target = (
            f"Cache invalidation between two processes through Redis ({figure.mode}): "
            f"p99 ≤ {INVALIDATION_P99_MS:.0f} ms"
        )
        if figure.error:
            yield TargetCheck(target, "issue 21", f"failed: {figure.error}", NOT_MET)
            continue
        measured = (
            f"p99 {figure.p99_ms:.2f} ms (p50 {figure.p50_ms:.2f} ms, max {figure.max_ms:.2f} ms, "
            f"{figure.count} invalidations)"
        )
        yield TargetCheck(
            target, "issue 21", measured, MET if figure.p99_ms <= INVALIDATION_P99_MS else NOT_MET
        )


# ── Issue 14: Areion as `make run` serves it, the fast peers, what the log and plugins cost ──

ISSUE14 = "issue 14"
BURST_SCENARIO = "burst"
#: (target, framework a, framework b, minimum of a ÷ b), on `json`.
ISSUE14_PEER_RATIOS: tuple[tuple[str, str, str, float], ...] = (
    ("`areion-default` ≥ 1.0× Robyn", DEFAULT, "robyn", 1.0),
    ("`areion-default` ≥ 1.0× Emmett55 on Granian", DEFAULT, "emmett55-granian", 1.0),
    ("`areion-bare` ≥ 0.85× socketify", BARE, "socketify", 0.85),
)
#: (target, variant, largest cost against areion-bare), interleaved on `overhead`.
ISSUE14_COSTS: tuple[tuple[str, str, float], ...] = (
    ("access log on vs off (no plugin)", "areion-log", 0.10),
    ("a plugin with one sync request_received and one sync response_ready vs none", "areion-hooks", 0.10),
    ("the same plugin with async hooks that finish without suspending vs none", "areion-hooks-async", 0.10),
    ("the example plugin (request_id) alone vs none", "areion-request-id", 0.10),
    ("the official plugins idle on /json, installed vs none (issues 3, 14)", "areion", 0.03),
    ("the observability plugin with metrics on vs none (issue 20)", "areion-metrics", 0.10),
    ("the observability plugin with tracing on at sampling 0, metrics off, vs none (issue 20)",
     "areion-tracing0", 0.05),
)
#: (Areion row, uvicorn on the asyncio loop with the same logging, largest p99 ratio).
ISSUE14_BURST: tuple[tuple[str, str, float], ...] = (
    (DEFAULT, "starlette-asyncio+log", 2.0),
    (BARE, "starlette-asyncio", 2.0),
)
PYTHON_LOG_MINIMUM = 1.5


def _rate_ratio(target: str, a: Measurement, b: Measurement, minimum: float) -> TargetCheck:
    if not (a.ok and b.ok):
        return TargetCheck(target, ISSUE14, _failed(a if not a.ok else b), NOT_MET)
    value = a.rps / b.rps
    measured = f"{value:.2f}× ({_rate(a)} vs {_rate(b)})"
    return TargetCheck(target, ISSUE14, measured, MET if value >= minimum else NOT_MET)


def _issue14_python_log(results: Results) -> Iterator[TargetCheck]:
    """areion-default against the fastest pure-Python peer that runs with its access log."""
    mine = results.get(DEFAULT, "json")
    peer = results.fastest_peer("json", native=False, access_log=True)
    if mine is None or peer is None:
        return
    target = (
        f"`GET /json`: `areion-default` ≥ {PYTHON_LOG_MINIMUM:.1f}× the fastest pure-Python "
        "peer running with its access log on"
    )
    yield _rate_ratio(target, mine, peer, PYTHON_LOG_MINIMUM)


def _issue14_peers(results: Results) -> Iterator[TargetCheck]:
    for text, a_name, b_name, minimum in ISSUE14_PEER_RATIOS:
        a, b = results.get(a_name, "json"), results.get(b_name, "json")
        if a is None or b is None:
            continue
        yield _rate_ratio(f"`GET /json`: {text}", a, b, minimum)


#: areion-bare's second process in the interleaved scenario: the same code, so what it
#: "costs" is the comparison's own error, shown beside every cost.
CONTROL = "areion-bare-control"


def _control(results: Results, bare: list[Measurement]) -> str:
    control = results.rounds(CONTROL, OVERHEAD_SCENARIO)
    if not control or not all(m.ok for m in (*control, *bare)):
        return ""
    median, _ = paired_cost(control, bare)
    return (f"; the control, {CONTROL} (the same code): {median:.1%} by the median of ratios, "
            f"{upper_quartile_cost(control, bare):.1%} by upper quartiles")


def _mean_rps(rounds: list[Measurement]) -> float:
    return sum(m.rps for m in rounds) / len(rounds)


def relative_figures(variant: list[Measurement], base: list[Measurement]) -> dict[int, float]:
    """Round by round, ``variant``'s requests/s over ``base``'s: over the mean of the base's
    slices just before and after it in a bracketed scenario (``Scenario.bracket``), else over
    the base's slice of the same round; the plain requests/s when there is no base. The base
    against itself is 1 in every round."""
    if variant and base and variant[0].framework.name == base[0].framework.name:
        return {m.round: 1.0 for m in variant}
    by_slot = {m.slot: m.rps for m in base if m.slot}
    by_round = {m.round: m.rps for m in base}
    figures: dict[int, float] = {}
    for m in variant:
        beside = [by_slot[s] for s in (m.slot - 1, m.slot + 1) if m.slot and s in by_slot]
        reference = sum(beside) / len(beside) if beside else by_round.get(m.round, 0.0)
        if not base:
            figures[m.round] = m.rps
        elif reference:
            figures[m.round] = m.rps / reference
    return figures


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no round in common")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def paired_cost(variant: list[Measurement], bare: list[Measurement]) -> tuple[float, int]:
    """What ``variant`` costs against ``bare`` in an interleaved scenario: one minus the median,
    over the rounds, of the variant's requests/s over bare's beside it (``relative_figures``);
    and how many rounds that is.

    Paired this way, a slow spell of the machine (a neighbour's burst lasts seconds to tens of
    seconds on a shared VM) lowers both sides of a round's ratio rather than one row's mean;
    the median leaves out the one round in a few that such a spell splits.
    """
    ratios = list(relative_figures(variant, bare).values())
    return 1 - _median(ratios), len(ratios)


def paired_ratio(
    a: list[Measurement], b: list[Measurement], base: list[Measurement]
) -> tuple[float, int]:
    """``a`` over ``b`` in an interleaved scenario: the median over the rounds both ran of the
    one's figure over the other's, each relative to ``base`` beside it (``relative_figures``;
    with a base measured in the same round, that is ``a``'s requests/s over ``b``'s); and how
    many rounds that is."""
    mine, theirs = relative_figures(a, base), relative_figures(b, base)
    ratios = [mine[r] / theirs[r] for r in mine if theirs.get(r)]
    return _median(ratios), len(ratios)


def upper_quartile(figures: list[float]) -> float:
    """The upper quartile of ``figures`` (linear interpolation between the two nearest ranks)."""
    ordered = sorted(figures)
    if not ordered:
        raise ValueError("no figures")
    position = 0.75 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def upper_quartile_cost(variant: list[Measurement], bare: list[Measurement]) -> float:
    """What ``variant`` costs against ``bare`` in an interleaved scenario by a second reading,
    shown beside the judged one (``paired_cost``): one minus the ratio of their rounds' upper
    quartiles of requests/s.

    This VM's noise is one-sided: a neighbour's burst takes 5-15% off the throughput for a
    second or three and never adds to it. A round's ratio is off by as much whenever its two
    slices fall on different sides of a burst; the upper quartile of each row's rounds stays
    among its undisturbed slices (bench/README.md, "Interleaved comparisons").
    """
    return 1 - upper_quartile([m.rps for m in variant]) / upper_quartile([m.rps for m in bare])


def _issue14_costs(results: Results) -> Iterator[TargetCheck]:
    bare = results.rounds(BARE, OVERHEAD_SCENARIO)
    if not bare:
        return
    for text, variant, tolerance in ISSUE14_COSTS:
        rounds = results.rounds(variant, OVERHEAD_SCENARIO)
        if not rounds:
            continue
        target = (
            f"`GET /json`, interleaved: {text} costs ≤ {tolerance:.0%} "
            f"(`{variant}` vs `{BARE}`)"
        )
        failed = [m for m in (*rounds, *bare) if not m.ok]
        if failed:
            yield TargetCheck(target, ISSUE14, _failed(failed[0]), NOT_MET)
            continue
        cost, paired = paired_cost(rounds, bare)
        mine, theirs = _mean_rps(rounds), _mean_rps(bare)
        measured = (
            f"cost {cost:.1%} (median of {paired} rounds' {variant} ÷ the {BARE} slices beside "
            "it; by the rounds' "
            f"upper quartiles {upper_quartile_cost(rounds, bare):.1%}; means {mine:,.0f}/s vs "
            f"{theirs:,.0f}/s, {1 - mine / theirs:.1%}{_control(results, bare)})"
        )
        yield TargetCheck(target, ISSUE14, measured, MET if cost <= tolerance else NOT_MET)


def _issue14_burst(results: Results) -> Iterator[TargetCheck]:
    for mine_name, uvicorn_name, maximum in ISSUE14_BURST:
        mine = results.get(mine_name, BURST_SCENARIO)
        uvicorn = results.get(uvicorn_name, BURST_SCENARIO)
        if mine is None or uvicorn is None:
            continue
        target = (
            f"Burst p99: `{mine_name}` ≤ {maximum:.0f}× uvicorn on the asyncio loop "
            f"(`{uvicorn_name}`)"
        )
        if not (mine.ok and uvicorn.ok) or mine.result is None or uvicorn.result is None:
            yield TargetCheck(target, ISSUE14, _failed(mine if not mine.ok else uvicorn), NOT_MET)
            continue
        a, b = mine.result, uvicorn.result
        value = a.p99_ms / b.p99_ms if b.p99_ms else float("inf")
        measured = (
            f"{value:.2f}× (p99 {a.p99_ms:.1f} ms vs {b.p99_ms:.1f} ms; max {a.max_ms:.0f} "
            f"vs {b.max_ms:.0f} ms)"
        )
        yield TargetCheck(target, ISSUE14, measured, MET if value <= maximum else NOT_MET)


def check_issue14_targets(results: Results) -> list[TargetCheck]:
    """Issue 14's targets this run can judge, in the order the report lists them."""
    return [
        *_issue14_python_log(results),
        *_issue14_peers(results),
        *_issue14_costs(results),
        *_issue14_burst(results),
    ]
