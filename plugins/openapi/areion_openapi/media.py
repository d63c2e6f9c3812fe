"""What a route's handler and options say about the bytes on the wire, beyond its annotations.

- The success response's media type: a route's ``media_type=`` option, else ``text/html`` for
  a handler that renders a template or calls ``create_html_response`` (read from the names
  its code uses, as the core reads ``request.stream()``), else what the return annotation says.
- A raw request body declared on the route (``request_body={"content": {...}}``, a Request
  Body Object as is), and a non-JSON ``@request_body(bytes, content_type=...)`` as binary.
- The answers the core gives by itself for a route's options: 413 past ``max_body_bytes=``,
  503 past a ``timeout=``; and for a handler that reads ``request.form()``: 400, 413, 415.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from areion_core import route_options

#: Names whose use makes a handler's answer an HTML page.
_HTML_NAMES = frozenset({"render_template", "render_template_async", "stream_template", "create_html_response"})
_HTML = "text/html"


def _code_names(func: Any) -> set[str]:
    code = getattr(inspect.unwrap(func), "__code__", None)
    names: set[str] = set()
    pending = [code] if code is not None else []
    while pending:
        current = pending.pop()
        names.update(current.co_names)
        pending.extend(c for c in current.co_consts if inspect.iscode(c))
    return names


def declared_media_type(route: Any) -> str | None:
    """The success response's media type when the route says or its handler shows it, else None."""
    explicit = route.options.get("media_type") or route_options(route.handler).get("media_type")
    if explicit:
        return str(explicit)
    if _HTML_NAMES & _code_names(route.handler):
        return _HTML
    return None


def with_media_type(responses: dict[str, Any], media_type: str) -> dict[str, Any]:
    """``responses`` with the success response's content under ``media_type``."""
    for status, response in responses.items():
        if status.startswith("2") and status != "204":
            content: dict[str, Any] = response.get("content") or {}
            first: dict[str, Any] = next(iter(content.values())) if content else {}
            schema = first.get("schema")
            if media_type.startswith("text/") and (schema is None or schema == {} or "$ref" in schema
                                                   or schema.get("type") == "object"):
                schema = {"type": "string"}
            response["content"] = {media_type: {"schema": schema} if schema is not None else {}}
    return responses


def raw_request_body(declared: Any) -> dict[str, Any] | None:
    """A Request Body Object given as is (``request_body={"content": {...}}``), or None."""
    if isinstance(declared, Mapping) and "content" in declared and "model" not in declared:
        return {key: value for key, value in declared.items()}
    return None


def binary_schema(model: Any, content_type: str) -> dict[str, Any] | None:
    """``bytes`` sent as a non-JSON media type: the raw bytes (OpenAPI 3.1 §4.8.14.3), or None."""
    if model in (bytes, bytearray) and not content_type.endswith("json"):
        return {"type": "string", "format": "binary"}
    return None


def core_errors(route: Any) -> dict[str, str]:
    """The errors the core answers for the route's own options, by status."""
    out: dict[str, str] = {}
    limit = getattr(route, "max_body_bytes", None)
    if limit is not None:
        out["413"] = f"The request body is larger than {limit} bytes"
    if "form" in _code_names(route.handler):  # await request.form()
        out.setdefault("413", "The form has more parts, files or field bytes than the limits allow")
        out["400"] = "The form body is malformed"
        out["415"] = "The body is not multipart/form-data or application/x-www-form-urlencoded"
    timeout = getattr(route, "timeout", None)
    if timeout is not None:
        out["503"] = f"The handler did not answer within its {timeout:g} s timeout"
    return out
