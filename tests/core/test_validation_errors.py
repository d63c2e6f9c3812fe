"""Validation errors: every bad path, query and body value at once as a 422 problem; 415; 400."""

from __future__ import annotations

import dataclasses
from typing import Literal, TypedDict

import msgspec
import pydantic
import pytest

from areion_core import RequestValidationError, Router
from areion_core.testing import TestClient
from tests.core._core_support import make_server

PROBLEM = "application/problem+json"
FUTURE = {"loc": ["query", "when"], "msg": "must be in the future", "type": "value_error"}


@dataclasses.dataclass
class Tag:
    name: str
    weight: float = 1.0


@dataclasses.dataclass
class Order:
    item: str
    quantity: int
    tags: list[Tag]
    price: float = 0.0
    size: Literal["s", "m", "l"] = "m"


class Note(TypedDict):
    text: str
    scores: list[int]


class Item(pydantic.BaseModel):
    name: str
    price: float


class Point(msgspec.Struct):
    x: int
    y: int


def _router() -> Router:
    r = Router()

    @r.post("/shops/:shop/orders")
    async def order(request, shop: int, order: Order, limit: int, verbose: bool = False):
        return {"shop": shop, "item": order.item, "quantity": order.quantity, "price": order.price,
                "tags": [dataclasses.asdict(t) for t in order.tags], "limit": limit}

    @r.post("/notes")
    async def note(request, note: Note):
        return note

    @r.post("/items")
    async def item(request, item: Item):
        return item.model_dump()

    @r.post("/points")
    async def point(request, p: Point):
        return {"sum": p.x + p.y}

    @r.get("/own")
    async def own(request):
        raise RequestValidationError([FUTURE])

    return r


@pytest.fixture(scope="module")
def client():
    with TestClient(make_server(_router())) as c:
        yield c


def _problem_422(errors: list[dict[str, object]]) -> dict[str, object]:
    detail = f"the request has {len(errors)} invalid value{'' if len(errors) == 1 else 's'}"
    return {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
            "detail": detail, "error": detail, "errors": errors}


def test_every_error_in_path_query_and_body_at_once(client):
    secret = "s3cr3t-value"
    got = client.post(f"/shops/{secret}/orders?limit=lots&verbose=maybe",
                      json={"item": 7, "tags": [{"name": "a"}, {"weight": "heavy"}, secret], "price": 2,
                            "size": secret, "unknown": secret})
    assert got.status_code == 422
    assert got.headers["content-type"] == PROBLEM
    assert got.json() == _problem_422([
        {"loc": ["path", "shop"], "msg": "must be int", "type": "type_error"},
        {"loc": ["query", "limit"], "msg": "must be int", "type": "type_error"},
        {"loc": ["query", "verbose"], "msg": "must be bool", "type": "type_error"},
        {"loc": ["body", "item"], "msg": "must be str, got integer", "type": "type_error"},
        {"loc": ["body", "quantity"], "msg": "field required", "type": "missing"},
        {"loc": ["body", "tags", 1, "name"], "msg": "field required", "type": "missing"},
        {"loc": ["body", "tags", 1, "weight"], "msg": "must be float, got string", "type": "type_error"},
        {"loc": ["body", "tags", 2], "msg": "must be a JSON object", "type": "type_error"},
        {"loc": ["body", "size"], "msg": "must be one of ['s', 'm', 'l']", "type": "enum"},
    ])
    assert secret not in got.text and "heavy" not in got.text and "lots" not in got.text


def test_valid_request_ints_as_floats_and_unknown_fields_dropped(client):
    got = client.post("/shops/3/orders?limit=5", json={
        "item": "tea", "quantity": 2, "tags": [{"name": "hot", "weight": 2}], "price": 3, "extra": 1})
    assert got.status_code == 200
    assert got.json() == {"shop": 3, "item": "tea", "quantity": 2, "price": 3.0,
                          "tags": [{"name": "hot", "weight": 2.0}], "limit": 5}
    assert isinstance(got.json()["price"], float)


def test_int_field_rejects_a_fraction(client):
    got = client.post("/shops/3/orders?limit=5", json={"item": "tea", "quantity": 1.5, "tags": []})
    assert got.status_code == 422
    assert got.json()["errors"] == [
        {"loc": ["body", "quantity"], "msg": "must be int, got number", "type": "type_error"}]


def test_typeddict_field_by_field_and_unknown_keys_never_echoed(client):
    ok = client.post("/notes", json={"text": "hi", "scores": [1, 2], "sneaky": "<script>"})
    assert ok.status_code == 200 and ok.json() == {"text": "hi", "scores": [1, 2]}
    bad = client.post("/notes", json={"scores": [1, 2.5, "x"]})
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    assert bad.json() == _problem_422([
        {"loc": ["body", "text"], "msg": "field required", "type": "missing"},
        {"loc": ["body", "scores", 1], "msg": "must be int, got number", "type": "type_error"},
        {"loc": ["body", "scores", 2], "msg": "must be int, got string", "type": "type_error"},
    ])


def test_pydantic_errors_mapped_without_input(client):
    got = client.post("/items", json={"price": "cheap-as-chips"})
    assert got.status_code == 422 and got.headers["content-type"] == PROBLEM
    errors = got.json()["errors"]
    assert [(e["loc"], e["type"]) for e in errors] == [(["body", "name"], "missing"),
                                                     (["body", "price"], "float_parsing")]
    assert all(set(e) == {"loc", "msg", "type"} for e in errors)
    assert "cheap-as-chips" not in got.text


def test_msgspec_errors_mapped(client):
    wrong = client.post("/points", json={"x": "a", "y": 2})
    assert wrong.status_code == 422
    assert wrong.json()["errors"] == [{"loc": ["body", "x"], "msg": "Expected `int`, got `str`", "type": "type_error"}]
    missing = client.post("/points", json={"x": 1})
    assert missing.json()["errors"] == [{"loc": ["body", "y"], "msg": "field required", "type": "missing"}]


def test_json_body_with_another_content_type_is_415(client):
    got = client.post("/notes", content=b"text=hi", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert got.status_code == 415 and got.headers["content-type"] == PROBLEM
    detail = "the request body must be application/json"
    assert got.json() == {"type": "about:blank", "title": "Unsupported Media Type", "status": 415,
                          "detail": detail, "error": detail}
    vendor = client.post("/notes", content=b'{"text": "a", "scores": []}',
                         headers={"Content-Type": "application/vnd.api+json; charset=utf-8"})
    assert vendor.status_code == 200


def test_malformed_json_is_400(client):
    got = client.post("/notes", content=b'{"text": ', headers={"Content-Type": "application/json"})
    assert got.status_code == 400 and got.headers["content-type"] == PROBLEM
    body = got.json()
    assert body["title"] == "Bad Request" and body["status"] == 400 and body["type"] == "about:blank"
    assert body["detail"].startswith("request body is not valid JSON") and body["error"] == body["detail"]


def test_missing_body_is_422(client):
    got = client.post("/notes")
    assert got.status_code == 422
    assert got.json()["errors"] == [
        {"loc": ["body"], "msg": "a JSON request body is required (Note)", "type": "missing"}]


def test_raised_request_validation_error(client):
    got = client.get("/own", headers={"Accept": "application/json"})
    assert got.status_code == 422 and got.headers["content-type"] == PROBLEM
    assert got.json() == _problem_422([FUTURE])
