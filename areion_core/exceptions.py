"""HTTP errors a handler can raise, and the errors Areion raises for misuse and bad config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._status import status_phrase
from .headers import check_header


class HttpError(Exception):
    """An exception that becomes an HTTP error response.

    Subclass it and set ``status_code`` to make your own; raise it anywhere in a handler or
    middleware and the client gets an RFC 9457 ``application/problem+json`` body with that
    status: ``detail`` (and, for Areion 1.x clients, ``error``) is ``message``.
    """

    status_code: int = 500

    def __init__(
        self,
        message: str | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if status_code is not None:
            self.status_code = status_code
        if message is None:
            message = status_phrase(self.status_code) or "Error"
        self.message = message
        self.headers = dict(headers) if headers else {}
        if headers:
            for name, value in self.headers.items():
                check_header(name, value if isinstance(value, str) else str(value))  # fail where raised
        super().__init__(message)


class BadRequestError(HttpError):
    """400 Bad Request."""

    status_code = 400


class UnauthorizedError(HttpError):
    """401 Unauthorized."""

    status_code = 401


class ForbiddenError(HttpError):
    """403 Forbidden."""

    status_code = 403


class NotFoundError(HttpError):
    """404 Not Found."""

    status_code = 404


class MethodNotAllowedError(HttpError):
    """405 Method Not Allowed."""

    status_code = 405


class PayloadTooLargeError(HttpError):
    """413 Content Too Large."""

    status_code = 413


class UnsupportedMediaTypeError(HttpError):
    """415 Unsupported Media Type (a JSON body sent with another Content-Type)."""

    status_code = 415


class RequestValidationError(HttpError):
    """422 Unprocessable Content: every invalid path, query or body value, listed at once.

    ``errors`` is a list of ``{"loc": [...], "msg": ..., "type": ...}``: ``loc`` starts with
    ``"path"``, ``"query"`` or ``"body"``, then the field names and list indexes inside the
    body. It becomes the problem's ``errors`` extension member; no input value is repeated.
    """

    status_code = 422

    def __init__(self, errors: list[dict[str, Any]], message: str | None = None) -> None:
        self.errors = errors
        if message is None:
            count = len(errors)
            message = f"the request has {count} invalid value{'' if count == 1 else 's'}"
        super().__init__(message)


class InternalServerError(HttpError):
    """500 Internal Server Error."""

    status_code = 500


class ServiceUnavailableError(HttpError):
    """503 Service Unavailable."""

    status_code = 503


class ConfigError(Exception):
    """Bad configuration: names the key, the value given and what was expected."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"config key {key!r}: got {value!r}, expected {expected}")


class PluginError(Exception):
    """A plugin failed at startup, or plugin selection named something not installed."""


class RouteError(Exception):
    """A route was declared wrongly (duplicate, bad path, bad handler signature)."""
