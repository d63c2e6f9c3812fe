"""The plugin class: hook wiring only (the logic is in ``service``, ``document`` and ``pages``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, cast

from areion_core import hookimpl

from .cli import add_openapi_command
from .document import RouteLike
from .service import OpenAPIService, service_for

if TYPE_CHECKING:
    from areion_core import App, AreionConfig, Route, Router


class OpenAPIPlugin:
    """OpenAPI 3.1 document, Swagger UI and ReDoc for an Areion app.

    On in development mode, or with ``enabled = true`` in ``[plugins.openapi]``. Implements
    no hot hook, so it costs nothing per request outside its own routes.
    """

    name = "openapi"

    def __init__(self) -> None:
        self.service: OpenAPIService | None = None

    @hookimpl
    def configure(self, app: App, config: AreionConfig) -> None:
        self.service = OpenAPIService(app)

    @hookimpl
    def register_routes(self, app: App, router: Router) -> None:
        service = self.service = service_for(self.service, app)
        if service.site is not None:
            service.site.register(router)

    @hookimpl
    def route_added(self, app: App, route: Route) -> None:
        service = self.service = service_for(self.service, app)
        if service.enabled:
            service.check_route(cast(RouteLike, route))

    @hookimpl
    def startup(self, app: App) -> None:
        service = self.service = service_for(self.service, app)
        if service.enabled:
            # Build now so a problem (an undeclared security scheme, say) stops startup
            # instead of surfacing on the first request for /openapi.json.
            service.document()

    @hookimpl
    def cli_commands(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        add_openapi_command(subparsers)
