"""Running wrk and reading its figures.

Each scenario gets a small Lua script that sets the method, headers and body, and whose
``done`` callback prints the summary as one JSON line (``BENCH_RESULT {...}``), so nothing
depends on the layout of wrk's human-readable report (which is still kept in the log).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from _scenarios import Scenario

RESULT_MARKER = "BENCH_RESULT "

_DONE_CALLBACK = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %.0f, "duration_us": %.0f, "bytes": %.0f, '
    .. '"connect": %.0f, "read": %.0f, "write": %.0f, "timeout": %.0f, "status": %.0f, '
    .. '"p50_us": %.1f, "p90_us": %.1f, "p99_us": %.1f, "mean_us": %.1f, "max_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One measured wrk run. Latencies in milliseconds."""

    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    #: Responses with a status of 400 or more (wrk counts those as ``errors.status``).
    http_errors: int

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    def socket_errors_text(self) -> str:
        if not self.socket_errors:
            return "0"
        parts = [
            f"{label} {count}"
            for label, count in (
                ("connect", self.connect_errors),
                ("read", self.read_errors),
                ("write", self.write_errors),
                ("timeout", self.timeouts),
            )
            if count
        ]
        return f"{self.socket_errors} ({', '.join(parts)})"


def _lua_string(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    escaped = "".join(
        chr(byte) if 32 <= byte < 127 and byte not in (0x22, 0x5C) else f"\\{byte:03d}"
        for byte in raw
    )
    return f'"{escaped}"'


def lua_script(scenario: Scenario) -> str:
    """The wrk script for ``scenario``: the request it repeats plus the JSON summary."""
    lines = [f"-- {scenario.title}", f"wrk.method = {_lua_string(scenario.method)}"]
    if scenario.body and scenario.body_repeat > 1:
        lines.append(f"wrk.body = string.rep({_lua_string(scenario.body)}, {scenario.body_repeat})")
    elif scenario.body:
        lines.append(f"wrk.body = {_lua_string(scenario.body)}")
    for name, value in scenario.headers:
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    return "\n".join(lines) + "\n" + _DONE_CALLBACK


def parse_result(output: str) -> WrkResult:
    """Read the ``BENCH_RESULT`` line that the Lua ``done`` callback printed."""
    for line in output.splitlines():
        if line.startswith(RESULT_MARKER):
            data = json.loads(line[len(RESULT_MARKER) :])
            break
    else:
        raise ValueError("wrk printed no result line")
    duration_s = data["duration_us"] / 1e6
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=duration_s,
        requests_per_s=data["requests"] / duration_s if duration_s else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        connect_errors=int(data["connect"]),
        read_errors=int(data["read"]),
        write_errors=int(data["write"]),
        timeouts=int(data["timeout"]),
        http_errors=int(data["status"]),
    )


def run_wrk(
    url: str,
    script: Path,
    *,
    duration_s: int,
    threads: int,
    connections: int,
    cpu: int | None,
    log: Path,
) -> WrkResult:
    """Run wrk against ``url`` for ``duration_s`` seconds, pinned to ``cpu``; append its
    output to ``log``."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
    )
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(command)}\n{completed.stdout}{completed.stderr}\n")
    if completed.returncode != 0:
        raise RuntimeError(f"wrk exited with {completed.returncode}: {completed.stderr.strip()}")
    return parse_result(completed.stdout)


def run_ws_load(
    url: str,
    mode: str,
    *,
    duration_s: int,
    connections: int,
    cpu: int | None,
    log: Path,
) -> WrkResult:
    """The WebSocket scenarios' load (``_ws_load.py``: wrk has no WebSocket), like ``run_wrk``:
    pinned to ``cpu``, its output appended to ``log``, its result line in wrk's shape
    (a "request" is an echoed message or a delivery, latency the round trip or delivery)."""
    command = [
        sys.executable, str(Path(__file__).resolve().parent / "_ws_load.py"), "--url", url,
        "--mode", mode, "--connections", str(connections), "--duration", str(duration_s),
    ]  # fmt: skip
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + 120, check=False
    )
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(command)}\n{completed.stdout}{completed.stderr}\n")
    if completed.returncode != 0:
        raise RuntimeError(f"the WebSocket load exited with {completed.returncode}: "
                           f"{completed.stderr.strip()[-500:]}")
    return parse_result(completed.stdout)


def wrk_version() -> str:
    try:
        completed = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return "not installed"
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"
