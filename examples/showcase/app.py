"""The showcase app that `make run` serves: the core's features and every plugin, in one place.

Run it with `make run`, or `areion run examples.showcase.app:server`. Endpoints:

- `/` — an index page linking everything below
- `/json`, `/plaintext`, `/users/:id/posts/:post`, `POST /echo` — the benchmark handlers
- `/api/report` — a slow (0.5 s) endpoint, cached for 30 s (`X-Cache: MISS` then `HIT`)
- `/report` — an HTML page rendered from a Jinja2 template with the report's data, cached too
- `/big` — a 50 KB JSON document, cached; compressed once per encoding (brotli, zstd, gzip);
  `/big/uncached` builds and compresses it on every request
- `/slow` — an endpoint that costs 5 ms, cached (`/slow/uncached` without the cache)
- `/table` — a 100-row table rendered from a template on every request
- `/stream` — five server-sent events, 100 ms apart (compressed chunk by chunk)
- `POST /tasks` and `/tasks` — background tasks; a job also ticks every 10 s
- `/whoami` — the client, scheme and host; from 127.0.0.1 the proxy headers are believed
- `/sleep?s=N` — sleeps N seconds (0.5 by default) under a 1 s route timeout: past it the sleep is
  cancelled and the answer is a 503 problem+json; `/sleep/cancelled` counts the cancelled sleeps
- `/limited` — five requests per minute per client, then a 429 with `Retry-After` and `RateLimit` headers
  (areion-security; `POST /items` is limited to 100 per minute, CORS allows `http://localhost:3000`
  with credentials, and only the hosts 127.0.0.1 and localhost are answered: examples/showcase/security.py)
- `/ws/echo`, `/ws/rooms/:room`, `/events/rooms/:room`, `/chat` — WebSockets, chat rooms over
  channels and their server-sent events (examples/showcase/realtime.py)
- `PUT /upload` — streams the body into a SHA-256 (`{"bytes", "sha256"}`, up to 2 GiB);
  `POST /upload/form` — a multipart form parsed as it arrives, each file hashed;
  `POST /items` — a dataclass body: 201 with the item, 422 problem+json listing every error
  (uploads.py)
- `/docs`, `/redoc`, `/openapi.json` — the API documentation, served offline
- `/metrics` (Prometheus, from 127.0.0.1 only), `/healthz`, `/readyz` — the observability plugin;
  `/dice` counts a metric of its own and opens a span (`SHOWCASE_TRACING=true`: traces on the console)
- `/static/...` — files from examples/showcase/static
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from areion_caching import CacheControl, CacheTypes, cache
from areion_scheduling import DefaultOrchestrator
from areion_templates import DefaultEngine

from areion_core import AreionServerBuilder, BadRequestError, HttpRequest, NotFoundError, Router, StreamingResponse
from examples.showcase.observability import router as observability_router

from . import realtime, security
from .uploads import router as uploads_router

HERE = Path(__file__).parent
router = Router()
router.include_router(observability_router)  # /dice (the plugin serves /metrics, /healthz, /readyz)
orchestrator = DefaultOrchestrator(max_workers=4)
engine = DefaultEngine(templates_dir=str(HERE / "templates"))
stats = {"tasks_done": 0, "ticks": 0, "last_tick": None}
#: Sleeps of /sleep that its timeout cancelled, in this process.
sleeps = {"cancelled": 0}


@dataclass
class Post:
    user_id: int
    post_id: int
    title: str


@dataclass
class Report:
    generated_at: float
    rows: list[dict[str, object]]
    total: int


@dataclass(frozen=True)
class Link:
    """One entry of the index page: the route's name (for ``url_for``), its parameters, what it shows."""

    route: str
    label: str
    shows: str
    params: tuple[tuple[str, object], ...] = ()
    method: str = "GET"
    #: How to try it when a browser cannot (a curl command line, its URL relative to the page).
    curl: str = ""


#: The index page: first what the README's showcase section lists, then the other endpoints.
INDEX = {
    "Try these": (
        Link("api_report", "/api/report", "a slow (0.5 s) JSON report, cached for 30 s: reload it for X-Cache: HIT"),
        Link("report_page", "/report", "the same report as an HTML page rendered from a Jinja2 template, cached"),
        Link("big", "/big", "a 50 KB JSON document, compressed once per encoding (brotli, zstd, gzip), cached"),
        Link("stream", "/stream", "five server-sent events, 100 ms apart"),
        Link("submit", "/tasks", "run a background task", method="POST"),
        Link("task_stats", "/tasks", "background tasks done, and a job that ticks every 10 s"),
        Link("sleep", "/sleep", "sleeps 0.5 s, or ?s=N seconds; past its 1 s timeout the sleep is cancelled: a 503 "
             "problem+json"),
        Link("sleeps_cancelled", "/sleep/cancelled", "how many sleeps the timeout has cancelled so far"),
        Link("whoami", "/whoami", "the client, scheme and host as the app sees them (behind a proxy on 127.0.0.1: "
             "what its X-Forwarded-* or Forwarded headers say)"),
        Link("limited", "/limited", "five requests per minute per client, then a 429 problem+json with Retry-After "
             "and the IETF RateLimit headers"),
        Link("chat", "/chat", "a chat room in the browser over a WebSocket (open it twice); its messages as "
             "server-sent events at /events/rooms/lobby"),
        Link("upload", "/upload", "a body of any size, hashed as it arrives: its size and SHA-256", method="PUT",
             curl="curl -T big.iso"),
        Link("upload_form", "/upload/form", "a multipart form parsed as it arrives: each file's size and SHA-256",
             method="POST", curl="curl -F note=hi -F file=@big.iso"),
        Link("create_item", "/items", "a JSON item: 201 with it, or a 422 problem listing every invalid field",
             method="POST", curl="curl -H 'Content-Type: application/json' -d '{\"name\": \"pen\", \"price\": 1.5}'"),
        Link("openapi_swagger_ui", "/docs", "the API documentation in Swagger UI, served offline"),
        Link("openapi_redoc", "/redoc", "the same documentation in ReDoc"),
        Link("observability.metrics", "/metrics", "Prometheus metrics of every request (from 127.0.0.1)"),
        Link("observability.readyz", "/readyz", "readiness: startup done, not draining, the cache's Redis up"),
        Link("dice", "/dice", "roll a die: a metric of the app's own (showcase_dice_rolls_total) and a span"),
    ),
    "More endpoints": (
        Link("json_endpoint", "/json", "hello world as JSON"),
        Link("plaintext", "/plaintext", "hello world as text"),
        Link("user_post", "/users/7/posts/3", "typed path parameters, a dataclass answer", (("id", 7), ("post", 3))),
        Link("big_uncached", "/big/uncached", "the 50 KB document built and compressed on every request"),
        Link("slow", "/slow", "an endpoint that costs 5 ms, cached"),
        Link("slow_uncached", "/slow/uncached", "the same without the cache"),
        Link("table", "/table", "a 100-row table rendered from a template on every request"),
        Link("openapi_document", "/openapi.json", "the OpenAPI 3.1 document"),
        Link("static", "/static/favicon.svg", "a static file", (("path", "favicon.svg"),)),
    ),
}


@router.get("/", include_in_schema=False)
async def index(request: HttpRequest) -> object:
    """This page: a link to every endpoint of the showcase."""
    sections = {title: [(link, _href(request, link)) for link in links] for title, links in INDEX.items()}
    base = f"{request.scheme}://{request.host}"  # for the curl command lines
    return request.render_template("index.html", {"sections": sections, "request_base": base})


def _href(request: HttpRequest, link: Link) -> str | None:
    """The link's URL, or None when the plugin that serves it is off (``AREION_PLUGINS``)."""
    assert request.app is not None
    try:
        return request.app.url_for(link.route, request=request, **dict(link.params))  # X-Forwarded-Prefix too
    except KeyError:
        return None


@router.get("/json")
async def json_endpoint(request: HttpRequest) -> dict[str, str]:
    """Hello world as JSON."""
    return {"message": "Hello, World!"}


@router.get("/plaintext")
async def plaintext(request: HttpRequest) -> str:
    """Hello world as text."""
    return "Hello, World!"


@router.get("/users/:id/posts/:post")
async def user_post(request: HttpRequest, id: int, post: int) -> Post:
    """One post of one user.

    Args:
        id: the user's id.
        post: the post's id.
    """
    if post > 1000:
        raise NotFoundError("no such post")
    return Post(user_id=id, post_id=post, title=f"Post {post} by user {id}")


@router.post("/echo", request_body={"content": {"application/json": {"schema": {}}}, "required": False})
async def echo(request: HttpRequest) -> object:
    """Send back the JSON body."""
    return request.get_parsed_body()


@router.get("/whoami")
async def whoami(request: HttpRequest) -> dict[str, str | None]:
    """Who is asking: the client's address, the scheme and the host.

    From a proxy on 127.0.0.1 (the showcase's ``forwarded_allow_ips``) they are what its
    ``Forwarded`` or ``X-Forwarded-For``/``-Proto``/``-Host`` headers say; from anywhere else,
    the connection's own.
    """
    client = request.client
    return {"client": client[0] if client else None, "scheme": request.scheme, "host": request.host}


async def build_report() -> Report:
    await asyncio.sleep(0.5)  # stands in for an expensive query
    rows = [{"region": f"Region {i:02d}", "orders": (i * 37) % 101, "revenue": (i * 7919) % 10007}
            for i in range(1, 21)]
    return Report(generated_at=time.time(), rows=rows, total=sum(r["revenue"] for r in rows))  # type: ignore[misc]


@router.get("/api/report")
@cache(ttl=30, tags=["report"])
async def api_report(request: HttpRequest) -> Report:
    """The sales report (slow to compute, cached for 30 s)."""
    return await build_report()


@router.get("/report")
@cache(ttl=30, tags=["report"])
async def report_page(request: HttpRequest) -> object:
    """The sales report as an HTML page (cached for 30 s)."""
    report = await build_report()
    return request.render_template("report.html", {"report": report, "stats": stats})


def big_document() -> list[dict[str, object]]:
    return [{"id": i, "name": f"item {i}", "tags": ["alpha", "beta", "gamma"], "price": i * 1.25}
            for i in range(700)]


@router.get("/big")
@cache(ttl=300)
@CacheControl(CacheTypes.PUBLIC, max_age=60)
async def big(request: HttpRequest) -> list[dict[str, object]]:
    """A 50 KB JSON document (cached, and compressed once per encoding)."""
    return big_document()


@router.get("/big/uncached")
async def big_uncached(request: HttpRequest) -> list[dict[str, object]]:
    """The same 50 KB document, built and compressed on every request."""
    return big_document()


@router.get("/slow")
@cache(ttl=300)
async def slow(request: HttpRequest) -> dict[str, str]:
    """An endpoint that costs 5 ms, cached."""
    await asyncio.sleep(0.005)
    return {"message": "worth caching"}


@router.get("/slow/uncached")
async def slow_uncached(request: HttpRequest) -> dict[str, str]:
    """The same 5 ms endpoint without the cache."""
    await asyncio.sleep(0.005)
    return {"message": "worth caching"}


TABLE_ROWS = [{"id": i, "name": f"User {i}", "email": f"user{i}@example.com", "score": (i * 37) % 100}
              for i in range(100)]


@router.get("/table")
async def table(request: HttpRequest) -> object:
    """A 100-row table rendered from a template on every request (the template benchmark)."""
    return request.render_template("table.html", {"title": "100 rows", "rows": TABLE_ROWS})


@router.get("/stream")
async def stream(request: HttpRequest) -> StreamingResponse:
    """Five server-sent events, 100 ms apart."""

    async def events():  # type: ignore[no-untyped-def]
        for i in range(5):
            yield f"data: tick {i}\n\n"
            await asyncio.sleep(0.1)

    return StreamingResponse(events(), content_type="text/event-stream")


def count_task(n: int) -> None:
    time.sleep(0.05)  # blocking work belongs in the thread pool
    stats["tasks_done"] = int(stats["tasks_done"] or 0) + n


@router.post("/tasks")
async def submit(request: HttpRequest) -> dict[str, str]:
    """Run a task in the background."""
    request.submit_task(count_task, 1)
    return {"status": "submitted"}


@router.get("/tasks")
async def task_stats(request: HttpRequest) -> dict[str, object]:
    """How many background tasks finished, and the last scheduled tick."""
    return dict(stats)


@router.get("/sleep", name="sleep", timeout=1)
async def sleep_for(request: HttpRequest, s: float = 0.5) -> dict[str, float]:
    """Sleep ``s`` seconds, under a 1 s timeout: past it the sleep is cancelled and the answer is a 503.

    Args:
        s: how long to sleep, in seconds (0 to 60).
    """
    if not 0 <= s <= 60:  # also refuses nan
        raise BadRequestError("s must be between 0 and 60")
    try:
        await asyncio.sleep(s)
    except asyncio.CancelledError:
        sleeps["cancelled"] += 1
        raise
    return {"slept": s}


@router.get("/sleep/cancelled")
async def sleeps_cancelled(request: HttpRequest) -> dict[str, int]:
    """How many sleeps of /sleep its timeout has cancelled in this process."""
    return dict(sleeps)


@orchestrator.every(seconds=10, id="showcase.heartbeat")
def heartbeat() -> None:
    stats["ticks"] = int(stats["ticks"] or 0) + 1
    stats["last_tick"] = time.time()


router.include_router(security.router)
router.include_router(uploads_router)

server = (
    AreionServerBuilder()
    .with_router(router)
    .with_engine(engine)
    .with_orchestrator(orchestrator)
    .with_plugins(realtime.RealtimeRoutes())  # /ws/echo, rooms, /chat: when the realtime plugin is on
    .with_static_dir(os.environ.get("AREION_STATIC_DIR") or HERE / "static")
    .with_global_headers({"X-Content-Type-Options": "nosniff"})
    # Proxy headers (X-Forwarded-*, Forwarded) are believed from 127.0.0.1 only: README "Behind a proxy".
    .with_config(forwarded_allow_ips=["127.0.0.1"])
    .with_config({"plugins": {
        "openapi": {"enabled": True, "title": "Areion showcase"},
        # memory by default; SHOWCASE_CACHE_STORE=redis and SHOWCASE_REDIS_URL for Redis
        # (SHOWCASE_CACHE_LOCAL=false turns the Redis store's local tier off).
        "caching": {"store": "${SHOWCASE_CACHE_STORE:-memory}",
                    "url": "${SHOWCASE_REDIS_URL:-redis://127.0.0.1:6379/0}",
                    "local_cache": "${SHOWCASE_CACHE_LOCAL:-true}"},
        "security": {
            "cors": {"origins": ["${SHOWCASE_CORS_ORIGIN:-http://localhost:3000}"], "credentials": True},
            "hosts": {"allowed": ["127.0.0.1", "localhost"]},
            "rate_limit": {"routes": {"POST /items": "100/minute"}},
        },
        # Channels in memory by default; SHOWCASE_CHANNELS=redis shares rooms across workers and hosts.
        # SHOWCASE_REDIS_URL may be any form areion-redis reads: redis+sentinel://, redis+cluster://...
        "realtime": {"allowed_origins": ["http://localhost:3000"], "backend": "${SHOWCASE_CHANNELS:-memory}",
                     "redis": "${SHOWCASE_REDIS_URL:-redis://127.0.0.1:6379/0}"},
        "observability": {
            "metrics": {"enabled": "${SHOWCASE_METRICS:-true}", "allow": ["127.0.0.1", "::1"]},
            "tracing": {"enabled": "${SHOWCASE_TRACING:-false}", "sampling": "${SHOWCASE_TRACE_SAMPLING:-1.0}",
                        "exporter": "${SHOWCASE_TRACE_EXPORTER:-console}"},
        },
    }})
    .build()
)

if __name__ == "__main__":
    server.run()
