"""Handler parameters: path parameters and query parameters, converted by annotation.

Worked out once per route at startup. A path value that does not convert is a 404 (the URL
names no resource); a query value that does not convert, or a required one that is missing,
is a 400.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import sys
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

from .exceptions import BadRequestError, NotFoundError, RouteError
from .routing import Route

Converter = Callable[[str], Any]
_NO_DEFAULT = inspect.Parameter.empty


def _convert_bool(value: str) -> bool:
    low = value.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int64(value: str) -> int:
    """``int()`` limited to signed 64 bits: what JSON encoders and databases can carry."""
    number = int(value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(f"{value!r} is outside the 64-bit integer range")
    return number


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def converter_for(tp: Any) -> Converter | None:
    """A str → value converter for an annotation, or None to pass the string through."""
    if tp is inspect.Parameter.empty or tp is str or tp is Any:
        return None
    tp, _ = _unwrap_optional(tp)
    if tp is str:
        return None
    if tp is bool:
        return _convert_bool
    if tp is int:
        return _int64
    if tp is float:
        return float
    if tp is uuid.UUID:
        return uuid.UUID
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return lambda v: tp(v)
    if typing.get_origin(tp) is typing.Literal:
        allowed = {str(a): a for a in typing.get_args(tp)}

        def literal(v: str) -> Any:
            if v not in allowed:
                raise ValueError(f"not one of {sorted(allowed)}")
            return allowed[v]

        return literal
    return None


def _is_list(tp: Any) -> tuple[bool, Any]:
    tp, _ = _unwrap_optional(tp)
    if typing.get_origin(tp) in (list, tuple, set, frozenset) or tp in (list,):
        args = typing.get_args(tp)
        return True, (args[0] if args else str)
    return False, None


class QueryParam:
    """One handler parameter read from the query string."""

    __slots__ = ("annotation", "convert", "default", "many", "name", "required")

    def __init__(self, name: str, annotation: Any, default: Any) -> None:
        self.name = name
        self.annotation = annotation
        self.default = default
        many, item = _is_list(annotation)
        self.many = many
        self.convert = converter_for(item if many else annotation)
        self.required = default is _NO_DEFAULT

    def read(self, request: Any) -> Any:
        params = request.query_params
        if self.many:
            raw_list = params.get_all(self.name)
            if not raw_list:
                if self.required:
                    raise BadRequestError(f"missing query parameter {self.name!r}")
                return self.default
            return [self._conv(v) for v in raw_list]
        raw = params.get(self.name)
        if raw is None:
            if self.required:
                raise BadRequestError(f"missing query parameter {self.name!r}")
            return self.default
        return self._conv(raw)

    def _conv(self, raw: str) -> Any:
        if self.convert is None:
            return raw
        try:
            return self.convert(raw)
        except (ValueError, TypeError):
            raise BadRequestError(
                f"query parameter {self.name!r} must be {_type_name(self.annotation)}, got {raw!r}"
            ) from None


def _type_name(tp: Any) -> str:
    tp, _ = _unwrap_optional(tp)
    return getattr(tp, "__name__", str(tp))


def body_model_kind(tp: Any) -> str | None:
    """Whether an annotation names a JSON request body: a dataclass, TypedDict, Pydantic model or msgspec Struct."""
    tp, _ = _unwrap_optional(tp)
    if not isinstance(tp, type):
        return None
    if dataclasses.is_dataclass(tp):
        return "dataclass"
    if typing.is_typeddict(tp):
        return "typeddict"
    if callable(getattr(tp, "model_validate", None)):
        return "pydantic"
    if any(base.__module__.startswith("msgspec") and base.__name__ == "Struct" for base in tp.__mro__):
        return "msgspec"
    return None


_FIELD_HINTS: dict[Any, dict[str, Any]] = {}


def _dataclass_hints(tp: Any, localns: dict[str, Any] | None) -> dict[str, Any]:
    """Field types of a dataclass, nested dataclasses included, resolved once at startup."""
    hints = _FIELD_HINTS.get(tp)
    if hints is None:
        hints = _FIELD_HINTS[tp] = {}
        module = sys.modules.get(tp.__module__)
        ns = dict(vars(module)) if module is not None else {}
        if localns:
            ns.update(localns)
        for f in dataclasses.fields(tp):
            ann = f.type
            if isinstance(ann, str):
                try:
                    ann = eval(ann, ns)
                except Exception:
                    ann = Any
            hints[f.name] = ann
            inner, _ = _unwrap_optional(ann)
            if typing.get_origin(inner) is list:
                inner = (typing.get_args(inner) or (Any,))[0]
            if dataclasses.is_dataclass(inner) and isinstance(inner, type):
                _dataclass_hints(inner, localns)
    return hints


def _build_dataclass(tp: Any, data: Any, where: str) -> Any:
    """Build a dataclass from parsed JSON, checking each field's type (400 on a mismatch).

    Unknown fields are ignored, as Pydantic does by default and as the OpenAPI document
    (which does not close the object) promises.
    """
    if not isinstance(data, dict):
        raise BadRequestError(f"{where} must be a JSON object")
    hints = _FIELD_HINTS.get(tp) or _dataclass_hints(tp, None)
    kwargs = {}
    for f in dataclasses.fields(tp):
        if f.init and f.name in data:
            kwargs[f.name] = _check(hints.get(f.name, Any), data[f.name], f"{where}.{f.name}")
    try:
        return tp(**kwargs)
    except TypeError as exc:
        raise BadRequestError(f"{where}: {exc}") from None


def _check(tp: Any, value: Any, where: str) -> Any:
    """``value`` as ``tp`` (JSON-shaped: str, int, float, bool, lists, dicts, nested dataclasses)."""
    if tp is Any or tp is object:
        return value
    inner, optional = _unwrap_optional(tp)
    if value is None:
        if optional or tp is type(None):
            return None
        raise BadRequestError(f"{where} may not be null")
    origin = typing.get_origin(inner)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(inner):
            try:
                return _check(option, value, where)
            except BadRequestError:
                continue
        raise BadRequestError(f"{where} does not match {_type_name(inner)}")
    if inner is bool:
        if isinstance(value, bool):
            return value
    elif inner is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif inner is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif inner is str:
        if isinstance(value, str):
            return value
    elif origin is list or inner is list:
        if isinstance(value, list):
            (item,) = typing.get_args(inner) or (Any,)
            return [_check(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict or inner is dict:
        if isinstance(value, dict):
            args = typing.get_args(inner)
            item = args[1] if len(args) == 2 else Any
            return {k: _check(item, v, f"{where}.{k}") for k, v in value.items()}
    elif origin is typing.Literal:
        if value in typing.get_args(inner):
            return value
        raise BadRequestError(f"{where} must be one of {list(typing.get_args(inner))}")
    elif isinstance(inner, type) and issubclass(inner, enum.Enum):
        try:
            return inner(value)
        except ValueError:
            raise BadRequestError(f"{where} must be one of {[m.value for m in inner]}") from None
    elif dataclasses.is_dataclass(inner) and isinstance(inner, type):
        return _build_dataclass(inner, value, where)
    else:
        return value  # a type we do not check: passed through as parsed
    raise BadRequestError(f"{where} must be {_type_name(inner)}, got {type(value).__name__}")


def body_reader(name: str, annotation: Any, localns: dict[str, Any] | None = None) -> Callable[[Any], Any]:
    """A function that reads a handler's body parameter from the request's JSON (400 on failure)."""
    kind = body_model_kind(annotation)
    tp, optional = _unwrap_optional(annotation)
    if kind == "dataclass":
        _dataclass_hints(tp, localns)

    def read(request: Any) -> Any:
        if not request.body:
            if optional:
                return None
            raise BadRequestError(f"a JSON request body is required ({_type_name(tp)})")
        data = request.get_parsed_body()
        if kind == "dataclass":
            return _build_dataclass(tp, data, "request body")
        if kind == "typeddict":
            if not isinstance(data, dict):
                raise BadRequestError("request body must be a JSON object")
            missing = [k for k in getattr(tp, "__required_keys__", ()) if k not in data]
            if missing:
                raise BadRequestError(f"request body is missing: {', '.join(sorted(missing))}")
            return data
        if kind == "pydantic":
            try:
                return tp.model_validate(data)
            except ValueError as exc:  # pydantic.ValidationError is a ValueError
                raise BadRequestError(f"request body is invalid: {exc}") from None
        import msgspec

        try:
            return msgspec.convert(data, tp)
        except msgspec.ValidationError as exc:
            raise BadRequestError(f"request body is invalid: {exc}") from None

    return read


Binder = Callable[[Any, list[str]], dict[str, Any]]


def resolve_hints(func: Callable[..., Any], localns: dict[str, Any] | None = None) -> dict[str, Any]:
    """Type hints of ``func``, resolving string annotations one by one where ``get_type_hints`` fails."""
    try:
        return typing.get_type_hints(func, localns=localns)
    except Exception:
        pass
    hints: dict[str, Any] = {}
    namespace = dict(getattr(func, "__globals__", {}))
    if localns:
        namespace.update(localns)
    for name, annotation in getattr(func, "__annotations__", {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)
            except Exception:
                continue
        hints[name] = annotation
    return hints


def _query_and_body(
    route: Route, named: dict[str, inspect.Parameter], hints: dict[str, Any],
) -> tuple[list[QueryParam], tuple[str, Callable[[Any], Any]] | None]:
    """The handler's query parameters, and its request-body parameter (at most one)."""
    query: list[QueryParam] = []
    body: tuple[str, Callable[[Any], Any]] | None = None
    for name, p in named.items():
        if name in route.param_names:
            continue
        annotation = hints.get(name, p.annotation)
        if body_model_kind(annotation) is not None:
            if body is not None:
                raise RouteError(f"handler {route.name} for {route.path} has two request-body parameters: "
                                 f"{body[0]!r} and {name!r}")
            body = (name, body_reader(name, annotation, route.localns))
            route.options.setdefault("body_param", (name, annotation))
            continue
        query.append(QueryParam(name, annotation, p.default))
    route.query_params = tuple(query)
    return query, body


def build_binder(route: Route) -> Binder | None:
    """The function that turns raw path values and the query into handler keyword arguments.

    Returns None when the handler takes nothing but the request (the common fast path).
    """
    handler = inspect.unwrap(route.handler)
    try:
        sig = inspect.signature(handler)
    except (TypeError, ValueError):
        sig = None
    hints = resolve_hints(handler, route.localns) if sig is not None else {}
    params = list(sig.parameters.values()) if sig is not None else []
    accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    named = {p.name: p for p in params[1:] if p.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}

    path_convs: list[tuple[str, Converter | None]] = []
    for name in route.param_names:
        if name not in named and not accepts_kwargs and sig is not None:
            raise RouteError(
                f"handler {route.name} for {route.path} does not accept path parameter {name!r}"
            )
        ann = hints.get(name, inspect.Parameter.empty)
        if ann is not inspect.Parameter.empty:
            route.param_types[name] = ann
        path_convs.append((name, converter_for(ann)))
    query, body = _query_and_body(route, named, hints)

    if not path_convs and not query and body is None:
        return None
    path_tuple = tuple(path_convs)
    query_tuple = tuple(query)

    def bind(request: Any, raw_values: list[str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for (name, conv), raw in zip(path_tuple, raw_values, strict=False):
            value: Any = raw
            if conv is not None:
                try:
                    value = conv(value)
                except (ValueError, TypeError):
                    raise NotFoundError(f"no resource at {request.path}") from None
            kwargs[name] = value
        for qp in query_tuple:
            kwargs[qp.name] = qp.read(request)
        if body is not None:
            kwargs[body[0]] = body[1](request)
        return kwargs

    return bind
