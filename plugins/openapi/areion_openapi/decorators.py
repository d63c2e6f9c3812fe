"""Decorators that add to or override what the generator reads from a handler.

Each one stores a route option with ``areion_core.set_route_option``, so it works above or
below ``@router.get(...)``; the same keys can be passed to the router directly
(``router.get("/x", summary="...", tags=["users"])``). Stacked ``tags``, ``responses``,
``security`` and ``openapi_extra`` decorators add to each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

from areion_core import route_options, set_route_option

F = TypeVar("F", bound=Callable[..., Any])

#: Route option keys read by the generator (also accepted as router keyword arguments).
SUMMARY = "summary"
DESCRIPTION = "description"
TAGS = "tags"
RESPONSES = "responses"
DEPRECATED = "deprecated"
OPERATION_ID = "operation_id"
INCLUDE_IN_SCHEMA = "include_in_schema"
OPENAPI_EXTRA = "openapi_extra"
SECURITY = "security"
SECURITY_SCHEMES = "openapi_security_schemes"
REQUEST_BODY = "request_body"


def summary(text: str) -> Callable[[F], F]:
    """Set the operation's summary (instead of the docstring's first line)."""
    return _setter(SUMMARY, str(text))


def description(text: str) -> Callable[[F], F]:
    """Set the operation's description (instead of the rest of the docstring); Markdown."""
    return _setter(DESCRIPTION, str(text))


def tags(*names: str) -> Callable[[F], F]:
    """Add tags to the operation (after the tags of the router groups it is in)."""
    def apply(func: F) -> F:
        current = list(route_options(func).get(TAGS, ()))
        current.extend(n for n in names if n not in current)
        set_route_option(func, TAGS, current)
        return func

    return apply


def responses(spec: Mapping[int | str, Any]) -> Callable[[F], F]:
    """Document responses by status: a description, a type, or an OpenAPI Response Object.

    ``@responses({404: "No such user", 200: User, 409: {"description": "Taken", "model": Error}})``
    — a dict may carry ``model`` (a type, turned into a JSON schema) next to any Response
    Object fields. Entries override what the generator found for the same status.
    """
    def apply(func: F) -> F:
        current = dict(route_options(func).get(RESPONSES, {}))
        current.update({str(k): v for k, v in spec.items()})
        set_route_option(func, RESPONSES, current)
        return func

    return apply


@overload
def deprecated(func: F) -> F: ...
@overload
def deprecated(func: None = None) -> Callable[[F], F]: ...
def deprecated(func: F | None = None) -> F | Callable[[F], F]:
    """Mark the operation deprecated (``@deprecated`` or ``@deprecated()``)."""
    if func is not None:
        set_route_option(func, DEPRECATED, True)
        return func
    return _setter(DEPRECATED, True)


def operation_id(value: str) -> Callable[[F], F]:
    """Set the operation id (default: the route's name, plus the method for multi-method routes)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"operation_id must be a non-empty string, got {value!r}")
    return _setter(OPERATION_ID, value)


@overload
def exclude(func: F) -> F: ...
@overload
def exclude(func: None = None) -> Callable[[F], F]: ...
def exclude(func: F | None = None) -> F | Callable[[F], F]:
    """Leave the route out of the document (``include_in_schema=False``)."""
    if func is not None:
        set_route_option(func, INCLUDE_IN_SCHEMA, False)
        return func
    return _setter(INCLUDE_IN_SCHEMA, False)


def openapi_extra(fields: Mapping[str, Any]) -> Callable[[F], F]:
    """Merge raw fields into the Operation Object (``x-`` extensions, ``externalDocs``, ...)."""
    def apply(func: F) -> F:
        current = dict(route_options(func).get(OPENAPI_EXTRA, {}))
        current.update(fields)
        set_route_option(func, OPENAPI_EXTRA, current)
        return func

    return apply


def security(name: str, scopes: Iterable[str] = (), *, scheme: Mapping[str, Any] | None = None
             ) -> Callable[[F], F]:
    """Require the security scheme ``name`` for this operation.

    ``scheme`` declares the scheme itself (a Security Scheme Object, e.g.
    ``{"type": "http", "scheme": "bearer"}``) when the config does not; a name that neither
    declares stops startup with the route named.
    """
    def apply(func: F) -> F:
        opts = route_options(func)
        reqs = list(opts.get(SECURITY, []))
        reqs.append({name: list(scopes)})
        set_route_option(func, SECURITY, reqs)
        if scheme is not None:
            schemes = dict(opts.get(SECURITY_SCHEMES, {}))
            schemes[name] = dict(scheme)
            set_route_option(func, SECURITY_SCHEMES, schemes)
        return func

    return apply


def request_body(model: Any, *, content_type: str = "application/json",
                 description: str | None = None, required: bool = True) -> Callable[[F], F]:
    """Document the request body of a handler that reads it itself (``request.get_parsed_body()``)."""
    return _setter(REQUEST_BODY, {"model": model, "content_type": content_type,
                                  "description": description, "required": required})


def _setter(key: str, value: Any) -> Callable[[F], F]:
    def apply(func: F) -> F:
        set_route_option(func, key, value)
        return func

    return apply
