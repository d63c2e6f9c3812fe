"""Helpers shared by the openapi plugin's tests (a module, not a conftest, so names never clash)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from areion_openapi import OpenAPISettings, build_document
from areion_openapi.schemas import SchemaRegistry
from openapi_spec_validator import validate

from areion_core import AreionServerBuilder, Router
from areion_core.routing import Route


def valid(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``doc`` as OpenAPI (3.1 here) and return it; every test document goes through this."""
    validate(dict(doc))
    return dict(doc)


def routes_of(router: Router) -> list[Route]:
    """The app's compiled routes for ``router``, as the core makes them (no app needed)."""
    specs, _ = router.collect()
    return [Route(spec) for spec in specs]


def document_for(router: Router, settings: OpenAPISettings | None = None, root_path: str = "") -> dict[str, Any]:
    """Build and validate the document of ``router``'s routes."""
    return valid(build_document(routes_of(router), settings or OpenAPISettings(), root_path))


def schema_document(registry: SchemaRegistry, schemas: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A minimal valid document whose responses use ``schemas`` (to validate generated schemas)."""
    paths = {
        f"/s{i}": {"get": {"operationId": f"s{i}", "responses": {"200": {
            "description": "ok", "content": {"application/json": {"schema": schema}}}}}}
        for i, schema in enumerate(schemas)
    }
    doc: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths}
    if registry.components:
        doc["components"] = {"schemas": registry.components}
    return valid(doc)


def build_server(router: Router, section: Mapping[str, Any] | None = None, *, development: bool = True,
                 extra: Mapping[str, Any] | None = None) -> Any:
    """A server with the openapi plugin selected through its entry point (as users install it)."""
    config: dict[str, Any] = {"plugins": {"enabled": ["openapi"], "openapi": dict(section or {})}}
    config.update(extra or {})
    return (AreionServerBuilder().with_router(router).with_config(config)
            .with_development_mode(development).build())
