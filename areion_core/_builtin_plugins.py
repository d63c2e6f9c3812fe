"""Built-in behaviour registered as plugins (``trylast``), so third-party plugins can override it."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any

from .exceptions import HttpError
from .hookspecs import hookimpl
from .problem import http_error_response
from .response import HTML, HttpResponse, create_error_response
from .static import StaticFiles

if TYPE_CHECKING:
    from .request import HttpRequest
    from .routing import Router
    from .types import PluginApp

logger = logging.getLogger("areion")


class ErrorPages:
    """Turns exceptions into responses: ``HttpError`` → its status; anything else → 500.

    A 500 never leaks details to the client; the traceback goes to the log. In development
    mode the 500 body is a readable traceback page instead.
    """

    name = "areion.errors"

    def __init__(self, development: bool) -> None:
        self.development = development

    @hookimpl(trylast=True)
    def exception(self, request: HttpRequest, exc: BaseException) -> HttpResponse:
        if isinstance(exc, HttpError):
            return http_error_response(exc)
        from .hook_chains import PluginFailure

        if isinstance(exc, PluginFailure) and isinstance(exc.original, HttpError):
            return http_error_response(exc.original)  # a plugin refusing the request on purpose
        if isinstance(exc, PluginFailure):
            logger.error("plugin %r failed in %s for %s %s", exc.plugin, exc.hook, request.method,
                         request.raw_path, exc_info=exc.original)
            shown: BaseException = exc.original
        else:
            logger.error("unhandled exception in %s %s", request.method, request.raw_path, exc_info=exc)
            shown = exc
        if self.development:
            import html  # only for this development page: html.entities is 0.4 MB

            tb = "".join(traceback.format_exception(type(shown), shown, shown.__traceback__))
            page = (
                "<!doctype html><html><head><meta charset=utf-8><title>500 Internal Server Error</title>"
                "<style>body{font:14px system-ui,sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;"
                "overflow:auto}</style></head><body><h1>500 Internal Server Error</h1>"
                f"<p>{html.escape(request.method)} {html.escape(request.raw_path)}</p>"
                f"<h2>{html.escape(type(shown).__name__)}: {html.escape(str(shown))}</h2>"
                f"<pre>{html.escape(tb)}</pre><p>Shown because development mode is on.</p></body></html>"
            )
            return HttpResponse(page, 500, HTML)
        return create_error_response(500, "Internal Server Error")


class StaticFilesPlugin:
    """Serves ``static_dir`` under ``static_prefix`` (``/static`` by default)."""

    name = "areion.static"

    def __init__(self, directory: str, prefix: str) -> None:
        self.files = StaticFiles(directory)
        self.prefix = prefix

    @hookimpl(trylast=True)
    def register_routes(self, app: PluginApp, router: Router) -> None:
        files = self.files

        async def static_file(request: Any, path: str) -> HttpResponse:
            response = files.response(path)
            if request.query_string.startswith("v="):
                # A content-versioned URL (static_url() adds ?v=<hash>) never changes meaning.
                response.headers.setdefault("cache-control", "public, max-age=31536000, immutable")
            return response

        router.add_route(self.prefix + "/{path:path}", static_file, ["GET"], name="static",
                         include_in_schema=False)
