"""Every hook an Areion plugin can implement.

Cold hooks are called through pluggy at startup (or rarely). Hot hooks are declared here
too, but the core never calls them through pluggy per request: at startup it compiles the
implementations into plain tuples per route (see ``pipeline.py``), so a hook nobody
implements costs one ``is None`` test. Any implementation may be ``async def``; the core
awaits it. Hook names are the contract; ``docs/plugins.md`` documents each one and a test
keeps the two in step.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .config import AreionConfig
    from .request import HttpRequest
    from .response import HttpResponse
    from .routing import Route, Router
    from .types import Orchestrator, PluginApp, TemplateEngine, WebSocketProtocol

PROJECT_NAME = "areion"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The hooks compiled into per-route call chains instead of being called through pluggy.
HOT_HOOKS = ("request_started", "request_received", "response_ready", "exception", "response_sent")

Handler = Callable[..., Awaitable[Any]]

#: ``response.extensions`` key of a replayed response: one a plugin answers with exactly as it
#: was sent before (a cache hit). Such a response skips the ``response_ready`` and
#: ``response_sent`` impls marked :func:`skip_replayed`.
REPLAYED = "areion.replayed"


def skip_replayed(impl: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a ``response_ready`` or ``response_sent`` implementation as not wanted on replays.

    A replayed response (``response.extensions["areion.replayed"]`` set, as the caching
    plugin does for a hit) already went through this implementation when it was first
    made — compressed, given its Cache-Control, stored — so doing it again is waste. Leave
    unmarked anything that must see every response sent (a request id, a timing header,
    metrics).
    """
    impl.areion_skip_replayed = True  # type: ignore[attr-defined]
    return impl


def skip_small_bodies(threshold: Callable[[Any], int]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a ``response_ready`` implementation that leaves small plain responses alone.

    ``threshold(plugin)`` is read once, when the chains are compiled (after ``configure``):
    a plain ``HttpResponse`` whose body is shorter than that many bytes is one the
    implementation would return ``None`` for. When every implementation of a route's chain
    says so, the core runs no chain for such a response at all — one length test instead of
    a call per plugin (compression deciding a 27-byte answer is not worth compressing).
    """

    def mark(impl: Callable[..., Any]) -> Callable[..., Any]:
        impl.areion_small_body_threshold = threshold  # type: ignore[attr-defined]
        return impl

    return mark


# --- cold hooks: startup, configuration, routes -------------------------------------------


@hookspec
def configure(app: PluginApp, config: AreionConfig) -> None:
    """Read and validate this plugin's ``[plugins.<name>]`` section; raise ``ConfigError`` to stop startup."""


@hookspec
def register_routes(app: PluginApp, router: Router) -> None:
    """Add the plugin's own routes (``/docs``, ``/static/...``) to the app's router."""


@hookspec
def route_added(app: PluginApp, route: Route) -> None:
    """See each route once, after routes are final and before the pipeline is compiled."""


@hookspec
def hot_hooks_for_route(app: PluginApp, route: Route) -> Collection[str] | None:
    """Name the hot hooks this plugin wants on ``route``; ``None`` means all it implements."""


@hookspec
def wrap_handler(app: PluginApp, route: Route, handler: Handler) -> Handler | None:
    """Return a replacement for ``route``'s async handler (called once per route at startup)."""


@hookspec
def vary_normalizers(app: PluginApp) -> Mapping[str, Callable[[HttpRequest], str]] | None:
    """Map a request header name to a function that reduces its value to what changes the response."""


@hookspec(firstresult=True)
def template_engine(app: PluginApp) -> TemplateEngine | None:
    """Provide the template engine used by ``request.render_template`` (first answer wins)."""


@hookspec(firstresult=True)
def orchestrator(app: PluginApp) -> Orchestrator | None:
    """Provide the orchestrator used by ``request.submit_task`` (first answer wins)."""


@hookspec(firstresult=True)
def websocket_protocol(app: PluginApp) -> WebSocketProtocol | None:
    """Provide the WebSocket protocol that ``Router.websocket`` routes switch to (first answer wins)."""


@hookspec
def cli_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add subcommands to the ``areion`` CLI; set ``func=callable(args) -> int`` on each parser."""


@hookspec
def startup(app: PluginApp) -> Awaitable[None] | None:
    """Run once per worker process after the event loop starts and before the first request."""


@hookspec
def shutdown(app: PluginApp) -> Awaitable[None] | None:
    """Run once per worker process after the last request, in the reverse of startup order."""


# --- hot hooks: compiled into call chains -----------------------------------------------


@hookspec
def request_started(request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse | None] | None:
    """See every request once routed, matched or not (``request.route`` None); the first non-None answer wins."""


@hookspec
def request_received(request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse | None] | None:
    """Answer a request before its handler runs (a cache hit); the first non-None answer wins."""


@hookspec
def response_ready(
    request: HttpRequest, response: HttpResponse
) -> HttpResponse | Awaitable[HttpResponse | None] | None:
    """Inspect or replace the response before it is sent; each plugin sees the previous one's result."""


@hookspec
def exception(
    request: HttpRequest, exc: BaseException
) -> HttpResponse | Awaitable[HttpResponse | None] | None:
    """Turn an exception raised while handling into a response; the first non-None answer wins."""


@hookspec
def response_sent(request: HttpRequest, response: HttpResponse) -> Awaitable[None] | None:
    """Observe a response after its last byte was handed to the transport (metrics, logs)."""
