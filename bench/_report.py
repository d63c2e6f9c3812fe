"""Writing ``RESULTS.md``: the machine, the versions, one table per scenario, the targets."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from _codec_table import CodecFigure
from _frameworks import Framework, Kind
from _results import Measurement, Results
from _scenarios import Scenario
from _targets import IDLE_RSS_SCENARIO, check_targets, idle_rss_mb
from _wrk import wrk_version

#: Distributions whose versions the report states (Areion's own are found by name).
PACKAGES = (
    "aiohttp", "blacksheep", "falcon", "fastapi", "pydantic", "sanic", "starlette",
    "uvicorn", "httptools", "uvloop", "orjson", "pluggy", "jinja2", "brotli", "zstandard",
    "redis",
)  # fmt: skip


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


def _cell_rps(measurement: Measurement) -> str:
    return f"{measurement.rps:,.0f}" if measurement.ok else "failed (see Failures)"


def _cell_mb(kib: int) -> str:
    return f"{kib / 1024:.1f}" if kib else "–"


def _scenario_setup(rows: list[Measurement], settings: RunSettings) -> list[str]:
    """What differs from the run's defaults: wrk's connections, the servers' CPUs."""
    said = []
    connections = {m.connections for m in rows if m.connections}
    if connections and connections != {settings.connections}:
        said.append("wrk `-c" + "`, `-c".join(str(c) for c in sorted(connections)) + "`")
    default_cpu = str(settings.server_cpu) if settings.server_cpu is not None else ""
    for m in rows:
        if m.server_cpus != default_cpu:
            where = f"CPUs {m.server_cpus}" if m.server_cpus else "not pinned"
            said.append(f"{m.framework.name} on {where}")
    return [f"Here: {'; '.join(said)}.", ""] if said else []


def _scenario_table(results: Results, scenario: Scenario, settings: RunSettings) -> list[str]:
    rows = results.for_scenario(scenario.name)
    fastest = results.fastest_peer(scenario.name)
    lines = [f"### {scenario.title}", ""]
    if scenario.notes:
        lines += [scenario.notes, ""]
    lines += _scenario_setup(rows, settings)
    lines += [
        (
            "| Framework | Requests/s | × fastest peer | p50 ms | p99 ms | Socket errors "
            "| HTTP ≥ 400 | Peak RSS MB |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in sorted(rows, key=lambda m: (not m.ok, -m.rps)):
        name = m.framework.name
        if m.framework.kind is Kind.CEILING:
            name += " (ceiling)"
        if m.ok and m.result is not None:
            ratio = f"{m.rps / fastest.rps:.2f}×" if fastest else "–"
            r = m.result
            cells = [
                _cell_rps(m), ratio, f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}",
                r.socket_errors_text(), str(r.http_errors), _cell_mb(m.peak_rss_kib),
            ]  # fmt: skip
        else:
            cells = [_cell_rps(m), "–", "–", "–", "–", "–", _cell_mb(m.peak_rss_kib)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if fastest is not None:
        lines += ["", f"Fastest peer: {fastest.framework.name}."]
    return [*lines, ""]


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
    for framework in frameworks:
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
        (
            f"- {wrk_version()}: `-t{settings.threads} -c{settings.connections}`, "
            f"{settings.warmup_s} s warm-up then {settings.duration_s} s measured, "
            f"keep-alive unless the scenario says otherwise; {pinning}; "
            "every server single-process, a fresh process per scenario"
        ),
        f"- Command: `{settings.command_line}`",
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
    checks = check_targets(results)
    if checks:
        lines += ["| Target | From | Measured | Result |", "| --- | --- | --- | --- |"]
        lines += [f"| {c.target} | {c.source} | {c.measured} | {c.status} |" for c in checks]
    else:
        lines.append("None measured in this run (Areion or the peers were not selected).")
    lines += ["", "## Scenarios", ""]
    for scenario in scenarios:
        if results.for_scenario(scenario.name):
            lines += _scenario_table(results, scenario, settings)
    lines += _codec_table(results)
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
    lines += [f"- **{f.name}**: {f.description}" for f in frameworks if f.name in used]
    lines.append("")
    lines += _warnings(results)
    lines += _failures(results)
    return "\n".join(lines)


def now() -> datetime:
    return datetime.now(UTC)
