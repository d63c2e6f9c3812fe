"""Areion: an asynchronous web framework with its own HTTP/1.1 server and a plugin system."""

# First: AREION_PURE=1 must be seen before a compiled module is imported (_compiled.py).
from . import _compiled  # noqa: F401  # isort: skip
from .app import App
from .builder import AreionServerBuilder
from .config import AreionConfig
from .exceptions import (
    BadRequestError,
    ConfigError,
    ForbiddenError,
    HttpError,
    InternalServerError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PluginError,
    RequestValidationError,
    RouteError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from .forms import FormData, UploadedFile
from .headers import Headers, MutableHeaders
from .hookspecs import REPLAYED, hookimpl, hookspec, skip_replayed, skip_small_bodies
from .log import DefaultLogger
from .problem import problem_response
from .request import HttpRequest
from .response import (
    FileResponse,
    HttpResponse,
    StreamingResponse,
    create_empty_response,
    create_error_response,
    create_file_response,
    create_html_response,
    create_json_response,
    create_redirect_response,
    create_text_response,
)
from .routing import DefaultRouter, Route, Router, route_options, set_route_option
from .runner import AreionServer
from .server import ServerLimits
from .telemetry import Metric, StandardMetrics, Telemetry
from .types import (
    ByteStream,
    Connection,
    Orchestrator,
    Plugin,
    PluginApp,
    ProtocolSwitch,
    TemplateEngine,
    WebSocketProtocol,
    WebSocketSession,
)
from .websocket import WebSocket, WebSocketDisconnect

__version__ = "2.0.0"


def __getattr__(name: str) -> object:
    # DefaultEngine / DefaultOrchestrator live in their plugins; resolve them on first use so
    # that importing a plugin before areion_core cannot freeze the "not installed" stand-in.
    if name in ("DefaultEngine", "DefaultOrchestrator"):
        from . import _plugin_classes

        value = _plugin_classes.resolve(name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'areion_core' has no attribute {name!r}")


__all__ = [
    "REPLAYED",
    "App",
    "AreionConfig",
    "AreionServer",
    "AreionServerBuilder",
    "BadRequestError",
    "ByteStream",
    "ConfigError",
    "Connection",
    "DefaultEngine",
    "DefaultLogger",
    "DefaultOrchestrator",
    "DefaultRouter",
    "FileResponse",
    "ForbiddenError",
    "FormData",
    "Headers",
    "HttpError",
    "HttpRequest",
    "HttpResponse",
    "InternalServerError",
    "MethodNotAllowedError",
    "Metric",
    "MutableHeaders",
    "NotFoundError",
    "Orchestrator",
    "PayloadTooLargeError",
    "Plugin",
    "PluginApp",
    "PluginError",
    "ProtocolSwitch",
    "RequestValidationError",
    "Route",
    "RouteError",
    "Router",
    "ServerLimits",
    "ServiceUnavailableError",
    "StandardMetrics",
    "StreamingResponse",
    "Telemetry",
    "TemplateEngine",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "UploadedFile",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketProtocol",
    "WebSocketSession",
    "create_empty_response",
    "create_error_response",
    "create_file_response",
    "create_html_response",
    "create_json_response",
    "create_redirect_response",
    "create_text_response",
    "hookimpl",
    "hookspec",
    "problem_response",
    "route_options",
    "set_route_option",
    "skip_replayed",
    "skip_small_bodies",
]
