"""The scenario matrix: what each load run sends and what a correct answer looks like.

Every framework serves the same routes (see ``apps/`` and the README): a scenario names
the request wrk repeats, and a check that one answer to it is right, run before the load
so that no framework is measured answering 404s quickly. The Areion-only scenarios (cache
hit, brotli of a cached 50 KB response, template page, workers, the interleaved overhead
rows) name the frameworks they apply to in ``only``; ``burst`` (256 connections opened at
once) is shared and adds uvicorn on the asyncio loop through ``extra``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STATIC_FILE_NAME = "100k.bin"
STATIC_FILE_SIZE = 100 * 1024
ECHO_BODY_SIZE = 1024


@dataclass(frozen=True)
class Scenario:
    """One request repeated by wrk, and how to recognise a correct response to it."""

    name: str
    title: str
    method: str
    path: str
    content_type: str
    check_body: Callable[[bytes], bool]
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    #: The request body is ``body`` repeated this many times (wrk builds it with
    #: ``string.rep``, so a 100 MiB body is not written into the script).
    body_repeat: int = 1
    #: Frameworks the scenario applies to; ``None`` means every one (a shared scenario).
    only: frozenset[str] | None = None
    notes: str = ""
    #: wrk's ``-c`` for this scenario; ``None``: the run's ``--connections`` (64).
    connections: int | None = None
    #: Response headers every answer must carry (name, value; compared case-insensitively).
    expect_headers: tuple[tuple[str, str], ...] = ()
    #: Response headers the answers after the warm-up must carry (``X-Cache: HIT``).
    expect_headers_warm: tuple[tuple[str, str], ...] = ()
    #: wrk's ``-t`` for this scenario; ``None``: the run's ``--threads`` (1).
    threads: int | None = None
    #: Measured seconds, whatever ``--duration`` says (a burst's p99 depends on run length).
    duration_s: int | None = None
    #: Frameworks outside the matrix that run this shared scenario too.
    extra: frozenset[str] = frozenset()
    #: Measure the frameworks of ``only`` this many times, round by round (A, B, C, A, B,
    #: C, …), so that drift between passes hits every one alike.
    rounds: int = 1
    #: The order of the frameworks within a round; the first is the one the others are
    #: compared with. Empty: the order of ``FRAMEWORKS``.
    order: tuple[str, ...] = ()
    #: What drives the load: wrk (HTTP), or ``_ws_load.py``'s "ws-echo" / "ws-broadcast" on
    #: the WebSocket at ``path`` (the one-request check is then the load's own, per message).
    load: str = "wrk"
    #: An interleaved table (``rounds`` > 1) reports the request body's bandwidth (MiB/s:
    #: requests/s × the body's size) instead of requests/s: a 100 MiB body goes at about ten
    #: requests a second, too coarse to read as whole requests.
    body_rate: bool = False
    #: With ``--before REV``, each before-pair of this scenario runs at least this many times
    #: (alternating), whatever ``--before-rounds`` says: a burst's figures swing by ±20% from
    #: one 5 s run to the next, so one pair, or three, cannot tell 5% apart.
    min_before_rounds: int = 1
    #: An interleaved scenario whose servers start once, each in its first round (checked and
    #: warmed up there), and stay up until the scenario ends: a round then measures each in
    #: turn for ``duration_s`` seconds, with no start or warm-up between them, so many short
    #: rounds fit where a few long ones did, each variant measured seconds from areion-bare.
    resident: bool = False
    #: An interleaved scenario whose first framework of ``order`` (the base, areion-bare) is
    #: measured before every other one and once more at the end of each round (B, x, B, y, B,
    #: …, B): each variant is judged against the mean of the two base slices beside it, a
    #: couple of seconds either side, rather than against one base slice up to a round away.
    bracket: bool = False

    @property
    def full_body(self) -> bytes:
        """The body as sent (``body`` times ``body_repeat``)."""
        return self.body * self.body_repeat

    @property
    def body_mib(self) -> float:
        """The size of the body as sent, in MiB."""
        return len(self.body) * self.body_repeat / (1024 * 1024)

    @property
    def shared(self) -> bool:
        return self.only is None

    def serves(self, framework: str, in_matrix: bool) -> bool:
        """Whether ``framework`` runs this scenario."""
        if self.only is not None:
            return framework in self.only
        return in_matrix or framework in self.extra


def static_file_bytes() -> bytes:
    """The 100 KB static file: SHA-256 in counter mode, the same bytes on every machine."""
    blocks = (hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(STATIC_FILE_SIZE // 32))
    return b"".join(blocks)


def write_static_dir(directory: Path) -> Path:
    """Create (or refresh) the static directory every framework serves under ``/static/``."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / STATIC_FILE_NAME
    content = static_file_bytes()
    if not target.exists() or target.read_bytes() != content:
        target.write_bytes(content)
    return directory


def echo_payload() -> bytes:
    """A JSON object of exactly ``ECHO_BODY_SIZE`` bytes, the same on every run."""
    document: dict[str, object] = {
        "id": 4242,
        "name": "benchmark order",
        "tags": ["alpha", "beta", "gamma"],
        "items": [
            {"sku": f"SKU-{i:04d}", "quantity": i % 7 + 1, "price": round(i * 1.25, 2)}
            for i in range(12)
        ],
        "padding": "",
    }
    size = len(json.dumps(document, separators=(",", ":")))
    document["padding"] = "x" * (ECHO_BODY_SIZE - size)
    encoded = json.dumps(document, separators=(",", ":")).encode()
    assert len(encoded) == ECHO_BODY_SIZE, len(encoded)
    return encoded


def _json_object_mentioning(*values: str) -> Callable[[bytes], bool]:
    """A JSON object whose values include each of ``values``, as a string or a number:
    apps may convert path parameters (``id: int``) and add fields."""

    def check(body: bytes) -> bool:
        try:
            document = json.loads(body)
        except ValueError:
            return False
        if not isinstance(document, dict):
            return False
        found = {str(value) for value in document.values()}
        return all(value in found for value in values)

    return check


def _json_equals(expected: object) -> Callable[[bytes], bool]:
    def check(body: bytes) -> bool:
        try:
            return bool(json.loads(body) == expected)
        except ValueError:
            return False

    return check


def _json_list(min_items: int, min_bytes: int) -> Callable[[bytes], bool]:
    """A JSON list of at least ``min_items`` objects, ``min_bytes`` long once decoded (the
    showcase's ``/big``: about 50 KB)."""

    def check(body: bytes) -> bool:
        try:
            document = json.loads(body)
        except ValueError:
            return False
        return (
            isinstance(document, list)
            and len(document) >= min_items
            and all(isinstance(item, dict) for item in document)
            and len(body) >= min_bytes
        )

    return check


_TBODY = re.compile(rb"<tbody>(.*?)</tbody>", re.DOTALL)


def _table_rows(count: int) -> Callable[[bytes], bool]:
    """An HTML page whose ``<tbody>`` holds exactly ``count`` ``<tr>`` rows."""

    def check(body: bytes) -> bool:
        match = _TBODY.search(body)
        return match is not None and match.group(1).count(b"<tr>") == count

    return check


#: The showcase's endpoint that costs 5 ms, cached and not: what it answers.
SLOW_BODY = {"message": "worth caching"}
#: Connections and wrk threads of the burst scenario, and its fixed measured duration.
BURST_CONNECTIONS, BURST_THREADS, BURST_DURATION_S = 256, 8, 5
#: How many times a burst before-pair runs at least (``Scenario.min_before_rounds``).
BURST_BEFORE_ROUNDS = 6
#: The interleaved comparisons on /json (issue 14): each against areion-bare, in rounds, and
#: three pairs of them judged against each other: the raw ceiling (areion ÷ raw), a cache hit
#: (areion-cache-hit ÷ areion) and a Redis-store hit (areion-redis-cache-hit ÷ areion-cache-hit).
OVERHEAD_ORDER = (
    "areion-bare", "areion-log", "areion-hooks", "areion-hooks-async", "areion-request-id", "areion",
    "areion-metrics", "areion-tracing0", "areion-cache-hit", "areion-redis-cache-hit", "raw",
    "areion-bare-control",
)
OVERHEAD_ROUNDS = 13
#: Measured seconds per variant and round of the overhead scenario (its servers stay up).
OVERHEAD_SLICE_S = 2
#: A brotli-only client: the compressed-response scenarios.
ACCEPT_BR = (("Accept-Encoding", "br"),)
AREION = frozenset({"areion"})
AREION_MEMORY_AND_REDIS = frozenset({"areion", "areion-redis", "areion-redis-nolocal"})

#: The upload scenario: a 100 MiB body, 1 KiB of printable bytes repeated.
UPLOAD_BLOCK = (b"areion upload benchmark " * 43)[:1023] + b"\n"
UPLOAD_REPEAT = 100 * 1024
UPLOAD_CONNECTIONS = 1
#: Measured seconds per round (about 200 bodies each), and rounds (areion, aiohttp, starlette,
#: then again): a figure to a tenth of a percent, and drift between passes shared by all three.
UPLOAD_DURATION_S = 20
UPLOAD_ROUNDS = 3


def upload_digest() -> dict[str, object]:
    """What a correct answer to the upload scenario says: the body's size and SHA-256."""
    digest = hashlib.sha256()
    for _ in range(UPLOAD_REPEAT):
        digest.update(UPLOAD_BLOCK)
    return {"bytes": len(UPLOAD_BLOCK) * UPLOAD_REPEAT, "sha256": digest.hexdigest()}


_ECHO = echo_payload()
_STATIC = static_file_bytes()

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="json",
        title="GET /json",
        method="GET",
        path="/json",
        content_type="application/json",
        check_body=_json_equals({"message": "Hello, World!"}),
    ),
    Scenario(
        name="plaintext",
        title="GET /plaintext",
        method="GET",
        path="/plaintext",
        content_type="text/plain",
        check_body=lambda body: body == b"Hello, World!",
    ),
    Scenario(
        name="params",
        title="GET /users/{id}/posts/{post} (two path parameters)",
        method="GET",
        path="/users/42/posts/7",
        content_type="application/json",
        check_body=_json_object_mentioning("42", "7"),
        notes=(
            'The peers answer {"user": "42", "post": "7"}; any JSON object carrying both '
            "values passes the check (an app may convert them to integers)."
        ),
    ),
    Scenario(
        name="echo",
        title="POST /echo (1 KB JSON body parsed and sent back)",
        method="POST",
        path="/echo",
        content_type="application/json",
        headers=(("Content-Type", "application/json"),),
        body=_ECHO,
        check_body=_json_equals(json.loads(_ECHO)),
    ),
    Scenario(
        name="static",
        title=f"GET /static/{STATIC_FILE_NAME} (100 KB file)",
        method="GET",
        path=f"/static/{STATIC_FILE_NAME}",
        content_type="",
        check_body=lambda body: body == _STATIC,
    ),
    Scenario(
        name="json-close",
        title="GET /json with Connection: close (a new connection per request)",
        method="GET",
        path="/json",
        content_type="application/json",
        headers=(("Connection", "close"),),
        check_body=_json_equals({"message": "Hello, World!"}),
    ),
    Scenario(
        name="burst",
        title=(
            f"GET /json, a burst: {BURST_CONNECTIONS} connections opened at once "
            f"(wrk -t{BURST_THREADS} -c{BURST_CONNECTIONS}, {BURST_DURATION_S} s)"
        ),
        method="GET",
        path="/json",
        content_type="application/json",
        check_body=_json_equals({"message": "Hello, World!"}),
        connections=BURST_CONNECTIONS,
        threads=BURST_THREADS,
        duration_s=BURST_DURATION_S,
        min_before_rounds=BURST_BEFORE_ROUNDS,
        extra=frozenset({"starlette-asyncio", "starlette-asyncio+log"}),
        notes=(
            f"The measured run is a fresh wrk: its {BURST_CONNECTIONS} connections are opened "
            f"at once by {BURST_THREADS} threads, as TechEmpower opens them (the warm-up before "
            "it is a wrk of its own, with its own connections). The tail of a burst is in its "
            f"first second, so the p99 depends on how long the run is: it is fixed at "
            f"{BURST_DURATION_S} s, whatever `--duration` says. Starlette runs on uvicorn with "
            "both loops here: `starlette` (uvloop) and `starlette-asyncio` (`--loop asyncio`), "
            "each with and without uvicorn's access log."
        ),
    ),
    Scenario(
        name="upload",
        title="PUT /upload (a 100 MiB body streamed into a SHA-256)",
        method="PUT",
        path="/upload",
        content_type="application/json",
        headers=(("Content-Type", "application/octet-stream"),),
        body=UPLOAD_BLOCK,
        body_repeat=UPLOAD_REPEAT,
        check_body=_json_equals(upload_digest()),
        only=frozenset({"areion", "aiohttp", "starlette"}),
        order=("areion", "aiohttp", "starlette"),
        connections=UPLOAD_CONNECTIONS,
        duration_s=UPLOAD_DURATION_S,
        rounds=UPLOAD_ROUNDS,
        body_rate=True,
        notes=(
            f"Each request sends 100 MiB; the handler reads the body as it arrives and hashes "
            f"it, never holding it whole: Areion's showcase `PUT /upload` (`request.stream()`, "
            f"route limit 2 GiB), aiohttp's `request.content.iter_any()`, Starlette's "
            f"`request.stream()`. {UPLOAD_CONNECTIONS} connection, one body at a time (wrk gives up on a "
            "request after 2 s, and several 100 MiB bodies at once would pass that); hashing costs the "
            f"same in all three. The figure is MiB/s (bodies per second × 100 MiB): {UPLOAD_ROUNDS} "
            f"interleaved rounds of {UPLOAD_DURATION_S} s each (about 200 bodies a round, so one body "
            "more or less moves a round by half a percent), compared on their means with the faster peer."
        ),
    ),
    # ── Areion only: the plugin paths (issues 4, 5, 7) and the workers (issue 9) ──────────
    Scenario(
        name="cache-hit",
        title="GET /slow, a cache hit (the 5 ms endpoint, cached)",
        method="GET",
        path="/slow",
        content_type="application/json",
        check_body=_json_equals(SLOW_BODY),
        only=AREION_MEMORY_AND_REDIS,
        expect_headers_warm=(("X-Cache", "HIT"),),
        notes=(
            "Every measured request is a hit: the answer after the warm-up must carry "
            "`X-Cache: HIT`. areion: the memory store; areion-redis: the Redis store with its "
            "local tier (a warm hit makes no round trip); areion-redis-nolocal: the Redis store "
            "without it."
        ),
    ),
    Scenario(
        name="slow-cached-c1",
        title="GET /slow, cached, one connection",
        method="GET",
        path="/slow",
        content_type="application/json",
        check_body=_json_equals(SLOW_BODY),
        only=AREION_MEMORY_AND_REDIS,
        connections=1,
        expect_headers_warm=(("X-Cache", "HIT"),),
        notes=(
            "One connection, one request at a time: requests/s is the inverse of the time one "
            "request costs. The 5 ms is an `asyncio.sleep`, so with 64 connections the "
            "uncached endpoint overlaps 64 of them and its throughput would measure the "
            "concurrency (≤ 64 / 5 ms ≈ 12,800/s), not the cost."
        ),
    ),
    Scenario(
        name="slow-uncached-c1",
        title="GET /slow/uncached (costs 5 ms), one connection",
        method="GET",
        path="/slow/uncached",
        content_type="application/json",
        check_body=_json_equals(SLOW_BODY),
        only=AREION,
        connections=1,
        notes="The reference for the cache speed-ups: the same handler without the cache.",
    ),
    Scenario(
        name="big-br",
        title="GET /big with Accept-Encoding: br (50 KB JSON, cached, brotli)",
        method="GET",
        path="/big",
        content_type="application/json",
        headers=ACCEPT_BR,
        check_body=_json_list(100, 40_000),
        only=AREION,
        expect_headers=(("Content-Encoding", "br"),),
        expect_headers_warm=(("X-Cache", "HIT"),),
        notes=(
            "Compressed once per encoding and then served from the cache compressed. The check "
            "requires `Content-Encoding: br` and a decoded body that is the JSON list."
        ),
    ),
    Scenario(
        name="big-br-uncached",
        title="GET /big/uncached with Accept-Encoding: br (built and compressed per request)",
        method="GET",
        path="/big/uncached",
        content_type="application/json",
        headers=ACCEPT_BR,
        check_body=_json_list(100, 40_000),
        only=AREION,
        expect_headers=(("Content-Encoding", "br"),),
    ),
    Scenario(
        name="table",
        title="GET /table (a 100-row table rendered from a Jinja2 template)",
        method="GET",
        path="/table",
        content_type="text/html",
        check_body=_table_rows(100),
        only=frozenset({"areion", "starlette"}),
        notes=(
            "Both render `examples/showcase/templates/table.html` with the same 100 rows on "
            "every request: Areion through the templates plugin (production mode), Starlette "
            "through `starlette.templating.Jinja2Templates` as its documentation sets it up. "
            "The check counts 100 `<tr>` in `<tbody>`."
        ),
    ),
    Scenario(
        name="workers",
        title="GET /json, --workers 1 and --workers 2 (server not pinned)",
        method="GET",
        path="/json",
        content_type="application/json",
        check_body=_json_equals({"message": "Hello, World!"}),
        only=frozenset({"areion-workers1", "areion-workers2"}),
        notes=(
            "wrk keeps its CPU; the servers may use every other CPU, and on a 2-CPU machine "
            "every CPU, wrk's included: there the two workers and wrk share two cores and the "
            "figure measures contention, not scaling (see the README)."
        ),
    ),
    Scenario(
        name="overhead",
        title=(
            f"GET /json, Areion's close comparisons interleaved ({OVERHEAD_ROUNDS} rounds)"
        ),
        method="GET",
        path="/json",
        content_type="application/json",
        check_body=_json_equals({"message": "Hello, World!"}),
        only=frozenset(OVERHEAD_ORDER),
        rounds=OVERHEAD_ROUNDS,
        order=OVERHEAD_ORDER,
        resident=True,
        bracket=True,
        duration_s=OVERHEAD_SLICE_S,
        notes=(
            "Each variant against areion-bare (the showcase, no plugin, no log): the access "
            "log on (areion-log), a minimal plugin with a sync (areion-hooks) or async "
            "(areion-hooks-async) request_received and response_ready, the example plugin alone "
            "(areion-request-id), the official plugins idle on /json, installed on this route "
            "(areion), the observability plugin recording metrics (areion-metrics) or tracing at "
            "sampling 0 (areion-tracing0); areion-bare-control, a second areion-bare process "
            "(the same code: what it \"costs\" is the method's own error). Three pairs are "
            "judged against each other: areion-cache-hit (the areion row with /json cached, every "
            "measured request a memory-store hit: its after-warm-up answer must carry "
            "`X-Cache: HIT`) against areion (issue 4: a hit ≥ 90% of plain /json); "
            "areion-redis-cache-hit (the same on the Redis store with its local tier) against "
            "areion-cache-hit (issue 21: ≥ 80%); and areion against raw, the raw asyncio + "
            "httptools server (issue 9's ceiling: ≥ 50%). Every server starts once (checked and "
            f"warmed up) and stays up; then each is measured for {OVERHEAD_SLICE_S} s in turn, "
            "with an areion-bare slice before each variant and one at the end of the round "
            "(bare, x, bare, y, …, bare), each round starting one variant further on, so that "
            "no variant always takes the same place in a round: a round lasts about "
            f"{(2 * len(OVERHEAD_ORDER) - 1) * (OVERHEAD_SLICE_S + 0.3):.0f} s. A variant's "
            "figure in a round is its requests/s over the mean of the two areion-bare slices "
            "beside it (a slow spell of the machine, which lasts seconds to tens of seconds on "
            "this shared VM, lowers both sides of that ratio alike); its cost (the targets) is "
            "one minus the median of those figures over the rounds, and a pair's ratio the "
            "median over the rounds of the one's figure over the other's. The table also gives "
            "the ratio of the rows' upper quartiles over the rounds (this VM's noise is "
            "one-sided: a neighbour's burst takes 5-15% off for a second or three and never "
            "adds, so a row's upper quartile stays among its undisturbed slices) and the ratio "
            "of the means."
        ),
    ),
)

SECURITY_ORDER = ("areion-bare", "areion-security")
RATE_LIMIT_ORDER = ("areion-security", "areion-security-redis")
SECURITY_ROUNDS = 3
#: An origin the security app's CORS allow-list names: every answer is a CORS answer.
CORS_ORIGIN = (("Origin", "http://localhost:3000"),)

SCENARIOS = (
    *SCENARIOS,
    Scenario(
        name="security",
        title=f"GET /json with Origin, areion-security (CORS, trusted hosts, headers) on and off "
              f"({SECURITY_ROUNDS} rounds)",
        method="GET",
        path="/json",
        content_type="application/json",
        headers=CORS_ORIGIN,
        check_body=_json_equals({"message": "Hello, World!"}),
        only=frozenset(SECURITY_ORDER),
        rounds=SECURITY_ROUNDS,
        order=SECURITY_ORDER,
        notes=(
            "areion-security against areion-bare, interleaved: the request names an allowed "
            "origin, so the plugin checks the Host, stamps Access-Control-Allow-Origin, "
            "-Allow-Credentials and Vary: Origin, and adds six security headers on every "
            "answer (issue 19's target: at least 90% of areion-bare)."
        ),
    ),
    Scenario(
        name="rate-limit-redis",
        title=f"GET /json rate-limited on Redis, against the same app unlimited ({SECURITY_ROUNDS} rounds)",
        method="GET",
        path="/json",
        content_type="application/json",
        headers=CORS_ORIGIN,
        check_body=_json_equals({"message": "Hello, World!"}),
        only=frozenset(RATE_LIMIT_ORDER),
        rounds=SECURITY_ROUNDS,
        order=RATE_LIMIT_ORDER,
        notes=(
            "areion-security-redis counts every request in a private Redis (one Lua script, "
            "EVALSHA, per request) under a limit no run reaches, and answers with RateLimit "
            "headers; areion-security is the same app without the limit (issue 19's target: at "
            "least 50% of it)."
        ),
    ),
)
#: The peers that serve the WebSocket scenarios (bench/apps: /ws/echo and /ws/rooms/bench).
WEBSOCKET_PEERS = frozenset({"areion", "starlette", "aiohttp", "socketify"})
WEBSOCKET_SCENARIOS = (
    Scenario(
        name="ws-echo",
        title="WebSocket echo: 64 connections, 1 KB text messages (messages/s)",
        method="GET",
        path="/ws/echo",
        content_type="",
        check_body=lambda body: True,
        only=WEBSOCKET_PEERS,
        load="ws-echo",
        notes=(
            "bench/_ws_load.py (wrk has no WebSocket): each connection sends a 1 KB text "
            "message and waits for its echo, checked byte for byte; requests/s is echoed "
            "messages per second, latency the round trip. No compression is offered. Areion "
            "serves the showcase's /ws/echo (areion-realtime); Starlette runs on uvicorn "
            "(its websockets implementation), aiohttp on its own server, socketify on uWebSockets."
        ),
    ),
    Scenario(
        name="ws-broadcast",
        title="WebSocket broadcast: 1 publisher, 1,000 subscribers, 20 messages/s (delivery p99)",
        method="GET",
        path="/ws/rooms/bench",
        content_type="",
        check_body=lambda body: True,
        only=WEBSOCKET_PEERS,
        load="ws-broadcast",
        connections=1000,
        notes=(
            "1,000 members of one room and a publisher sending a time-stamped 1 KB message "
            "every 50 ms; every member gets every message. requests/s is deliveries per second; "
            "the latencies are send-to-delivery over every delivery (p99 is the figure). "
            "Areion's room goes through its channels (memory backend), the peers loop over "
            "their open sockets."
        ),
    ),
)
SCENARIOS = (*SCENARIOS, *WEBSOCKET_SCENARIOS)

SCENARIOS_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
