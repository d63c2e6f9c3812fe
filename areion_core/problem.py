"""RFC 9457 problem details: the one shape of an error response (``application/problem+json``).

``problem_response(status, detail)`` is the whole API: one function for every status, so a
framework error, a plugin's error and an application's error all reach the client in the
same shape. A problem with no ``type`` is ``"about:blank"`` (RFC 9457 §4.2.1): the status
says it all, and ``title`` is then the status's phrase. Anything more a client may act on
goes in extension members (§3.2), e.g. ``extensions={"errors": [...]}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._status import status_phrase
from .exceptions import HttpError
from .response import HttpResponse, create_error_response, dumps_json

__all__ = ["PROBLEM_JSON", "http_error_response", "problem_response", "status_phrase"]

#: The media type of a problem details object in JSON (RFC 9457 §6.1).
PROBLEM_JSON = "application/problem+json"
#: The members RFC 9457 §3.1 defines; an extension member may not take one of these names.
_STANDARD = frozenset({"type", "title", "status", "detail", "instance"})
# §3.2: extension names SHOULD start with a letter, be at least three characters long and use
# only ALPHA, DIGIT and "_", so that clients can read them as identifiers in any language.
_EXTENSION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,}")


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    type: str = "about:blank",
    title: str | None = None,
    instance: str | None = None,
    extensions: Mapping[str, Any] | None = None,
    headers: Mapping[str, object] | None = None,
) -> HttpResponse:
    """An ``application/problem+json`` response (RFC 9457) with ``status``.

    ``detail`` explains this occurrence to a human; ``type`` is a URI naming the kind of
    problem (``"about:blank"``: no more than the status); ``title`` defaults to the status
    phrase (``"Service Unavailable"``); ``instance`` is a URI for this occurrence;
    ``extensions`` adds members beside the standard ones (JSON-serialisable values, names
    such as ``errors``). ``headers`` go on the response (``Retry-After``, ``Allow``...).

    Raises ``ValueError`` for a status outside 400-599, or an extension member that is
    a standard member's name or not an identifier-like name of three or more characters.
    """
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"a problem response needs an error status (400-599), got {status!r}")
    body: dict[str, Any] = {"type": type}
    if title is None:
        title = status_phrase(status)  # an unregistered status has none; the member is optional
    if title is not None:
        body["title"] = title
    body["status"] = status
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    for name, value in (extensions or {}).items():
        if name in _STANDARD:
            raise ValueError(f"extension member {name!r} would replace the standard member of that name")
        if not isinstance(name, str) or _EXTENSION_NAME.fullmatch(name) is None:
            raise ValueError(f"extension member name {name!r}: use a letter, then letters, digits or '_' "
                             "(three characters or more; RFC 9457 §3.2)")
        body[name] = value
    return HttpResponse(dumps_json(body), status, PROBLEM_JSON, headers)


def http_error_response(exc: HttpError) -> HttpResponse:
    """The problem response of a raised ``HttpError``: ``detail`` and ``error`` its message.

    ``error`` repeats the message for Areion 1.x clients (which read ``body["error"]``); a
    ``RequestValidationError`` adds its ``errors`` list. A status outside 400-599 keeps the
    1.x body (``create_error_response``).
    """
    status = exc.status_code
    if not 400 <= status <= 599:
        return create_error_response(status, exc.message, exc.headers or None)
    extensions: dict[str, Any] = {"error": exc.message}
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list):
        extensions["errors"] = errors
    return problem_response(status, exc.message, extensions=extensions, headers=exc.headers or None)
