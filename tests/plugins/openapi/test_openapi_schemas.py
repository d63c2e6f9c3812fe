"""Type hints → JSON Schema: one test per kind of type, each schema validated inside a document."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import typing
import uuid
from dataclasses import dataclass, field
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    NamedTuple,
    NewType,
    NotRequired,
    Optional,
    TypedDict,
    TypeVar,
    Union,
)

import msgspec
import pydantic
import pytest
from areion_openapi.schemas import SchemaRegistry, is_structured, sanitize_name

from tests.plugins.openapi._openapi_support import schema_document

T = TypeVar("T")
UserId = NewType("UserId", int)


class Color(enum.Enum):
    """A colour."""

    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Address:
    """Where someone lives."""

    city: str
    zip_code: str | None = None


@dataclass
class User:
    id: int
    name: str = field(metadata={"description": "Full name"})
    address: Address | None = None
    tags: list[str] = field(default_factory=list)
    color: Color = Color.RED


@dataclass
class TreeNode:
    name: str
    children: list[TreeNode] = field(default_factory=list)


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int = 0


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


class Point(NamedTuple):
    x: float
    y: float


class PydanticItem(pydantic.BaseModel):
    id: uuid.UUID
    labels: list[str] = []
    address: PydanticAddress


class PydanticAddress(pydantic.BaseModel):
    city: str


class PydanticTree(pydantic.BaseModel):
    name: str
    children: list[PydanticTree] = []


PydanticItem.model_rebuild()
PydanticTree.model_rebuild()


class StructPoint(msgspec.Struct):
    x: int
    label: str = ""
    parent: StructOwner | None = None


class StructOwner(msgspec.Struct):
    name: str


def _one(tp: Any, mode: str = "serialization") -> tuple[dict[str, Any], SchemaRegistry]:
    registry = SchemaRegistry()
    schema = registry.schema_for(tp, mode)
    schema_document(registry, [schema])
    return schema, registry


@pytest.mark.parametrize(("tp", "expected"), [
    (str, {"type": "string"}),
    (int, {"type": "integer", "format": "int64"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (uuid.UUID, {"type": "string", "format": "uuid"}),
    (datetime.datetime, {"type": "string", "format": "date-time"}),
    (datetime.date, {"type": "string", "format": "date"}),
    (bytes, {"type": "string", "contentEncoding": "base64"}),
    (Any, {}),
    (UserId, {"type": "integer", "format": "int64"}),
    (Annotated[int, "How many"], {"type": "integer", "format": "int64", "description": "How many"}),
])
def test_simple_types(tp: Any, expected: dict[str, Any]) -> None:
    assert _one(tp)[0] == expected


@pytest.mark.parametrize(("tp", "expected"), [
    (Optional[int], {"type": ["integer", "null"], "format": "int64"}),  # noqa: UP045 - the old spelling
    (int | None, {"type": ["integer", "null"], "format": "int64"}),
    (str | None, {"type": ["string", "null"]}),
    # A format applies to one type only: int's int64 keeps int apart from str.
    (Union[int, str], {"anyOf": [{"type": "integer", "format": "int64"}, {"type": "string"}]}),  # noqa: UP007
    (int | Any, {}),
])
def test_unions_merge_plain_types(tp: Any, expected: dict[str, Any]) -> None:
    assert _one(tp)[0] == expected


def test_union_with_a_record_uses_anyof_and_keeps_order() -> None:
    schema, _ = _one(Address | None)
    assert schema == {"anyOf": [{"$ref": "#/components/schemas/Address"}, {"type": "null"}]}


@pytest.mark.parametrize(("tp", "expected"), [
    (list[int], {"type": "array", "items": {"type": "integer", "format": "int64"}}),
    (typing.Sequence[str], {"type": "array", "items": {"type": "string"}}),
    (set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
    (frozenset[int], {"type": "array", "items": {"type": "integer", "format": "int64"}, "uniqueItems": True}),
    (tuple[int, ...], {"type": "array", "items": {"type": "integer", "format": "int64"}}),
    (tuple[int, str], {"type": "array", "prefixItems": [{"type": "integer", "format": "int64"}, {"type": "string"}],
                       "minItems": 2, "maxItems": 2}),
    (list, {"type": "array"}),
    (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
    (typing.Mapping[str, list[int]], {"type": "object", "additionalProperties": {
        "type": "array", "items": {"type": "integer", "format": "int64"}}}),
    (dict, {"type": "object"}),
    (dict[str, Any], {"type": "object"}),
])
def test_containers(tp: Any, expected: dict[str, Any]) -> None:
    assert _one(tp)[0] == expected


def test_literals() -> None:
    assert _one(Literal["asc", "desc"])[0] == {"type": "string", "enum": ["asc", "desc"]}
    assert _one(Literal[3])[0] == {"type": "integer", "const": 3}
    assert _one(Literal[1, "x"])[0] == {"enum": [1, "x"]}


def test_enums_become_components() -> None:
    schema, registry = _one(Color)
    assert schema == {"$ref": "#/components/schemas/Color"}
    assert registry.components["Color"] == {
        "title": "Color", "type": "string", "enum": ["red", "green"], "description": "A colour."}
    _, registry = _one(Priority)
    assert registry.components["Priority"]["type"] == "integer"
    assert registry.components["Priority"]["enum"] == [1, 2]


def test_dataclass_fields_required_defaults_nested_and_descriptions() -> None:
    schema, registry = _one(User)
    assert schema == {"$ref": "#/components/schemas/User"}
    user = registry.components["User"]
    assert user["required"] == ["id", "name"]
    props = user["properties"]
    assert props["id"] == {"type": "integer", "format": "int64"}
    assert props["name"] == {"type": "string", "description": "Full name"}
    assert props["address"] == {"anyOf": [{"$ref": "#/components/schemas/Address"}, {"type": "null"}],
                                "default": None}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["color"] == {"$ref": "#/components/schemas/Color", "default": "red"}
    address = registry.components["Address"]
    assert address["description"] == "Where someone lives."
    assert address["required"] == ["city"]
    # A dataclass without a docstring gets no invented "User(id: int, ...)" description.
    assert "description" not in user


def test_recursive_dataclass_refers_to_itself() -> None:
    _, registry = _one(TreeNode)
    children = registry.components["TreeNode"]["properties"]["children"]
    assert children == {"type": "array", "items": {"$ref": "#/components/schemas/TreeNode"}}


def test_generic_dataclass_is_specialised_with_a_sanitised_name() -> None:
    schema, registry = _one(Page[Address])
    assert schema == {"$ref": "#/components/schemas/Page_Address"}
    page = registry.components["Page_Address"]
    assert page["properties"]["items"] == {"type": "array", "items": {"$ref": "#/components/schemas/Address"}}
    assert page["required"] == ["items"]


def test_typeddict_required_keys() -> None:
    _, registry = _one(Movie)
    movie = registry.components["Movie"]
    assert movie["required"] == ["title", "year"]
    assert movie["properties"]["rating"] == {"type": "number"}


def test_namedtuple_is_a_fixed_array() -> None:
    _, registry = _one(Point)
    assert registry.components["Point"]["prefixItems"] == [{"type": "number"}, {"type": "number"}]


def test_pydantic_models_and_their_defs_become_components() -> None:
    schema, registry = _one(PydanticItem)
    assert schema == {"$ref": "#/components/schemas/PydanticItem"}
    item = registry.components["PydanticItem"]
    assert item["properties"]["address"] == {"$ref": "#/components/schemas/PydanticAddress"}
    assert registry.components["PydanticAddress"]["required"] == ["city"]
    assert "$defs" not in item


def test_recursive_pydantic_model() -> None:
    schema, registry = _one(PydanticTree)
    assert schema == {"$ref": "#/components/schemas/PydanticTree"}
    assert registry.components["PydanticTree"]["properties"]["children"]["items"] == {
        "$ref": "#/components/schemas/PydanticTree"}


def test_pydantic_input_and_output_share_a_component_when_equal() -> None:
    registry = SchemaRegistry()
    out = registry.schema_for(PydanticAddress)
    inp = registry.schema_for(PydanticAddress, "validation")
    assert out == inp == {"$ref": "#/components/schemas/PydanticAddress"}
    schema_document(registry, [out])


class Opaque:
    """A type neither Pydantic nor msgspec can describe."""


class PydanticOpaque(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    thing: Opaque


def test_a_model_without_a_json_schema_is_documented_as_any_value(caplog: pytest.LogCaptureFixture) -> None:
    schema, _ = _one(PydanticOpaque)
    assert schema == {}
    assert "PydanticOpaque" in caplog.text


def test_msgspec_structs() -> None:
    schema, registry = _one(StructPoint)
    assert schema == {"$ref": "#/components/schemas/StructPoint"}
    point = registry.components["StructPoint"]
    assert point["required"] == ["x"]
    assert point["properties"]["parent"]["anyOf"][0] == {"$ref": "#/components/schemas/StructOwner"}
    assert registry.components["StructOwner"]["properties"]["name"] == {"type": "string"}


def test_two_classes_with_one_name_get_two_components() -> None:
    other = dataclasses.make_dataclass("Address", [("street", str)])
    other.__module__ = "billing.models"
    registry = SchemaRegistry()
    first = registry.schema_for(Address)
    second = registry.schema_for(other)
    assert first == {"$ref": "#/components/schemas/Address"}
    assert second == {"$ref": "#/components/schemas/billing.models.Address"}
    assert registry.components["billing.models.Address"]["required"] == ["street"]
    schema_document(registry, [first, second])


@pytest.mark.parametrize(("raw", "clean"), [
    ("Page[Item]", "Page_Item"), ("a b/c", "a_b_c"), ("ok.Name-1_x", "ok.Name-1_x"), ("<>", "Schema"),
])
def test_component_names_are_sanitised(raw: str, clean: str) -> None:
    assert sanitize_name(raw) == clean


def test_is_structured() -> None:
    assert all(is_structured(t) for t in (User, Movie, PydanticItem, StructPoint, Optional[User]))  # noqa: UP045
    assert not any(is_structured(t) for t in (int, str, list[int], Color, dict[str, int]))


def test_every_kind_in_one_document() -> None:
    registry = SchemaRegistry()
    kinds = [User, TreeNode, Page[User], Movie, Point, PydanticItem, PydanticTree, StructPoint,
             list[User], dict[str, Address], Color | None, Literal["a"], tuple[int, str]]
    schema_document(registry, [registry.schema_for(k) for k in kinds])
