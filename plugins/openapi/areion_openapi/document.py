"""The OpenAPI 3.1.0 document, built from an app's routes.

For each route and method: path parameters typed from the handler's annotations, query
parameters from its other parameters, a request body from a record-typed parameter (or
``@request_body``), the success response from the return annotation, error responses from
the ``HttpError`` subclasses the handler raises and from the core's own 400/404, and text
from the docstring. Route options set by the decorators in ``decorators.py`` override or add.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from areion_core import HttpResponse, PluginError
from areion_core.plugin_api import status_phrase

from . import decorators as opt
from .docstrings import Docstring, parse_docstring
from .media import binary_schema, core_errors, declared_media_type, raw_request_body, with_media_type
from .raises import raised_errors
from .schemas import SchemaRegistry, is_structured, json_default, split_optional, unwrap_annotated
from .settings import OpenAPISettings, check_scheme

OPENAPI_VERSION = "3.1.0"
#: The methods a Path Item Object can hold, in the order OpenAPI lists them.
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_SCHEMA = "Error"
_JSON = "application/json"
_PROBLEM = "application/problem+json"
_PATH_SLUG = re.compile(r"[^A-Za-z0-9]+")
_STREAMS = {"AsyncIterator", "AsyncIterable", "AsyncGenerator", "Iterator", "Iterable", "Generator"}


class RouteLike(Protocol):
    """The attributes of ``areion_core.routing.Route`` the generator reads."""

    path: str
    methods: frozenset[str]
    handler: Any
    name: str
    options: dict[str, Any]
    param_names: tuple[str, ...]
    param_types: dict[str, Any]
    tags: tuple[str, ...]
    include_in_schema: bool


class DuplicateOperationIdError(PluginError):
    """Two operations were given the same operationId; the message names both routes."""


def describe(route: RouteLike, method: str) -> str:
    """``GET /users/{id} (handler get_user)`` — how error messages name a route."""
    return f"{method.upper()} {route.path} (handler {route.name})"


def documented(route: RouteLike) -> bool:
    """Whether ``route`` belongs in the document (not excluded by option or attribute)."""
    return bool(route.include_in_schema) and route.options.get(opt.INCLUDE_IN_SCHEMA) is not False


def shared_names(routes: Iterable[RouteLike]) -> frozenset[str]:
    """Route names that several documented routes share (one handler mounted twice, say)."""
    counts: dict[str, int] = {}
    for route in routes:
        if documented(route) and not route.options.get(opt.OPERATION_ID):
            counts[route.name] = counts.get(route.name, 0) + 1
    return frozenset(name for name, n in counts.items() if n > 1)


def operation_ids(route: RouteLike, shared: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """``(method, operationId)`` for each documented method of ``route``.

    The id is ``@operation_id(...)``, else the route's name; a route with several methods
    adds ``_<method>``. A name that several routes share (``shared``) gets the path and the
    method added (``get_item`` → ``get_item_v2_items_id_get``). Both depend only on the route
    table, so ids are stable; an explicit id that repeats another is an error, not renamed.
    """
    methods = [m for m in METHODS if m.upper() in route.methods]
    base = route.options.get(opt.OPERATION_ID)
    qualify = len(methods) > 1
    if not base:
        base = route.name
        if base in shared:
            base = f"{base}_{_PATH_SLUG.sub('_', route.path).strip('_') or 'root'}"
            qualify = True
    return [(m, f"{base}_{m}" if qualify else base) for m in methods]


def build_document(routes: Iterable[RouteLike], settings: OpenAPISettings, root_path: str = "") -> dict[str, Any]:
    """The whole document as plain JSON-able data. Raises ``PluginError`` for a duplicate
    operationId or an undeclared security scheme, naming the routes involved."""
    registry = SchemaRegistry()
    schemes: dict[str, dict[str, Any]] = dict(settings.security_schemes)
    paths: dict[str, dict[str, Any]] = {}
    seen_ids: dict[str, str] = {}
    tag_order: list[str] = []
    pending_security: list[tuple[str, list[dict[str, list[str]]]]] = []
    routes = [r for r in routes if documented(r)]
    shared = shared_names(routes)
    for route in routes:
        info = _HandlerInfo(route)
        for method, op_id in operation_ids(route, shared):
            op = _operation(route, method, op_id, info, registry)
            where = describe(route, method)
            if op_id in seen_ids:
                raise DuplicateOperationIdError(
                    f"openapi: operationId {op_id!r} is used by {seen_ids[op_id]} and by {where}; "
                    "give one of them @operation_id(...) or a different route name")
            seen_ids[op_id] = where
            for tag in op.get("tags", ()):
                if tag not in tag_order:
                    tag_order.append(tag)
            if "security" in op:
                pending_security.append((where, op["security"]))
            paths.setdefault(route.path, {})[method] = op
        for name, scheme in route.options.get(opt.SECURITY_SCHEMES, {}).items():
            check_scheme(f"security scheme {name!r} declared on {route.name}", scheme)
            schemes.setdefault(name, dict(scheme))
    for where, requirements in pending_security:
        for requirement in requirements:
            for name in requirement:
                if name not in schemes:
                    raise PluginError(
                        f"openapi: {where} requires security scheme {name!r}, which is declared "
                        "neither in [plugins.openapi.security_schemes] nor by @security(..., scheme=...)")
    doc: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": _info(settings)}
    servers = [dict(s) for s in settings.servers] or ([{"url": root_path}] if root_path else [])
    if servers:
        doc["servers"] = servers
    doc["paths"] = paths
    components: dict[str, Any] = {}
    if registry.components:
        components["schemas"] = dict(sorted(registry.components.items()))
    if schemes:
        components["securitySchemes"] = schemes
    if components:
        doc["components"] = components
    if tag_order:
        doc["tags"] = [{"name": t} for t in tag_order]
    return doc


def _info(settings: OpenAPISettings) -> dict[str, Any]:
    info: dict[str, Any] = {"title": settings.title, "version": settings.version}
    if settings.description:
        info["description"] = settings.description
    return info


class _HandlerInfo:
    """Signature, type hints and docstring of a route's handler, read once per route."""

    def __init__(self, route: RouteLike) -> None:
        func = inspect.unwrap(route.handler)
        self.func = func
        try:
            sig: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            sig = None
        try:
            hints = typing.get_type_hints(func, include_extras=True)
        except (NameError, TypeError, AttributeError, SyntaxError):  # unresolvable forward references
            hints = {k: v for k, v in getattr(func, "__annotations__", {}).items() if not isinstance(v, str)}
        self.hints = hints
        self.doc: Docstring = parse_docstring(getattr(func, "__doc__", None))
        params = list(sig.parameters.values())[1:] if sig is not None else []  # [0] is the request
        self.params = [p for p in params if p.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
        self.has_return = "return" in hints or (
            sig is not None and sig.return_annotation is not inspect.Signature.empty)
        self.returns = hints.get("return", sig.return_annotation if sig is not None else None)
        self.errors = raised_errors(func)


def _operation(route: RouteLike, method: str, op_id: str, info: _HandlerInfo,
               registry: SchemaRegistry) -> dict[str, Any]:
    options = route.options
    doc = info.doc
    op: dict[str, Any] = {}
    tags = list(route.tags)
    tags += [t for t in options.get(opt.TAGS, ()) if t not in tags]
    if tags:
        op["tags"] = tags
    op["summary"] = options.get(opt.SUMMARY) or doc.summary or route.name.replace("_", " ").strip().capitalize()
    text = options.get(opt.DESCRIPTION) or doc.description
    if text:
        op["description"] = text
    op["operationId"] = op_id

    parameters: list[dict[str, Any]] = []
    typed_path = False
    for name in route.param_names:
        tp = route.param_types.get(name, info.hints.get(name, str))
        base, _ = split_optional(unwrap_annotated(tp)[0])
        typed_path = typed_path or base is not str
        param = {"name": name, "in": "path", "required": True,
                 "schema": registry.schema_for(base) or {"type": "string"}}
        if name in doc.params:
            param["description"] = doc.params[name]
        parameters.append(param)
    body_param: inspect.Parameter | None = None
    checked_query = False
    for p in info.params:
        if p.name in route.param_names:
            continue
        tp = info.hints.get(p.name, p.annotation)
        if body_param is None and _is_body(tp):
            body_param = p
            continue
        required = p.default is inspect.Parameter.empty
        base, _ = split_optional(unwrap_annotated(tp)[0])
        schema = registry.schema_for(base) or {"type": "string"}
        checked_query = checked_query or required or base not in (str, inspect.Parameter.empty)
        if not required and p.default is not None:
            ok, value = json_default(p.default)
            if ok:
                schema = {**schema, "default": value}
        param = {"name": p.name, "in": "query", "required": required, "schema": schema}
        if p.name in doc.params:
            param["description"] = doc.params[p.name]
        parameters.append(param)
    if parameters:
        op["parameters"] = parameters

    body = _request_body(options.get(opt.REQUEST_BODY), body_param, info, registry)
    if body is not None:
        op["requestBody"] = body

    responses = _success(options, info, registry)
    media_type = declared_media_type(route)
    if media_type is not None:
        responses = with_media_type(responses, media_type)
    errors: dict[str, list[str]] = {status: [text] for status, text in core_errors(route).items()}
    for err in info.errors:
        text = doc.raises.get(err.error.__name__) or err.message or _class_text(err.error) or _phrase(err.status_code)
        errors.setdefault(str(err.status_code), [])
        if text not in errors[str(err.status_code)]:
            errors[str(err.status_code)].append(text)
    # What the core answers by itself: every path or query value that does not convert, every
    # missing required one and every body field that does not fit is listed in one 422; a JSON
    # body sent as another media type is a 415, JSON that does not parse a 400.
    if typed_path or checked_query or (body_param is not None):
        errors.setdefault("422", ["Validation failed: every invalid path, query or body value in `errors`"])
    if body_param is not None:
        errors.setdefault("400", ["The request body is not valid JSON"])
        errors.setdefault("415", ["The request body is not application/json"])
    for status, texts in sorted(errors.items()):
        if status not in responses:
            responses[status] = {"description": " / ".join(texts), "content": {
                _PROBLEM: {"schema": _error_ref(registry)}}}
    for status, spec in options.get(opt.RESPONSES, {}).items():
        responses[str(status)] = _declared_response(str(status), spec, responses.get(str(status)), registry)
    op["responses"] = dict(sorted(responses.items(), key=lambda kv: (kv[0] == "default", kv[0])))

    if options.get(opt.DEPRECATED):
        op["deprecated"] = True
    if options.get(opt.SECURITY) is not None:
        op["security"] = [dict(r) for r in options[opt.SECURITY]]
    extra = options.get(opt.OPENAPI_EXTRA)
    if extra:
        op = _deep_merge(op, extra)
    return op


def _is_body(tp: Any) -> bool:
    base, _ = split_optional(unwrap_annotated(tp)[0])
    if is_structured(base):
        return True
    args = typing.get_args(base)
    return typing.get_origin(base) in (list, tuple, set) and bool(args) and is_structured(args[0])


def _request_body(declared: Mapping[str, Any] | None, param: inspect.Parameter | None,
                  info: _HandlerInfo, registry: SchemaRegistry) -> dict[str, Any] | None:
    raw = raw_request_body(declared)
    if raw is not None:
        return raw
    if declared is not None:
        content_type = declared.get("content_type") or _JSON
        schema = binary_schema(declared["model"], content_type) or registry.schema_for(declared["model"], "validation")
        media = {"schema": schema}
        body: dict[str, Any] = {"required": bool(declared.get("required", True)),
                                "content": {declared.get("content_type") or _JSON: media}}
        if declared.get("description"):
            body["description"] = declared["description"]
        return body
    if param is None:
        return None
    tp = info.hints.get(param.name, param.annotation)
    body = {"required": param.default is inspect.Parameter.empty,
            "content": {_JSON: {"schema": registry.schema_for(tp, "validation")}}}
    if param.name in info.doc.params:
        body["description"] = info.doc.params[param.name]
    return body


def _success(options: Mapping[str, Any], info: _HandlerInfo, registry: SchemaRegistry) -> dict[str, Any]:
    """The success response(s): the return annotation's, under the route's ``status_code=``."""
    out = _success_by_return(info, registry)
    status = options.get("status_code")
    if status is None:
        return out
    main = "200" if "200" in out else "204"
    response = out.pop(main)
    out.pop("204", None)  # a None return gets the route's status too
    if response["description"] in ("Successful response", "No content"):
        response["description"] = _phrase(str(status))
    if status in (204, 304):
        response.pop("content", None)  # no body with these
    out[str(status)] = response
    return out


def _success_by_return(info: _HandlerInfo, registry: SchemaRegistry) -> dict[str, Any]:
    """The success response(s) from the return annotation (the core's conversion rules)."""
    text = info.doc.returns
    if not info.has_return:
        return {"200": {"description": text or "Successful response"}}
    tp, _ = unwrap_annotated(info.returns)
    if tp is None or tp is type(None):
        return {"204": {"description": text or "No content"}}
    tp, optional = split_optional(tp)
    out: dict[str, Any] = {"200": {"description": text or "Successful response"}}
    media = _media(tp, registry)
    if media is not None:
        out["200"]["content"] = media
    if optional:  # the core answers a None return with 204
        out["204"] = {"description": "No content"}
    return out


def _media(tp: Any, registry: SchemaRegistry) -> dict[str, Any] | None:
    origin = typing.get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, HttpResponse):
        return None  # the handler builds its own response: type and body are unknown
    if tp is str:
        return {"text/plain": {"schema": {"type": "string"}}}
    if tp in (bytes, bytearray, memoryview):
        return {"application/octet-stream": {}}
    if getattr(origin, "__name__", "") in _STREAMS and getattr(origin, "__module__", "") in (
            "collections.abc", "typing"):
        return {"application/octet-stream": {}}  # streamed with chunked encoding
    schema = registry.schema_for(tp)
    return {_JSON: {"schema": schema} if schema else {}}


def _declared_response(status: str, spec: Any, current: Mapping[str, Any] | None,
                       registry: SchemaRegistry) -> dict[str, Any]:
    fallback = (current or {}).get("description") or _phrase(status)
    if isinstance(spec, str):
        out = dict(current or {})
        out["description"] = spec
        return out
    if isinstance(spec, Mapping):
        out = {k: v for k, v in spec.items() if k != "model"}
        if "model" in spec:
            schema = registry.schema_for(spec["model"])
            out["content"] = {_JSON: {"schema": schema} if schema else {}}
        out.setdefault("description", fallback)
        return out
    if spec is None:
        return {"description": fallback}
    schema = registry.schema_for(spec)  # a type
    return {"description": fallback, "content": {_JSON: {"schema": schema} if schema else {}}}


def _error_ref(registry: SchemaRegistry) -> dict[str, Any]:
    return registry.add_component(ERROR_SCHEMA, {
        "title": ERROR_SCHEMA, "type": "object",
        "description": "An RFC 9457 problem details object (application/problem+json): the body of "
                       "every error response (HttpError and its subclasses, the framework's own).",
        "properties": {
            "type": {"type": "string", "description": "A URI naming the kind of problem.",
                     "default": "about:blank"},
            "title": {"type": "string", "description": "The status's phrase."},
            "status": {"type": "integer", "description": "The HTTP status code."},
            "detail": {"type": "string", "description": "What went wrong, this time."},
            "instance": {"type": "string", "description": "A URI for this occurrence."},
            "error": {"type": "string", "description": "The detail again (Areion 1.x clients)."},
            "errors": {"type": "array", "description": "422: every validation error.",
                       "items": {"type": "object", "properties": {
                           "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                           "msg": {"type": "string"}, "type": {"type": "string"}},
                           "required": ["loc", "msg", "type"]}},
        },
        "required": ["type", "status"],
    })


def _class_text(cls: type) -> str | None:
    """A user-defined error's docstring; the core's own ("404 Not Found.") add nothing."""
    if cls.__module__.startswith("areion_core"):
        return None
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc).splitlines()[0] if doc and doc.strip() else None


def _phrase(status: int | str) -> str:
    try:
        code = int(status)
    except ValueError:
        return "Response"  # "default", "4XX"
    return status_phrase(code) or "Response"


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
