"""Writing ``RESULTS.md``: the machine, the versions, one table per scenario, the targets."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from _before import BeforeTree
from _codec_table import CodecFigure
from _frameworks import Framework, Kind
from _results import Measurement, Results
from _scenarios import Scenario
from _targets import (
    IDLE_RSS_SCENARIO,
    TargetCheck,
    check_issue14_targets,
    check_targets,
    idle_rss_mb,
    paired_cost,
    upper_quartile_cost,
)
from _wrk import wrk_version

#: Distributions whose versions the report states (Areion's own are found by name).
PACKAGES = (
    "aiohttp", "blacksheep", "falcon", "fastapi", "pydantic", "sanic", "starlette",
    "litestar", "msgspec", "robyn", "socketify", "emmett55", "emmett-core", "granian",
    "uvicorn", "httptools", "uvloop", "orjson", "pluggy", "jinja2", "brotli", "zstandard",
    "redis",
)  # fmt: skip
#: The row every table starts with: Areion as `make run` serves it.
FIRST_ROW = "areion-default"


@dataclass(frozen=True)
class RunSettings:
    duration_s: int
    warmup_s: int
    threads: int
    connections: int
    server_cpu: int | None
    client_cpu: int | None
    command_line: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    started: datetime
    finished: datetime
    #: redis-server's version when a scenario used the private Redis.
    redis: str | None = None
    #: ``--before REV``: the earlier revision the before-rows ran.
    before: BeforeTree | None = None
    #: The settling run (``--settle``): "framework on scenario, N s", or "" for none.
    settle: str = ""


#: A one-minute load average above this before the run means someone else was using the
#: machine (a quiet 2-core machine sits well below it).
BUSY_LOAD = 0.5


def _busy_warning(settings: RunSettings) -> list[str]:
    if settings.load_before[0] <= BUSY_LOAD:
        return []
    load = settings.load_before[0]
    return [
        (
            f"**Warning: the machine was busy when the run began (load {load:.2f}). These "
            "figures are not comparable with a quiet machine's; take final numbers on a quiet "
            "one.**"
        ),
        "",
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _versions() -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().startswith("areion"):
            found[name] = dist.version
    return sorted(found.items(), key=lambda item: (not item[0].startswith("areion"), item[0]))


def _areion_build() -> str:
    """Which build of areion_core's compiled modules the Areion rows run (they inherit this
    process's environment, AREION_PURE included)."""
    try:
        import importlib

        from areion_core import _compiled
    except ImportError as exc:
        return f"unknown ({exc})"
    compiled = [name for name in _compiled.MODULES
                if _compiled.is_compiled(importlib.import_module(f"areion_core.{name}"))]
    if not compiled:
        return "pure Python" + (" (AREION_PURE=1)" if os.environ.get("AREION_PURE") == "1" else "")
    return f"compiled with Cython: {', '.join(compiled)} (areion_core/_compiled.py)"


def _cell_rps(measurement: Measurement) -> str:
    return f"{measurement.rps:,.0f}" if measurement.ok else "failed (see Failures)"


def _cell_mb(kib: int) -> str:
    return f"{kib / 1024:.1f}" if kib else "–"


def _scenario_setup(rows: list[Measurement], settings: RunSettings) -> list[str]:
    """What differs from the run's defaults: wrk's threads, connections and duration, the
    servers' CPUs."""
    said = []
    connections = {m.connections for m in rows if m.connections}
    if connections and connections != {settings.connections}:
        said.append("wrk `-c" + "`, `-c".join(str(c) for c in sorted(connections)) + "`")
    threads = {m.threads for m in rows if m.threads}
    if threads and threads != {settings.threads}:
        said.append("wrk `-t" + "`, `-t".join(str(t) for t in sorted(threads)) + "`")
    durations = {m.duration_s for m in rows if m.duration_s}
    if durations and durations != {settings.duration_s}:
        said.append(" and ".join(f"{d} s" for d in sorted(durations)) + " measured")
    default_cpu = str(settings.server_cpu) if settings.server_cpu is not None else ""
    for m in rows:
        if m.server_cpus != default_cpu:
            where = f"CPUs {m.server_cpus}" if m.server_cpus else "not pinned"
            said.append(f"{m.framework.name} on {where}")
    return [f"Here: {'; '.join(said)}.", ""] if said else []


def _row_name(m: Measurement) -> str:
    name = m.framework.name
    if m.framework.kind is Kind.CEILING:
        name += " (ceiling)"
    elif m.framework.native:
        name += " (native)"
    return f"**{name}**" if m.framework.name == FIRST_ROW else name


def _table_order(rows: list[Measurement]) -> list[Measurement]:
    """`areion-default` first, then fastest first, failures last."""
    return sorted(rows, key=lambda m: (m.framework.name != FIRST_ROW, not m.ok, -m.rps))


def _scenario_table(
    results: Results, scenario: Scenario, settings: RunSettings, frameworks: list[Framework]
) -> list[str]:
    if scenario.rounds > 1:
        return _interleaved_table(results, scenario, settings)
    # --before-rounds repeats the before-pairs: the scenario's table shows each row's first round.
    rows = [m for m in results.for_scenario(scenario.name) if m.round == 1]
    fastest = results.fastest_peer(scenario.name)
    lines = [f"### {scenario.title}", ""]
    if scenario.notes:
        lines += [scenario.notes, ""]
    lines += _scenario_setup(rows, settings)
    lines += [
        (
            "| Framework | Access log | Requests/s | × ref | p50 ms | p99 ms | max ms "
            "| Socket errors | HTTP ≥ 400 | Peak RSS MB |"
        ),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in _table_order(rows):
        logged = "on" if m.framework.access_log else "–"
        if m.ok and m.result is not None:
            ratio = f"{m.rps / fastest.rps:.2f}×" if fastest else "–"
            r = m.result
            cells = [
                logged, _cell_rps(m), ratio, f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}",
                f"{r.max_ms:.1f}", r.socket_errors_text(), str(r.http_errors),
                _cell_mb(m.peak_rss_kib),
            ]  # fmt: skip
        else:
            cells = [logged, _cell_rps(m), *["–"] * 7, _cell_mb(m.peak_rss_kib)]
        lines.append(f"| {_row_name(m)} | " + " | ".join(cells) + " |")
    if fastest is not None:
        lines += [
            "",
            f"× ref: against {fastest.framework.name}, the fastest pure-Python peer without "
            "an access log (the reference of the earlier targets).",
        ]
    lines += _left_out_and_caveats(rows, scenario, frameworks)
    return [*lines, ""]


def _left_out_and_caveats(
    rows: list[Measurement], scenario: Scenario, frameworks: list[Framework]
) -> list[str]:
    said = []
    for m in {m.framework.name: m for m in rows}.values():
        caveat = m.framework.caveat(scenario.name)
        if caveat:
            said.append(f"- {m.framework.name}: {caveat}.")
    for framework in {f.name: f for f in frameworks}.values():
        reason = framework.skip_reason(scenario.name)
        if reason and scenario.serves(framework.name, framework.matrix):
            said.append(f"- {framework.name} is left out: {reason}.")
    return ["", *said] if said else []


def _interleaved_table(
    results: Results, scenario: Scenario, settings: RunSettings
) -> list[str]:
    """One row per framework: each round's requests/s (or body MiB/s), the mean, and the mean
    against the first framework measured (areion-bare) — or, when peers take part (upload),
    against the peer with the highest mean."""
    rows = results.for_scenario(scenario.name)
    measured = list(dict.fromkeys(m.framework.name for m in rows))
    names = [name for name in scenario.order if name in measured]
    names += [name for name in measured if name not in names]
    lines = [f"### {scenario.title}", ""]
    if scenario.notes:
        lines += [scenario.notes, ""]
    lines += _scenario_setup(rows, settings)
    rounds = max(m.round for m in rows)
    scale, unit, digits = (scenario.body_mib, "MiB/s", 1) if scenario.body_rate else (1.0, "req/s", 0)
    means: dict[str, float] = {}
    for name in names:
        mine = results.rounds(name, scenario.name)
        answered = [m for m in mine if m.ok]
        # A mean over fewer rounds than the others would not be comparable: none at all.
        means[name] = (
            sum(m.rps for m in answered) / len(answered) if len(answered) == len(mine) else 0.0
        )
    peers = [m.framework.name for m in rows if m.framework.kind is Kind.PEER]
    reference = max(peers, key=lambda name: means[name]) if peers else names[0]
    label = f"× fastest peer ({reference})" if peers else f"× {reference}"
    # Against a row of the same code base (no peers): the median of the rounds' ratios (what
    # the targets judge) and the ratio of the rows' upper quartiles over the rounds.
    paired_head = "" if peers else (
        f" Median of the rounds' ÷ {reference} | Upper quartile ÷ {reference}'s |"
    )
    reference_rounds = results.rounds(reference, scenario.name)
    # Many short rounds (a resident scenario): the lowest, median and highest round, not each.
    columns = (
        [f"Round {i} {unit}" for i in range(1, rounds + 1)] if rounds <= MAX_ROUND_COLUMNS
        else [f"Lowest round {unit}", f"Median round {unit}", f"Highest round {unit}"]
    )  # fmt: skip
    lines += [
        "| Framework | Access log | " + " | ".join(columns)
        + f" | Mean {unit} | {label} |{paired_head} p99 ms (mean) | Socket errors | HTTP ≥ 400 |",
        "| --- | --- | " + " | ".join(["---:"] * (len(columns) + 5 + 2 * bool(paired_head))) + " |",
    ]
    for name in names:
        mine = results.rounds(name, scenario.name)
        # A bracketed scenario's base runs several slices a round: a round's cell is their mean.
        by_round: dict[int, list[Measurement]] = {}
        for m in mine:
            by_round.setdefault(m.round, []).append(m)
        cells = [
            next((_cell_rps(m) for m in group if not m.ok), None)
            or f"{sum(m.rps for m in group) / len(group) * scale:,.{digits}f}"
            for group in by_round.values()
        ] + ["–"] * (rounds - len(by_round))
        if rounds > MAX_ROUND_COLUMNS:
            round_means = sorted(
                sum(m.rps for m in group) / len(group) * scale
                for group in by_round.values() if all(m.ok for m in group)
            )  # fmt: skip
            cells = _spread(round_means, digits, len(by_round))
        figures = [m.result for m in mine if m.ok and m.result is not None]
        mean = means[name]
        if not mean or not means[reference]:
            ratio = "–"
        elif peers:
            ratio = f"{mean / means[reference]:.3f}×"
        else:
            ratio = f"{mean / means[reference]:.1%}"
        p99 = f"{sum(r.p99_ms for r in figures) / len(figures):.2f}" if figures else "–"
        errors = sum(r.socket_errors for r in figures)
        status = sum(r.http_errors for r in figures)
        logged = "on" if mine[0].framework.access_log else "–"
        paired = ""
        if paired_head:
            usable = ratio != "–" and all(m.ok for m in reference_rounds)
            paired = (
                f" {1 - paired_cost(mine, reference_rounds)[0]:.1%} |"
                f" {1 - upper_quartile_cost(mine, reference_rounds):.1%} |"
            ) if usable and all(m.ok for m in mine) else " – | – |"
        lines.append(
            f"| {name} | {logged} | " + " | ".join(cells)
            + f" | {mean * scale:,.{digits}f} | {ratio} |{paired} {p99} | {errors} | {status} |"
        )
    return [*lines, ""]


#: An interleaved table shows each round's figure up to this many rounds.
MAX_ROUND_COLUMNS = 8


def _spread(figures: list[float], digits: int, rounds: int) -> list[str]:
    """The lowest, median and highest of a row's rounds (all three "–" when one failed)."""
    if not figures or len(figures) != rounds:
        return ["–"] * 3
    middle = len(figures) // 2
    median = figures[middle] if len(figures) % 2 else (figures[middle - 1] + figures[middle]) / 2
    return [f"{value:,.{digits}f}" for value in (figures[0], median, figures[-1])]


def _codec_table(results: Results) -> list[str]:
    if not results.codecs:
        return []
    lines = [
        "## Compression codecs",
        "",
        (
            "The compression plugin's codecs at their default levels, compressing "
            f"{results.codec_document}, measured in the runner's process with "
            "`time.process_time` (no server, no network)."
        ),
        "",
        (
            "| Algorithm | Default level | Compressed bytes | Ratio | CPU µs per response "
            "| Responses per CPU second |"
        ),
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for c in results.codecs:
        lines.append(_codec_row(c))
    return [*lines, ""]


def _invalidation_table(results: Results) -> list[str]:
    if not results.invalidation:
        return []
    lines = [
        "## Cache invalidation between processes",
        "",
        (
            "`--invalidation N` (bench/invalidation.py, after the matrix, on the private "
            "Redis): a writer process overwrites or invalidates a key that a reader process "
            "holds, N times, and each delay runs from the write being sent to the reader's "
            "copy being gone. `local-tier`: the Redis store's local tier, evicted by Redis "
            "CLIENT TRACKING; `memory-across-hosts`: memory stores kept coherent through "
            "pub/sub (`invalidate_across_hosts`)."
        ),
        "",
        "| Mode | Invalidations | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for f in results.invalidation:
        if f.error:
            lines.append(f"| {f.mode} | failed: {f.error} | – | – | – |")
        else:
            lines.append(
                f"| {f.mode} | {f.count} | {f.p50_ms:.2f} | {f.p99_ms:.2f} | {f.max_ms:.2f} |"
            )
    return [*lines, ""]


def _codec_row(c: CodecFigure) -> str:
    if c.error:
        return f"| {c.name} | {c.setting} | {c.error} | – | – | – |"
    return (
        f"| {c.name} | {c.setting} | {c.compressed:,} | {c.ratio:.1f}× | {c.cpu_us:,.0f} "
        f"| {c.per_cpu_second:,.0f} |"
    )


def _idle_table(results: Results, frameworks: list[Framework]) -> list[str]:
    lines = [
        "| Framework | Idle RSS MB | Highest peak RSS MB |",
        "| --- | ---: | ---: |",
    ]
    for framework in {f.name: f for f in frameworks}.values():
        mine = [m for m in results.measurements if m.framework.name == framework.name]
        if not mine:
            continue
        idle_kib = int(idle_rss_mb(results, framework.name) * 1024)
        peak = [m.peak_rss_kib for m in mine if m.peak_rss_kib]
        lines.append(
            f"| {framework.name} | {_cell_mb(idle_kib)} | {_cell_mb(max(peak, default=0))} |"
        )
    return [*lines, ""]


def _warnings(results: Results) -> list[str]:
    flagged = [m for m in results.measurements if m.warnings]
    if not flagged:
        return []
    lines = ["## Warnings", ""]
    for m in flagged:
        lines += [f"- **{m.framework.name}**, {m.scenario.name}: {w}" for w in m.warnings]
    return [*lines, ""]


def _failures(results: Results) -> list[str]:
    failed = [m for m in results.measurements if not m.ok]
    if not failed:
        return []
    lines = ["## Failures", ""]
    for m in failed:
        lines += [f"- **{m.framework.name}**, {m.scenario.name}: {m.error} (log: `{m.log}`)"]
        tail = _log_tail(m.log)
        if tail:
            lines += ["", "  ```", *(f"  {line}" for line in tail), "  ```"]
    return [*lines, ""]


def _log_tail(log: Path, count: int = 12) -> list[str]:
    try:
        return log.read_text(errors="replace").splitlines()[-count:]
    except OSError:
        return []


def render(
    results: Results,
    scenarios: list[Scenario],
    frameworks: list[Framework],
    settings: RunSettings,
) -> str:
    """The whole of ``RESULTS.md`` for one run."""
    load = ", ".join(f"{value:.2f}" for value in settings.load_before)
    load_after = ", ".join(f"{value:.2f}" for value in settings.load_after)
    pinning = (
        f"server on CPU {settings.server_cpu}, wrk on CPU {settings.client_cpu}"
        if settings.server_cpu is not None
        else "no CPU pinning (fewer than 2 CPUs)"
    )
    minutes = (settings.finished - settings.started).total_seconds() / 60
    lines = [
        "# Benchmark results",
        "",
        "Written by `bench/run.py`; do not edit by hand. How to read it: `bench/README.md`.",
        "",
        f"- Date: {settings.started.strftime('%Y-%m-%d %H:%M UTC')} ({minutes:.1f} min)",
        (
            f"- Machine: {os.cpu_count()} CPUs, {_cpu_model()}, {_memory_total()} RAM, "
            f"{platform.system()} {platform.release()}"
        ),
        f"- Load average before / after: {load} / {load_after}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- Areion build: {_areion_build()}; before-rows run their own tree's modules",
        (
            f"- {wrk_version()}: `-t{settings.threads} -c{settings.connections}`, "
            f"{settings.warmup_s} s warm-up then {settings.duration_s} s measured, "
            "keep-alive, unless a scenario says otherwise (its \"Here:\" line); "
            f"{pinning}; every server one worker process (Granian: a supervisor and one "
            "worker), a fresh process per scenario, its output to a file"
        ),
        f"- Command: `{settings.command_line}`",
        *(
            [f"- Settling run before the first measurement, its figures discarded: {settings.settle}"]
            if settings.settle
            else []
        ),
        *(
            [
                f"- Before-rows (`--before {settings.before.rev}`): commit "
                f"`{settings.before.sha}` ({settings.before.subject[:80]}"
                f"{'…' if len(settings.before.subject) > 80 else ''}), its tree in "
                f"`bench/.work/{settings.before.path.name}/`"
            ]
            if settings.before is not None
            else []
        ),
        "- Versions: " + ", ".join(f"{name} {version}" for name, version in _versions())
        + (f", redis-server {settings.redis} (private, on the server CPU)"
           if settings.redis else ""),
        "",
        (
            "Runs in one pass agree within a few percent; between passes they can differ by "
            "up to ~8%: treat gaps under 10% as ties."
        ),
        "",
        *_busy_warning(settings),
        "## Targets",
        "",
    ]
    issue14 = check_issue14_targets(results)
    checks = check_targets(results)
    if issue14:
        lines += [
            "### Issue 14: Areion as `make run` serves it, the fast peers, the costs",
            "",
            (
                "`areion-default` is the `make run` command (access log on, every installed "
                "plugin, the example plugin included); `areion-bare` the showcase with no "
                "plugin and no log. Peer rows with `+log` run with their access log on; "
                "(native) marks a server that is not Python."
            ),
            "",
            *_target_table(issue14),
            "",
        ]
    if checks:
        lines += (["### Earlier issues", ""] if issue14 else []) + _target_table(checks)
    if not issue14 and not checks:
        lines.append("None measured in this run (Areion or the peers were not selected).")
    lines.append("")
    if settings.before is not None:
        lines += _before_after(results, scenarios, settings.before)
    lines += ["## Scenarios", ""]
    for scenario in scenarios:
        if results.for_scenario(scenario.name):
            lines += _scenario_table(results, scenario, settings, frameworks)
    lines += _codec_table(results)
    lines += _invalidation_table(results)
    lines += [
        "## Memory",
        "",
        (
            "Idle: once the server has answered its first request, before any load: the "
            f"`{IDLE_RSS_SCENARIO}` scenario's when it ran, else the lowest of the framework's "
            "scenarios (a multi-worker server: its processes summed)."
        ),
        "",
    ]
    lines += _idle_table(results, frameworks)
    lines += ["## Frameworks", ""]
    used = {m.framework.name for m in results.measurements}
    listed = {f.name: f for f in frameworks if f.name in used}.values()
    lines += [f"- **{f.name}**: {f.description}" for f in listed]
    lines.append("")
    lines += _warnings(results)
    lines += _failures(results)
    return "\n".join(lines)


#: The current code may be this much slower than the before-row and still count as "within".
BEFORE_TOLERANCE = 0.05


def _pair_figures(rounds: list[Measurement]) -> tuple[float, float, str] | None:
    """Mean requests/s, mean p99 and the errors (socket errors, responses ≥ 400) over a
    row's rounds (one round outside the interleaved scenario); ``None`` when any failed."""
    figures = [m.result for m in rounds if m.ok and m.result is not None]
    if not rounds or len(figures) != len(rounds):
        return None
    rps = sum(m.rps for m in rounds) / len(rounds)
    sockets = sum(r.socket_errors for r in figures)
    status = sum(r.http_errors for r in figures)
    errors = f"{sockets} / {status}"
    return rps, sum(r.p99_ms for r in figures) / len(figures), errors


def _before_after(
    results: Results, scenarios: list[Scenario], before: BeforeTree
) -> list[str]:
    """Each current Areion row against the same row on the earlier revision's code, scenario
    by scenario: the two were measured back to back."""
    lines = [
        f"## Before and after (REV {before.short})",
        "",
        (
            f"`--before {before.rev}`: commit `{before.sha}`. Its tree (`git archive "
            f"{before.short} | tar -x`) is `bench/.work/{before.path.name}/`. Each "
            "before-row is its current row's command and configuration with that tree as "
            "the server's working directory and its `plugins/<name>` folders and "
            "`examples/plugin_example` on `PYTHONPATH`, so that the core, the showcase, the "
            "plugins and the example plugin (found through the installed entry points) are "
            "the old code; before any measurement the runner imported them as each "
            "before-row's server does and found every Areion module in the old tree"
            + _checked_sample(before)
            + "."
        ),
        "",
        (
            "**Each pair was measured back to back in this one run**: in every scenario the "
            "before-row's server started right after its current counterpart's stopped, with "
            "the same warm-up, duration, connections and CPUs, so that drift over the run hits "
            "both alike (in an interleaved scenario, each round; the figures are the means of "
            "the rounds). Now ÷ before is the current code's requests/s over the old code's; "
            f"below {1 - BEFORE_TOLERANCE:.2f} (the current code more than "
            f"{BEFORE_TOLERANCE:.0%} slower) is flagged. A pair is one run each unless the row says "
            "how many rounds (`--before-rounds N`: the pair ran N times, alternating, and the "
            "figures are the means): single runs of the same code can differ by much more than "
            "5% on a shared machine, so a flag on a single pair is a reason to measure again. "
            "Errors: socket errors / responses ≥ 400 (expected 0 / 0)."
        ),
        "",
        (
            "| Scenario | Row | Now req/s | Before req/s | Now ÷ before | Now p99 ms "
            f"| Before p99 ms | Within {BEFORE_TOLERANCE:.0%} | Errors now | Errors before |"
        ),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    judged, slower, failed = 0, [], []
    for scenario in scenarios:
        rows = results.for_scenario(scenario.name)
        pairs = dict.fromkeys(m.framework.before_of for m in rows if m.framework.before_of)
        for current in pairs:
            if current is None:
                continue
            old_name = next(m.framework.name for m in rows if m.framework.before_of == current)
            now = _pair_figures(results.rounds(current, scenario.name))
            old = _pair_figures(results.rounds(old_name, scenario.name))
            taken = len(results.rounds(current, scenario.name))
            label = scenario.name + (f" ({taken} rounds)" if taken > 1 else "")
            judged += 1
            if now is None or old is None:
                failed.append(f"{scenario.name} ({current})")
                lines.append(
                    f"| {label} | {current} | "
                    + (f"{now[0]:,.0f}" if now else "failed")
                    + " | "
                    + (f"{old[0]:,.0f}" if old else "failed")
                    + " | – | – | – | not shown (see Failures) | – | – |"
                )
                continue
            ratio = now[0] / old[0] if old[0] else float("inf")
            if ratio < 1 - BEFORE_TOLERANCE:
                verdict = f"**no: {1 - ratio:.1%} slower**"
                slower.append(f"{scenario.name} ({current}, {ratio:.3f})")
            elif ratio < 1:
                verdict = f"yes ({1 - ratio:.1%} slower)"
            else:
                verdict = f"yes ({ratio - 1:.1%} faster)"
            lines.append(
                f"| {label} | {current} | {now[0]:,.0f} | {old[0]:,.0f} | {ratio:.3f} "
                f"| {now[1]:.2f} | {old[1]:.2f} | {verdict} | {now[2]} | {old[2]} |"
            )
    if not judged:
        return [*lines[:2], "No before-row was measured beside its current row.", ""]
    if slower or failed:
        said = []
        if slower:
            said.append(
                f"more than {BEFORE_TOLERANCE:.0%} slower: " + ", ".join(slower)
            )
        if failed:
            said.append("failed: " + ", ".join(failed))
        summary = (
            f"Every pair within {BEFORE_TOLERANCE:.0%} of before: **no** "
            f"({len(slower) + len(failed)} of {judged}; {'; '.join(said)})."
        )
    else:
        summary = (
            f"Every pair within {BEFORE_TOLERANCE:.0%} of before: yes ({judged} pairs, one "
            "interleaved run)."
        )
    return [*lines, "", summary, ""]


def _checked_sample(before: BeforeTree) -> str:
    """Where the check found the core and the showcase, for the first before-row checked."""
    for name, files in before.checked.items():
        shown = [
            f"`{module}` from `{_under_work(files[module], before)}`"
            for module in ("areion_core", "examples.showcase.app")
            if module in files
        ]
        if shown:
            return f" ({name}: {', '.join(shown)}; {len(files)} Areion modules)"
    return ""


def _under_work(file: str, before: BeforeTree) -> str:
    path = Path(file)
    tree = before.path.resolve()
    if path.is_relative_to(tree):
        return f"bench/.work/{before.path.name}/{path.relative_to(tree)}"
    return file


def _target_table(checks: list[TargetCheck]) -> list[str]:
    return [
        "| Target | From | Measured | Result |",
        "| --- | --- | --- | --- |",
        *(f"| {c.target} | {c.source} | {c.measured} | {c.status} |" for c in checks),
    ]


def now() -> datetime:
    return datetime.now(UTC)
