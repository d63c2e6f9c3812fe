"""Python type hints → JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1).

``SchemaRegistry.schema_for(tp)`` returns an inline schema for simple types and a ``$ref``
into ``components/schemas`` for named ones (dataclasses, ``TypedDict``, enums, named tuples,
Pydantic v2 models, msgspec Structs). Component names are the class names, sanitised to
``[A-Za-z0-9._-]``; a second, different class with the same name gets its module in its name,
so one name never stands for two types.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import ipaddress
import logging
import pathlib
import re
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger("areion.openapi")
REF_PREFIX = "#/components/schemas/"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

#: Types with a fixed schema. Formats follow the JSON Schema / OpenAPI format registry.
_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer", "format": "int64"},  # the core converts within signed 64 bits
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    # orjson (the core's encoder) refuses bytes in JSON; base64 is the conventional form.
    bytes: {"type": "string", "contentEncoding": "base64"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
    datetime.timedelta: {"type": "string", "format": "duration"},
    decimal.Decimal: {"type": "string", "format": "decimal"},
    pathlib.Path: {"type": "string"},
    ipaddress.IPv4Address: {"type": "string", "format": "ipv4"},
    ipaddress.IPv6Address: {"type": "string", "format": "ipv6"},
}
_SEQUENCES = {list, tuple, set, frozenset, typing.Sequence, typing.MutableSequence,
              typing.AbstractSet, typing.MutableSet}


def sanitize_name(name: str) -> str:
    """A component name OpenAPI accepts (``^[a-zA-Z0-9.\\-_]+$``): ``Page[Item]`` → ``Page_Item``."""
    cleaned = _UNSAFE.sub("_", name).strip("_")
    return cleaned or "Schema"


def unwrap_annotated(tp: Any) -> tuple[Any, list[Any]]:
    """``Annotated[X, a, b]`` → ``(X, [a, b])``; anything else → ``(tp, [])``."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *meta = typing.get_args(tp)
        return base, meta
    return tp, []


def split_optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` → ``(X, True)``; other types unchanged with ``False``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        rest = [a for a in args if a is not type(None)]
        if len(rest) < len(args):
            if len(rest) == 1:
                return rest[0], True
            return typing.Union[tuple(rest)], True  # noqa: UP007 - built at run time
    return tp, False


def is_structured(tp: Any) -> bool:
    """Whether ``tp`` is a record type that travels as a JSON object (a request body, say)."""
    tp, _ = unwrap_annotated(tp)
    tp, _ = split_optional(tp)
    origin = typing.get_origin(tp) or tp
    if not isinstance(origin, type):
        return False
    return (
        dataclasses.is_dataclass(origin)
        or typing.is_typeddict(origin)
        or _is_pydantic(origin)
        or _is_msgspec(origin)
    )


def _is_pydantic(tp: Any) -> bool:
    return isinstance(tp, type) and callable(getattr(tp, "model_json_schema", None)) and hasattr(
        tp, "model_fields")


def _is_msgspec(tp: Any) -> bool:
    return isinstance(tp, type) and any(
        c.__module__.startswith("msgspec") and c.__name__ == "Struct" for c in tp.__mro__)


def _is_namedtuple(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def _own_doc(cls: type) -> str | None:
    """The class's own docstring, not an inherited one nor the signature dataclasses invent."""
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return None
    doc = inspect.cleandoc(doc)
    if dataclasses.is_dataclass(cls) and doc.startswith(cls.__name__ + "("):
        return None
    return doc or None


def _json_value(value: Any) -> Any:
    """A default/const value as JSON, or raise ``TypeError`` when it has no JSON form."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (uuid.UUID, datetime.date, datetime.time, decimal.Decimal)):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    raise TypeError(f"no JSON form for {value!r}")


def json_default(value: Any) -> tuple[bool, Any]:
    """``(True, json)`` when ``value`` can be written as a schema ``default``, else ``(False, None)``."""
    try:
        return True, _json_value(value)
    except TypeError:
        return False, None


def _type_hints(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError, AttributeError, SyntaxError):  # an unresolvable forward reference
        return {k: v for k, v in getattr(cls, "__annotations__", {}).items() if not isinstance(v, str)}


class SchemaRegistry:
    """Builds schemas and collects the named ones for ``components/schemas``."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}
        self._names: dict[Any, str] = {}  # (type, mode) -> component name
        self._owners: dict[str, Any] = {}  # component name -> (type, mode)

    # --- public ------------------------------------------------------------------------
    def schema_for(self, tp: Any, mode: str = "serialization") -> dict[str, Any]:
        """The schema of ``tp``; ``mode`` is "validation" for request bodies (Pydantic differs)."""
        tp, meta = unwrap_annotated(tp)
        schema = self._schema(tp, mode)
        doc = next((m for m in meta if isinstance(m, str)), None)
        if doc:
            schema = {**schema, "description": doc}
        return schema

    def ref(self, name: str) -> dict[str, Any]:
        return {"$ref": REF_PREFIX + name}

    def add_component(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        """Register a hand-written component (the error body, say) and return its ``$ref``."""
        self.components.setdefault(name, schema)
        return self.ref(name)

    # --- dispatch ----------------------------------------------------------------------
    def _schema(self, tp: Any, mode: str) -> dict[str, Any]:
        tp, _ = unwrap_annotated(tp)
        if tp is Any or tp is inspect.Parameter.empty or tp is object or isinstance(tp, typing.TypeVar):
            return {}
        if tp is None:
            tp = type(None)
        supertype = getattr(tp, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            return self._schema(supertype, mode)
        if isinstance(tp, str):  # an unresolved forward reference
            return {}
        simple = _SIMPLE.get(tp)
        if simple is not None:
            return dict(simple)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            return self._union(args, mode)
        if origin is typing.Literal:
            return _literal(args)
        if origin is typing.ClassVar or origin is typing.Final:
            return self._schema(args[0], mode) if args else {}
        if origin is not None and (origin in _SEQUENCES or _is_abc(origin, "Sequence", "Set")):
            return self._sequence(origin, args, mode)
        if origin is not None and (origin is dict or _is_abc(origin, "Mapping")):
            value = self._schema(args[1], mode) if len(args) == 2 else {}
            out: dict[str, Any] = {"type": "object"}
            if value:
                out["additionalProperties"] = value
            return out
        if tp in (list, set, frozenset, tuple):
            return {"type": "array", **({"uniqueItems": True} if tp in (set, frozenset) else {})}
        if tp is dict:
            return {"type": "object"}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self._named(tp, mode, self._enum)
        base = origin if isinstance(origin, type) else tp
        if isinstance(base, type):
            if _is_pydantic(base):
                return self._pydantic(tp, mode)
            if _is_msgspec(base):
                return self._msgspec(tp)
            if dataclasses.is_dataclass(base) or typing.is_typeddict(base) or _is_namedtuple(base):
                return self._named(tp, mode, self._record)
            # Subclasses of the simple types (IntEnum handled above, str subclasses here).
            for simple_type, schema in _SIMPLE.items():
                if isinstance(simple_type, type) and simple_type is not type(None) and issubclass(
                        base, simple_type):
                    return dict(schema)
        return {}

    def _union(self, args: tuple[Any, ...], mode: str) -> dict[str, Any]:
        schemas: list[dict[str, Any]] = []
        for arg in args:
            s = self._schema(arg, mode)
            if s == {}:
                return {}  # a union with "anything" is anything
            if s not in schemas:
                schemas.append(s)
        # Merge plain ``{"type": X}`` members into one ``type`` list: ``str | None`` reads as
        # ``{"type": ["string", "null"]}`` rather than an anyOf of two one-liners.
        # The merged entry takes the place of the first plain member, so ``X | None`` keeps X first.
        # A formatted member (``int`` is int64) merges only with null: ``int | None`` reads as
        # ``{"type": ["integer", "null"], "format": "int64"}`` (format does not constrain null).
        plain = [s for s in schemas if isinstance(s.get("type"), str) and set(s) <= {"type", "format"}]
        formats = {s["format"] for s in plain if "format" in s}
        if formats and not (len(formats) == 1 and all("format" in s or s["type"] == "null" for s in plain)):
            plain = [s for s in plain if "format" not in s]
        types_ = [s["type"] for s in plain]
        merged: list[dict[str, Any]] = []
        for s in schemas:
            if any(s is p for p in plain):
                if s["type"] == types_[0]:
                    entry: dict[str, Any] = {"type": types_[0] if len(types_) == 1 else types_}
                    if formats and len(plain) == len([p for p in plain if "format" in p or p["type"] == "null"]):
                        entry["format"] = next(iter(formats))
                    merged.append(entry)
            else:
                merged.append(s)
        if len(merged) == 1:
            return merged[0]
        # anyOf, not oneOf: an int matches both "integer" and "number", which oneOf rejects.
        return {"anyOf": merged}

    def _sequence(self, origin: Any, args: tuple[Any, ...], mode: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array"}
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if args == ((),):  # tuple[()]
                out["maxItems"] = 0
                return out
            out["prefixItems"] = [self._schema(a, mode) for a in args]
            out["minItems"] = out["maxItems"] = len(args)
            return out
        if args:
            items = self._schema(args[0], mode)
            if items:
                out["items"] = items
        if origin in (set, frozenset) or _is_abc(origin, "Set"):
            out["uniqueItems"] = True
        return out

    # --- named types -------------------------------------------------------------------
    def _named(self, tp: Any, mode: str, build: Callable[[Any, str], dict[str, Any]]) -> dict[str, Any]:
        key = (tp, "*")  # dataclasses, TypedDicts and enums read the same both ways
        name = self._names.get(key)
        if name is not None:
            return self.ref(name)
        name = self._claim(key, _display_name(tp))
        # Register before building so that a recursive type refers to itself by $ref.
        self.components[name] = {}
        self.components[name] = build(tp, mode)
        return self.ref(name)

    def _claim(self, key: Any, wanted: str) -> str:
        name = sanitize_name(wanted)
        if name in self._owners and self._owners[name] != key:
            tp = key[0]
            origin = typing.get_origin(tp) or tp
            name = sanitize_name(f"{getattr(origin, '__module__', 'x')}.{wanted}")
            base, n = name, 2
            while name in self._owners and self._owners[name] != key:
                name, n = f"{base}_{n}", n + 1
        self._names[key] = name
        self._owners[name] = key
        return name

    def _enum(self, tp: type[enum.Enum], mode: str) -> dict[str, Any]:
        values = [m.value for m in tp]
        schema: dict[str, Any] = {"title": tp.__name__}
        kinds = {_json_type(v) for v in values}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        schema["enum"] = [_json_value(v) for v in values]
        doc = _own_doc(tp)
        if doc:
            schema["description"] = doc
        return schema

    def _record(self, tp: Any, mode: str) -> dict[str, Any]:
        origin = typing.get_origin(tp) or tp
        params = getattr(origin, "__parameters__", ())
        args = typing.get_args(tp)
        subst = dict(zip(params, args, strict=False)) if args else {}
        hints = _type_hints(origin)
        props: dict[str, Any] = {}
        required: list[str] = []
        if dataclasses.is_dataclass(origin):
            for f in dataclasses.fields(origin):
                if not f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    continue
                prop = self.schema_for(_substitute(hints.get(f.name, Any), subst), mode)
                has_default = f.default is not dataclasses.MISSING
                if has_default:
                    ok, value = json_default(f.default)
                    if ok:  # OpenAPI 3.1 allows keywords beside $ref
                        prop = {**prop, "default": value}
                elif f.default_factory is dataclasses.MISSING:
                    required.append(f.name)
                desc = f.metadata.get("description") if f.metadata else None
                if desc:
                    prop = {**prop, "description": desc}
                props[f.name] = prop
        elif typing.is_typeddict(origin):
            required_keys = getattr(origin, "__required_keys__", frozenset(hints))
            for key, hint in hints.items():
                hint, _ = unwrap_annotated(hint)
                is_required = key in required_keys
                # Under ``from __future__ import annotations`` Python 3.11 cannot see
                # NotRequired when it fills __required_keys__; the resolved hint still can.
                marker = typing.get_origin(hint)
                if marker in (typing.Required, typing.NotRequired):
                    is_required = marker is typing.Required
                    hint = typing.get_args(hint)[0]
                props[key] = self.schema_for(_substitute(hint, subst), mode)
                if is_required:
                    required.append(key)
        else:  # NamedTuple: orjson writes it as an array
            fields = origin._fields
            return {
                "title": origin.__name__, "type": "array",
                "prefixItems": [self.schema_for(hints.get(f, Any), mode) for f in fields],
                "minItems": len(fields), "maxItems": len(fields),
            }
        schema: dict[str, Any] = {"title": _display_name(tp), "type": "object", "properties": props}
        if required:
            schema["required"] = required
        doc = _own_doc(origin)
        if doc:
            schema["description"] = doc
        return schema

    def _pydantic(self, tp: Any, mode: str) -> dict[str, Any]:
        key = (tp, mode)
        if key in self._names:
            return self.ref(self._names[key])
        try:
            schema = tp.model_json_schema(ref_template=REF_PREFIX + "{model}", mode=mode)
        # PydanticInvalidForJsonSchema (a RuntimeError): a field of an arbitrary type, say.
        except (TypeError, ValueError, RuntimeError) as exc:
            logger.warning("openapi: no JSON schema for %s (%s); documenting it as any value", tp, exc)
            return {}
        defs = schema.pop("$defs", {})
        return self._adopt(key, schema.get("title", tp.__name__), schema, defs, mode)

    def _msgspec(self, tp: Any) -> dict[str, Any]:
        import msgspec  # only reached for a msgspec Struct, so msgspec is installed

        key = (tp, "*")
        if key in self._names:
            return self.ref(self._names[key])
        try:
            (top,), defs = msgspec.json.schema_components([tp], ref_template=REF_PREFIX + "{name}")
        except (TypeError, ValueError) as exc:
            logger.warning("openapi: no JSON schema for %s (%s); documenting it as any value", tp, exc)
            return {}
        # msgspec returns the type itself as a $ref into its own components.
        own = top.get("$ref", "")[len(REF_PREFIX):]
        schema = defs.pop(own, top)
        return self._adopt(key, own or tp.__name__, schema, defs, "*")

    def _adopt(self, key: Any, title: str, schema: dict[str, Any], defs: Mapping[str, Any],
               mode: str) -> dict[str, Any]:
        """Take a library's schema and its ``$defs`` into the components, renaming on clashes."""
        renames: dict[str, str] = {}
        for def_name, def_schema in defs.items():
            def_key = ("def", def_name, repr(def_schema))
            name = self._names.get(def_key) or self._claim_def(def_key, def_name, def_schema, mode)
            if name != def_name:
                renames[def_name] = name
        for def_name, def_schema in defs.items():
            target = renames.get(def_name, def_name)
            self.components.setdefault(target, _rename_refs(def_schema, renames))
        top_ref = schema.get("$ref", "")
        if len(schema) == 1 and top_ref.startswith(REF_PREFIX) and top_ref[len(REF_PREFIX):] in defs:
            # A recursive model comes back as a $ref to itself among its $defs.
            target = top_ref[len(REF_PREFIX):]
            name = renames.get(target, target)
            self._names[key] = name
            return self.ref(name)
        name = self._claim_def(key, title, schema, mode)
        self.components[name] = _rename_refs(schema, renames)
        return self.ref(name)

    def _claim_def(self, key: Any, wanted: str, schema: Mapping[str, Any], mode: str) -> str:
        name = sanitize_name(wanted)
        existing = self._owners.get(name)
        if existing is not None and existing != key:
            if self.components.get(name) == schema:
                self._names[key] = name  # the same schema under the same name: share it
                return name
            suffix = {"validation": "Input", "serialization": "Output"}.get(mode)
            if suffix:
                name = sanitize_name(f"{wanted}-{suffix}")
            base, n = name, 2
            while name in self._owners and self._owners[name] != key:
                name, n = f"{base}_{n}", n + 1
        self._names[key] = name
        self._owners[name] = key
        return name


def _display_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is None:
        return getattr(tp, "__name__", str(tp))
    args = "_".join(_display_name(a) for a in typing.get_args(tp))
    return f"{getattr(origin, '__name__', 'Generic')}_{args}"


def _substitute(tp: Any, subst: Mapping[Any, Any]) -> Any:
    """Replace TypeVars of a generic record by the arguments it was given (``Page[Item]``)."""
    if not subst:
        return tp
    if isinstance(tp, typing.TypeVar):
        return subst.get(tp, tp)
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if not args or origin is None or origin is typing.Literal:
        return tp
    new = tuple(_substitute(a, subst) for a in args)
    if new == args:
        return tp
    if origin in (typing.Union, types.UnionType):
        return typing.Union[new]  # noqa: UP007
    if origin is typing.Annotated:
        return typing.Annotated[(new[0], *args[1:])]
    try:
        return tp.copy_with(new)  # typing generics
    except AttributeError:
        return types.GenericAlias(origin, new)


def _is_abc(origin: Any, *names: str) -> bool:
    import collections.abc as cabc

    return isinstance(origin, type) and any(
        issubclass(origin, getattr(cabc, n)) and origin not in (str, bytes) for n in names)


def _json_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _literal(args: tuple[Any, ...]) -> dict[str, Any]:
    values = [_json_value(a) for a in args]
    kinds = {_json_type(v) for v in values}
    out: dict[str, Any] = {}
    if len(kinds) == 1 and None not in kinds:
        out["type"] = kinds.pop()
    if len(values) == 1:
        out["const"] = values[0]
    else:
        out["enum"] = values
    return out


def _rename_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if not renames:
        return node
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(REF_PREFIX):
                target = v[len(REF_PREFIX):]
                out[k] = REF_PREFIX + renames.get(target, target)
            else:
                out[k] = _rename_refs(v, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    return node
