"""Run the benchmark matrix: every selected framework on every selected scenario, in turn,
in one run, and write ``RESULTS.md``.

    python bench/run.py [--quick] [--duration 10] [--warmup 2] [--scenarios json,...]
                        [--frameworks areion,aiohttp,...] [--output bench/RESULTS.md]
                        [--before REV]

Each (scenario, framework) pair gets a fresh server process on a free port, pinned to one
CPU, and wrk (``-t1 -c64``; ``-t8 -c256`` for the burst) pinned to the other: warm-up, then
the measured run. A framework that fails to start, answers wrongly or dies is reported as
failed and the run goes on. The Areion-only scenarios run the Areion variants they name
(the Redis store on a private redis-server, one and two workers, the interleaved overhead
rows, round after round); after the load runs the compression codecs are timed in-process
on ``/big``'s body. ``--before REV`` adds Areion rows running an earlier revision's code,
each measured right after its current counterpart (``_before.py``). See ``bench/README.md``
for the method and how to read the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from _before import (
    BEFORE_ROWS,
    COUNTERPARTS,
    BeforeFailed,
    BeforeTree,
    check_imports,
    materialise,
    with_before_rows,
)
from _codec_table import measure_codecs
from _frameworks import FRAMEWORKS, FRAMEWORKS_BY_NAME, Framework, Kind
from _redis import PrivateRedis, RedisFailed, redis_version
from _report import RunSettings, now, render
from _results import Measurement, Propagation, Results
from _scenarios import SCENARIOS, SCENARIOS_BY_NAME, Scenario, write_static_dir
from _server import ServerFailed, ServerProcess, compact_log, cpu_list, free_port, request_once
from _steal import (
    RETRIES_OTHER,
    RETRIES_RESIDENT,
    STEAL_LIMIT,
    cpu_times,
    retry_pause,
    steal_share,
)
from _wrk import WrkResult, lua_script, run_wrk, run_ws_load
from invalidation import MODES as INVALIDATION_MODES
from invalidation import measure as measure_propagation

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
APPS_DIR = BENCH_DIR / "apps"
WORK_DIR = BENCH_DIR / ".work"
HOST = "127.0.0.1"
#: Seconds per measurement beyond warm-up and measured time: start, checks, stop.
OVERHEAD_S = 1
#: Server output during the measured run above this suggests an access log or debug
#: output left on, which would make the comparison unfair.
CHATTY_LOG_BYTES = 16 * 1024
#: Measured and warm-up seconds: by default, and with --quick (a fast full pass).
DEFAULT_DURATION, DEFAULT_WARMUP = 10, 2
QUICK_DURATION, QUICK_WARMUP = 3, 1
#: Seconds of the settling run (a first run of the plan's first measurement, discarded): the
#: first measurement of a run read 25% low without one (areion-default on /json, 2026-12-06:
#: 28.4k req/s, then 38-46k minutes later), as if the machine came up to speed under load.
DEFAULT_SETTLE, QUICK_SETTLE = 10, 3
#: The scenario whose answer is the document the codec table compresses.
CODEC_SCENARIO = "big-br"
#: ``--preset NAME``: scenarios and frameworks of one part of the suite (explicit
#: ``--scenarios`` / ``--frameworks`` still win).
PRESETS: dict[str, tuple[list[str], list[str]]] = {
    # What issue 14's targets need: /json, the burst and the interleaved overhead rows, with
    # Areion as `make run` serves it, the fast peers and every pure-Python peer with its log.
    "issue14": (
        ["json", "burst", "overhead"],
        [
            "areion-default", "areion-bare", "areion-log", "areion-hooks", "areion-hooks-async",
            "areion-request-id", "areion",
            "robyn", "emmett55-granian", "socketify", "starlette-asyncio",
            "starlette-asyncio+log", *(
                name for name, f in FRAMEWORKS_BY_NAME.items()
                if f.access_log and f.matrix and not f.native and f.kind is Kind.PEER
            ),
        ],
    ),
    # The peers issue 14 added, with the three Areion rows of the matrix, on every shared
    # scenario.
    "new-peers": (
        ["json", "plaintext", "params", "echo", "static", "json-close", "burst"],
        [
            "areion-default", "areion", "areion-bare", "robyn", "socketify", "litestar",
            "litestar+log", "emmett55-granian", "blacksheep-granian",
        ],
    ),
}  # fmt: skip


def _names(value: str, known: Mapping[str, object], what: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})"
        )
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a fast full pass: {QUICK_DURATION} s measured, {QUICK_WARMUP} s warm-up "
        "(--duration and --warmup still win)",
    )
    parser.add_argument(
        "--duration", type=int, default=None, help=f"measured seconds ({DEFAULT_DURATION})"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help=f"warm-up seconds ({DEFAULT_WARMUP})"
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="the scenarios and frameworks of one part: " + "; ".join(
            f"{name}: {', '.join(scenarios)}" for name, (scenarios, _) in PRESETS.items()
        ),
    )
    parser.add_argument(
        "--scenarios",
        type=lambda v: _names(v, SCENARIOS_BY_NAME, "scenario"),
        default=None,
        help="comma-separated, from: " + ", ".join(SCENARIOS_BY_NAME),
    )
    parser.add_argument(
        "--frameworks",
        type=lambda v: _names(v, {**FRAMEWORKS_BY_NAME, **BEFORE_ROWS}, "framework"),
        default=None,
        help="comma-separated, from: " + ", ".join(FRAMEWORKS_BY_NAME)
        + "; with --before also " + ", ".join(BEFORE_ROWS),
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        default=None,
        help="also run Areion as of git revision REV (e.g. ef0623c): "
        + ", ".join(f"{b} beside {c}" for b, c in BEFORE_ROWS.items())
        + ", each right after its counterpart in every scenario it runs (the ones named in "
        "--frameworks, or one per selected counterpart); REV's tree goes to "
        "bench/.work/before-<short sha>/",
    )
    parser.add_argument(
        "--before-rounds",
        type=int,
        default=1,
        metavar="N",
        help="with --before: measure each current/before pair of a one-round scenario N times, "
        "alternating, and compare the means (1: one each); other rows still run once",
    )
    parser.add_argument(
        "--invalidation",
        type=int,
        default=0,
        metavar="N",
        help="also measure N cache invalidations propagating between two processes through "
        "the private Redis (bench/invalidation.py: the Redis store's local tier and memory "
        "stores kept coherent across hosts), p50/p99/max in the report (0: not measured)",
    )
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "RESULTS.md")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c (64)")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t (1)")
    parser.add_argument("--server-cpu", type=int, default=1, help="CPU for the server (1)")
    parser.add_argument("--client-cpu", type=int, default=0, help="CPU for wrk (0)")
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=90.0,
        # Not 30: this VM's disk once stalled for a minute (100% iowait), and a server that
        # imports a dozen plugins waited for it.
        help="seconds to wait for a server (90)",
    )
    parser.add_argument(
        "--settle",
        type=int,
        default=None,
        help=f"seconds of a first, discarded run before the first measurement "
        f"({DEFAULT_SETTLE}; with --quick {QUICK_SETTLE}; 0: none)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        metavar="N",
        help="run each interleaved scenario N rounds instead of its own number (a quick check)",
    )
    parser.add_argument("--list", action="store_true", help="list frameworks and scenarios")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    everything = (list(SCENARIOS_BY_NAME), list(FRAMEWORKS_BY_NAME))
    preset_scenarios, preset_frameworks = PRESETS[args.preset] if args.preset else everything
    if args.scenarios is None:
        args.scenarios = preset_scenarios
    if args.frameworks is None:
        args.frameworks = preset_frameworks
    if args.duration is None:
        args.duration = QUICK_DURATION if args.quick else DEFAULT_DURATION
    if args.warmup is None:
        args.warmup = QUICK_WARMUP if args.quick else DEFAULT_WARMUP
    if args.settle is None:
        args.settle = QUICK_SETTLE if args.quick else DEFAULT_SETTLE
    if args.settle < 0:
        parser.error("--settle: 0 or more seconds")
    named_before = [name for name in args.frameworks if name in BEFORE_ROWS]
    if named_before and args.before is None:
        parser.error(f"{', '.join(named_before)}: a before-row needs --before REV")
    lonely = [name for name in named_before if BEFORE_ROWS[name] not in args.frameworks]
    if lonely:
        parser.error(
            "a before-row runs right after its current counterpart: add "
            + ", ".join(f"{BEFORE_ROWS[name]} (for {name})" for name in lonely)
            + " to --frameworks"
        )
    if args.before_rounds < 1:
        parser.error("--before-rounds: at least 1")
    if args.before_rounds > 1 and args.before is None:
        parser.error("--before-rounds repeats the before-pairs: it needs --before REV")
    if args.before is not None and not any(name in COUNTERPARTS for name in args.frameworks):
        parser.error(
            "--before adds rows beside " + ", ".join(COUNTERPARTS) + ": select one of them"
        )
    # The current rows; the before-rows named (None: one per selected counterpart).
    args.before_rows = named_before or None
    args.frameworks = [name for name in args.frameworks if name not in BEFORE_ROWS]
    return args


def server_env(framework: Framework, static_dir: Path, redis_url: str = "") -> dict[str, str]:
    """The inherited environment without any ``AREION_*`` setting (a shell's
    ``AREION_PLUGINS`` must not change what "areion" means), plus the framework's own with
    ``{static}`` and ``{redis_url}`` filled in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AREION_")}
    env.pop("PYTHONASYNCIODEBUG", None)
    env["AREION_BENCH_STATIC"] = str(static_dir)
    for name, value in framework.env.items():
        env[name] = value.format(static=static_dir, redis_url=redis_url)
    return env


def validate(port: int, scenario: Scenario, *, warm: bool = False,
             warm_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """One request outside the load: the answer must be the right one, not just fast.
    ``warm``: after the warm-up, when the scenario's warm headers (``X-Cache: HIT``) and the
    framework's (``warm_headers``) must hold too. Returns the decoded body."""
    reply = request_once(HOST, port, scenario)
    wrong = []
    if reply.status != 200:
        wrong.append(f"status {reply.status}")
    content_type = reply.content_type
    if scenario.content_type and not content_type.lower().startswith(scenario.content_type):
        wrong.append(f"Content-Type {content_type!r}")
    expected = scenario.expect_headers + (scenario.expect_headers_warm + warm_headers if warm else ())
    for name, value in expected:
        got = reply.headers.get(name.lower())
        if got is None or got.strip().lower() != value.lower():
            wrong.append(f"{name} {got!r} (expected {value!r})")
    try:
        body = reply.decoded_body()
    except Exception as error:  # a body that does not decode is a wrong answer
        wrong.append(f"body does not decode ({type(error).__name__}: {error})")
        body = b""
    else:
        if not scenario.check_body(body):
            wrong.append(f"body {body[:80]!r}{'…' if len(body) > 80 else ''}")
    if wrong:
        when = " after the warm-up" if warm else ""
        raise ServerFailed(f"{scenario.title} answered wrongly{when}: {', '.join(wrong)}")
    return body


def server_cpus(framework: Framework, args: argparse.Namespace, pinned: bool) -> set[int] | None:
    """Where the server may run: the server CPU; for a variant that is not pinned, every CPU
    but wrk's — or, on a 2-CPU machine, every CPU (see the README)."""
    if not pinned:
        return None
    if framework.pinned:
        return {args.server_cpu}
    every = set(range(os.cpu_count() or 1))
    others = every - {args.client_cpu}
    return others if len(others) >= 2 else every


@dataclass
class Resident:
    """A server of a resident scenario (``Scenario.resident``): started, checked and warmed up
    in its first round, measured again in each later one, stopped after the scenario."""

    framework: Framework
    server: ServerProcess
    port: int
    log: Path
    idle_rss_kib: int


def measure(
    framework: Framework,
    scenario: Scenario,
    args: argparse.Namespace,
    *,
    script: Path,
    static_dir: Path,
    log_dir: Path,
    pinned: bool,
    redis: PrivateRedis | None,
    round_: int = 1,
    resident: dict[str, Resident] | None = None,
    slot: int = 0,
) -> Measurement:
    """One measured run of ``framework`` on ``scenario``: a fresh server, checked, warmed up,
    measured, stopped — or, given ``resident`` (the scenario's servers so far), the server
    ``resident`` holds for the framework, measured again, left running (a new one is added)."""
    kept = resident.get(framework.name) if resident is not None else None
    stem = f"{scenario.name}-{framework.name}" + (
        f".r{round_}" + (f".s{slot}" if scenario.bracket else "") if scenario.rounds > 1 else ""
    )
    log = kept.log if kept else log_dir / (
        f"{scenario.name}-{framework.name}.log" if resident is not None else f"{stem}.log"
    )
    wrk_log = log_dir / f"{stem}.wrk.log"
    port = kept.port if kept else free_port(HOST)
    command = [
        part.format(python=sys.executable, host=HOST, port=port, apps=APPS_DIR)
        for part in framework.command
    ]
    cpus = server_cpus(framework, args, pinned)
    connections = scenario.connections or args.connections
    threads = min(scenario.threads or args.threads, connections)
    duration = scenario_duration(scenario, args)
    measurement = Measurement(
        framework,
        scenario,
        log,
        server_cpus=cpu_list(cpus) if cpus is not None else "",
        shares_client_cpu=cpus is None or args.client_cpu in cpus,
        connections=connections,
        threads=threads,
        duration_s=duration,
        round=round_,
        slot=slot,
    )
    if framework.needs_redis and kept is None:
        try:
            if redis is None or redis.failure:
                raise RedisFailed(redis.failure if redis else "not started")
            redis.flush()  # every measurement starts with an empty cache
        except (RedisFailed, OSError) as error:
            measurement.error = f"no Redis: {error}"
            return measurement
    server = kept.server if kept else ServerProcess(
        command,
        env=server_env(framework, static_dir, redis.url if redis is not None else ""),
        cwd=framework.cwd or ROOT,
        cpus=cpus,
        log=log,
    )
    url = f"http://{HOST}:{port}{scenario.path}"
    load = functools.partial(
        run_wrk,
        url,
        script,
        threads=threads,
        connections=connections,
        cpu=args.client_cpu if pinned else None,
        log=wrk_log,
    )
    websocket = scenario.load != "wrk"
    if websocket:  # wrk has no WebSocket: bench/_ws_load.py, which checks every message
        load = functools.partial(
            run_ws_load,
            url.replace("http://", "ws://", 1),
            scenario.load.removeprefix("ws-"),
            connections=connections,
            cpu=args.client_cpu if pinned else None,
            log=wrk_log,
        )
    if framework.before_of is not None and kept is None:
        # The log's first lines say which code the server runs (the command line follows).
        with log.open("a") as handle:
            handle.write(
                f"# bench: {framework.name}: {framework.before_of} on an earlier revision: cwd "
                f"{framework.cwd}, PYTHONPATH={framework.env.get('PYTHONPATH', '')}\n"
            )
    try:
        if kept is None:
            _start_checked(server, port, scenario, args, cpus, measurement, load, websocket,
                           framework.expect_headers_warm)
            if resident is not None:
                resident[framework.name] = Resident(
                    framework, server, port, log, measurement.idle_rss_kib
                )
        else:
            measurement.idle_rss_kib = kept.idle_rss_kib
        log_size = log.stat().st_size
        retries = RETRIES_RESIDENT if resident is not None else RETRIES_OTHER
        measured_cpus = (cpus or set(range(os.cpu_count() or 1))) | {args.client_cpu}
        measurement.result = _load_unstolen(load, duration, measurement, measured_cpus, retries)
        logged = log.stat().st_size - log_size
        if framework.access_log and logged == 0:
            measurement.warnings.append(
                "an access-log row whose server wrote nothing during the measured run "
                "(is its access log really on?)"
            )
        elif not framework.access_log and logged > CHATTY_LOG_BYTES:
            measurement.warnings.append(
                f"the server wrote {logged // 1024} KB of output during the measured run "
                "(access log or debug output on?)"
            )
        server.check_alive()
        if not websocket:
            measurement.sample = validate(port, scenario, warm=True)
    except (ServerFailed, RuntimeError, ValueError, OSError, subprocess.SubprocessError) as error:
        measurement.error = str(error) or type(error).__name__
        if resident is not None:  # a failed server is not measured again
            resident.pop(framework.name, None)
    finally:
        measurement.peak_rss_kib = server.peak_rss_kib()
        if resident is None or framework.name not in resident:
            _stop(server, framework, log)
    return measurement


def _load_unstolen(
    load: Callable[..., WrkResult],
    duration: int,
    measurement: Measurement,
    cpus: set[int],
    retries: int,
) -> WrkResult:
    """The measured run, run again (after a pause) while the hypervisor takes more than
    ``STEAL_LIMIT`` of one of ``cpus`` during it, at most ``retries`` times: the figure kept
    is the first try under the limit or, when none was, the try the hypervisor took least
    from (chosen by steal, which the server does not control, never by its figure);
    ``measurement`` records the steal of each try."""
    tries: list[tuple[float, WrkResult]] = []
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(retry_pause(attempt))
        before = cpu_times()
        try:
            result = load(duration_s=duration)
        except subprocess.TimeoutExpired as error:
            # wrk that outlives its duration by a minute: a stalled machine (its disk) or a
            # hung server; a hung server times out again, and the last try's error stands.
            if attempt == retries and not tries:
                raise
            measurement.warnings.append(f"{error}; measured again")
            measurement.steal.append(steal_share(before, cpu_times(), cpus))
            continue
        measurement.steal.append(steal_share(before, cpu_times(), cpus))
        tries.append((measurement.steal[-1], result))
        if measurement.steal[-1] <= STEAL_LIMIT:
            break
    least, kept = min(tries, key=lambda pair: pair[0])  # the first of equals: min keeps it
    if len(measurement.steal) > 1 or least > STEAL_LIMIT:
        shares = ", ".join(f"{share:.1%}" for share in measurement.steal)
        which = ("the last" if least <= STEAL_LIMIT
                 else f"the try with the least steal ({least:.1%}), steal and all")
        measurement.warnings.append(
            f"the hypervisor took CPU time (steal) during the measured run: {shares} of a CPU "
            f"in {len(measurement.steal)} tries; the figure is {which}"
        )
    return kept


def _start_checked(
    server: ServerProcess,
    port: int,
    scenario: Scenario,
    args: argparse.Namespace,
    cpus: set[int] | None,
    measurement: Measurement,
    load: Callable[..., WrkResult],
    websocket: bool,
    warm_headers: tuple[tuple[str, str], ...] = (),
) -> None:
    """Start ``server``, check where it runs and what it answers, and warm it up
    (``warm_headers``: the framework's own, checked after the warm-up)."""
    server.start()
    server.wait_ready(HOST, port, scenario, args.startup_timeout)
    measurement.idle_rss_kib = server.rss_kib()
    if cpus is not None and server.affinity() != cpus:
        raise ServerFailed(f"not pinned to CPUs {cpu_list(cpus)}: {server.affinity()}")
    if not websocket:
        validate(port, scenario)
    if args.warmup > 0:
        load(duration_s=args.warmup)
    server.check_alive()
    if scenario.expect_headers_warm or warm_headers:
        # Warm-up over: what the measured run gets (a cache hit) must hold now.
        validate(port, scenario, warm=True, warm_headers=warm_headers)


def _stop(server: ServerProcess, framework: Framework, log: Path) -> None:
    server.stop(grace=framework.stop_grace)
    # An access log of a 10 s run is tens of MB: keep its head and tail.
    compact_log(log)


def stop_resident(resident: dict[str, Resident]) -> None:
    """Stop the servers a resident scenario kept running."""
    for kept in resident.values():
        _stop(kept.server, kept.framework, kept.log)
    resident.clear()


def scenario_duration(scenario: Scenario, args: argparse.Namespace) -> int:
    """Measured seconds: the scenario's own (the burst) or ``--duration``."""
    return scenario.duration_s or args.duration


def _progress(index: int, total: int, measurement: Measurement) -> str:
    round_ = f" (round {measurement.round})" if measurement.scenario.rounds > 1 else ""
    head = (
        f"[{index}/{total}] {measurement.scenario.name} · {measurement.framework.name}{round_}:"
    )
    result: WrkResult | None = measurement.result
    if not measurement.ok or result is None:
        return f"{head} FAILED — {measurement.error}"
    warnings = "".join(f"\n    warning: {w}" for w in measurement.warnings)
    return (
        f"{head} {result.requests_per_s:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, max {result.max_ms:.1f} ms, "
        f"socket errors {result.socket_errors_text()}, "
        f"HTTP ≥400 {result.http_errors}, peak RSS {measurement.peak_rss_kib / 1024:.1f} MB"
        f"{warnings}"
    )


def planned(
    scenarios: Sequence[Scenario], frameworks: Sequence[Framework], before_rounds: int = 1
) -> list[tuple[Scenario, Framework, int]]:
    """Scenario by scenario, each framework that serves it, with its round: a shared
    scenario every framework of the matrix (and its ``extra``); an Areion-only one the
    frameworks it names; an interleaved one (``rounds`` > 1) all of them, round after round,
    each round starting one framework further on (a bracketed one with its base before each
    of the others and at the round's end: ``Scenario.bracket``).
    A before-row (``--before``) runs wherever its counterpart runs, right after it; with
    ``before_rounds`` > 1 each such pair of a one-round scenario runs that many times (at
    least the scenario's ``min_before_rounds``: the burst's), alternating (round 1 in the
    scenario's order, the further rounds right after it)."""
    plan = []
    befores = {f.before_of: f for f in frameworks if f.before_of is not None}
    for scenario in scenarios:
        serving = [
            f for f in frameworks
            if f.before_of is None
            and scenario.serves(f.name, f.matrix) and f.skip_reason(scenario.name) is None
        ]  # fmt: skip
        if scenario.order:
            rank = {name: index for index, name in enumerate(scenario.order)}
            serving.sort(key=lambda f: rank.get(f.name, len(rank)))
        groups = [[g for g in (f, befores.get(f.name)) if g is not None] for f in serving]
        serving = [g for group in groups for g in group]
        # A bracketed scenario's base (its order's first framework) runs before each variant
        # and at the end of each round, rather than in the rotation.
        base = groups[0] if scenario.bracket and len(groups) > 1 and scenario.order and (
            groups[0][0].name == scenario.order[0]) else []
        variants = groups[1:] if base else groups
        for round_ in range(1, scenario.rounds + 1):
            # Each round starts one framework further on (a before-row stays after its
            # counterpart), so that every variant runs in every position of the rounds: a slot
            # that is slower for some reason (the first after a scenario's start, the one before
            # a periodic job) does not always fall to the same variant.
            shift = (round_ - 1) % len(variants) if variants else 0
            rotated = variants[shift:] + variants[:shift]
            if base:
                rotated = [part for group in rotated for part in (base, group)] + [base]
            plan += [(scenario, framework, round_) for group in rotated for framework in group]
        if scenario.rounds == 1:
            pairs = [g for f in serving if f.name in befores for g in (f, befores[f.name])]
            rounds = max(before_rounds, scenario.min_before_rounds) if pairs else 1
            for round_ in range(2, rounds + 1):
                plan += [(scenario, framework, round_) for framework in pairs]
    return plan


def live_log_dir(log_dir: Path) -> Path:
    """Where servers and wrk write while the run lasts: a directory in ``/dev/shm`` (memory)
    when there is one, else ``log_dir``. An access-log row writes tens of MB a run (a
    resident one hundreds); on this VM's disk, writing back and discarding that much once
    stalled every process for a minute (100% iowait), servers starting meanwhile included.
    A write to a file costs the server the same system call either way."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        return log_dir
    live = shm / "areion-bench" / log_dir.name
    live.mkdir(parents=True, exist_ok=True)
    return live


def keep_logs(live_dir: Path, log_dir: Path, results: Results) -> None:
    """Move the run's logs (each compacted as its server stopped) from ``live_dir`` to
    ``log_dir``, where the report points."""
    if live_dir == log_dir:
        return
    for path in live_dir.iterdir():
        compact_log(path)
        shutil.move(path, log_dir / path.name)
    live_dir.rmdir()
    for measurement in results.measurements:
        if measurement.log.parent == live_dir:
            measurement.log = log_dir / measurement.log.name


def start_redis(log_dir: Path, args: argparse.Namespace, pinned: bool) -> PrivateRedis:
    """The private Redis, on the server's CPU (its cost is the server's, as on one box);
    when it does not start, ``failure`` says why and the Redis measurements fail."""
    redis = PrivateRedis(HOST, log_dir / "redis.log")
    try:
        redis.start(str(args.server_cpu) if pinned else None)
    except RedisFailed as error:
        redis.failure = str(error)
        print(f"bench: {error}; the Redis scenarios will fail", file=sys.stderr)
        return redis
    print(f"bench: private Redis on {redis.url}")
    return redis


def measure_invalidation(redis: PrivateRedis, count: int) -> list[Propagation]:
    """bench/invalidation.py's two modes on the private Redis, after the matrix (nothing else
    runs meanwhile); when Redis did not start, both modes carry its failure."""
    if redis.failure:
        return [Propagation(mode, 0, 0.0, 0.0, 0.0, redis.failure) for mode in INVALIDATION_MODES]
    figures = measure_propagation(redis.url, count)
    for figure in figures:
        print(f"bench: invalidation {figure.mode}: "
              + (figure.error or f"p50 {figure.p50_ms:.2f} ms, p99 {figure.p99_ms:.2f} ms"))
    return figures


def settle(scenario: Scenario, framework: Framework, args: argparse.Namespace, *,
           script_dir: Path, static_dir: Path, log_dir: Path, pinned: bool,
           redis: PrivateRedis | None) -> None:
    """The settling run: the plan's first measurement once, for ``--settle`` seconds, its
    figures discarded (the machine comes up to speed before anything is recorded)."""
    script = script_dir / f"{scenario.name}.lua"
    script.write_text(lua_script(scenario))
    quick = argparse.Namespace(**{**vars(args), "duration": args.settle, "warmup": 0})
    if scenario.duration_s:  # a fixed-length scenario (the burst) settles on its own length
        quick.duration = scenario.duration_s
    settle_dir = log_dir / "settle"  # its logs apart from the measured run's
    settle_dir.mkdir(exist_ok=True)
    settling = measure(framework, scenario, quick, script=script, static_dir=static_dir,
                       log_dir=settle_dir, pinned=pinned, redis=redis)
    shown = (f"{settling.result.requests_per_s:,.0f} req/s" if settling.result is not None
             else settling.error or "no figures")
    print(f"bench: settling run (discarded): {scenario.name} · {framework.name}: {shown}", flush=True)


def _relative(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def prepare_before(args: argparse.Namespace, static_dir: Path) -> BeforeTree:
    """``--before REV``: REV's tree (written once), and the import check of each before-row
    the run will measure, before any measurement: every Areion module it imports must come
    from the old tree."""
    tree = materialise(args.before, ROOT, WORK_DIR)
    where = _relative(tree.path)
    print(
        f"bench: --before {args.before}: {tree.sha[:12]} ({tree.subject[:60]}), "
        f"{'wrote' if tree.created else 'reusing'} {where}/"
    )
    currents = [FRAMEWORKS_BY_NAME[name] for name in dict.fromkeys(args.frameworks)]
    for framework in with_before_rows(currents, tree, args.before_rows):
        if framework.before_of is None:
            continue
        files = check_imports(framework, server_env(framework, static_dir), sys.executable, tree)
        shown = ", ".join(
            f"{name} from {_relative(Path(files[name]))}"
            for name in ("areion_core", "examples.showcase.app")
        )
        print(
            f"bench: {framework.name}: {len(files)} Areion modules, all from {where}/ ({shown})"
        )
    return tree


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for f in FRAMEWORKS:
            print(f"framework {f.name:22} {f.description}")
        for row, current in BEFORE_ROWS.items():
            print(f"framework {row:22} with --before REV: {current}, running REV's code")
        for s in SCENARIOS:
            print(f"scenario  {s.name:22} {s.title}")
        return 0
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed; run bench/setup.sh", file=sys.stderr)
        return 2
    frameworks = [FRAMEWORKS_BY_NAME[name] for name in args.frameworks]
    scenarios = [SCENARIOS_BY_NAME[name] for name in args.scenarios]
    if args.rounds is not None:
        scenarios = [
            dataclasses.replace(
                s, rounds=args.rounds,
                title=s.title.replace(f"({s.rounds} rounds)", f"({args.rounds} rounds)"),
            ) if s.rounds > 1 else s
            for s in scenarios
        ]  # fmt: skip

    cpus = os.cpu_count() or 1
    pinned = cpus >= 2 and shutil.which("taskset") is not None
    if pinned:
        # The runner itself stays off the server's CPU.
        os.sched_setaffinity(0, {args.client_cpu})
    else:
        print("bench: fewer than 2 CPUs or no taskset: nothing is pinned", file=sys.stderr)

    started = now()
    static_dir = write_static_dir(WORK_DIR / "static")
    before: BeforeTree | None = None
    if args.before is not None:
        try:
            before = prepare_before(args, static_dir)
        except BeforeFailed as error:
            print(f"bench: --before {args.before}: {error}", file=sys.stderr)
            return 2
        frameworks = with_before_rows(frameworks, before, args.before_rows)
    log_dir = WORK_DIR / "logs" / started.strftime("%Y%m%dT%H%M%SZ")
    log_dir.mkdir(parents=True, exist_ok=True)
    live_dir = live_log_dir(log_dir)
    script_dir = WORK_DIR / "lua"
    script_dir.mkdir(parents=True, exist_ok=True)

    plan = planned(scenarios, frameworks, args.before_rounds)
    if not plan and not args.invalidation:
        print("bench: nothing to measure: no selected framework serves a selected scenario")
        return 2
    estimate = sum(
        scenario_duration(scenario, args)
        + (args.warmup + OVERHEAD_S if round_ == 1 or not scenario.resident else 0.3)
        for scenario, _, round_ in plan
    ) / 60
    print(f"bench: {len(plan)} measurements, about {estimate:.0f} min; logs in {log_dir}")
    load_before = os.getloadavg()

    results = Results()
    scripts: dict[str, Path] = {}
    redis: PrivateRedis | None = None
    # A resident scenario's servers, kept up across its rounds (``Scenario.resident``).
    resident: dict[str, Resident] = {}
    resident_of = ""
    used_redis = bool(args.invalidation) or any(framework.needs_redis for _, framework, _ in plan)
    try:
        if used_redis:
            redis = start_redis(log_dir, args, pinned)
        if args.settle and plan:
            settle(plan[0][0], plan[0][1], args, script_dir=script_dir, static_dir=static_dir,
                   log_dir=live_dir, pinned=pinned, redis=redis)
        for index, (scenario, framework, round_) in enumerate(plan, start=1):
            if resident and scenario.name != resident_of:
                stop_resident(resident)
            resident_of = scenario.name
            if scenario.name not in scripts:
                scripts[scenario.name] = script_dir / f"{scenario.name}.lua"
                scripts[scenario.name].write_text(lua_script(scenario))
            measurement = measure(
                framework,
                scenario,
                args,
                script=scripts[scenario.name],
                static_dir=static_dir,
                log_dir=live_dir,
                pinned=pinned,
                redis=redis,
                round_=round_,
                resident=resident if scenario.resident else None,
                slot=index,
            )
            results.add(measurement)
            print(_progress(index, len(plan), measurement), flush=True)
        if args.invalidation and redis is not None:
            results.invalidation = measure_invalidation(redis, args.invalidation)
    finally:
        stop_resident(resident)
        if redis is not None:
            redis.stop()
        keep_logs(live_dir, log_dir, results)

    document = results.get("areion", CODEC_SCENARIO)
    if document is not None and document.ok and document.sample:
        # As much CPU per codec as a tenth of the measured time: 1 s by default.
        budget = max(0.1, args.duration / 10)
        results.codecs = measure_codecs(document.sample, budget)
        results.codec_document = (
            f"the body of `GET {document.scenario.path}` as Areion sent it "
            f"({len(document.sample):,} bytes of JSON), {budget:.1f} CPU s per codec"
        )
        print("bench: codecs " + ", ".join(
            f"{c.name} ×{c.ratio:.1f} {c.cpu_us:.0f} µs" for c in results.codecs if not c.error
        ))  # fmt: skip

    settings = RunSettings(
        duration_s=args.duration,
        warmup_s=args.warmup,
        threads=args.threads,
        connections=args.connections,
        server_cpu=args.server_cpu if pinned else None,
        client_cpu=args.client_cpu if pinned else None,
        command_line=shlex.join(["python", "bench/run.py", *(argv or sys.argv[1:])]),
        load_before=load_before,
        load_after=os.getloadavg(),
        started=started,
        finished=now(),
        settle=(f"{plan[0][1].name} on {plan[0][0].name}, {args.settle} s" if args.settle and plan else ""),
        redis=redis_version() if used_redis else None,
        before=before,
    )
    args.output.write_text(render(results, scenarios, frameworks, settings))
    print(f"bench: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
