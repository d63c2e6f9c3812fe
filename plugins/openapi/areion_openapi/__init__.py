"""areion-openapi: an OpenAPI 3.1 document, Swagger UI and ReDoc for Areion apps, served offline."""

from .decorators import (
    deprecated,
    description,
    exclude,
    openapi_extra,
    operation_id,
    request_body,
    responses,
    security,
    summary,
    tags,
)
from .document import DuplicateOperationIdError, build_document
from .hooks import OpenAPIPlugin
from .schemas import SchemaRegistry
from .settings import OpenAPISettings

__version__ = "0.1.0"

__all__ = [
    "DuplicateOperationIdError",
    "OpenAPIPlugin",
    "OpenAPISettings",
    "SchemaRegistry",
    "build_document",
    "deprecated",
    "description",
    "exclude",
    "openapi_extra",
    "operation_id",
    "request_body",
    "responses",
    "security",
    "summary",
    "tags",
]
