"""The document built from routes: parameters, bodies, responses, errors, tags, decorators."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import pytest
from areion_openapi import (
    DuplicateOperationIdError,
    OpenAPISettings,
    build_document,
    deprecated,
    description,
    exclude,
    openapi_extra,
    operation_id,
    request_body,
    responses,
    security,
    summary,
    tags,
)

from areion_core import HttpError, HttpResponse, NotFoundError, PluginError, Router
from tests.plugins.openapi._openapi_support import document_for, routes_of, valid


class Sort(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@dataclass
class Item:
    """Something for sale."""

    id: int
    name: str
    price: float = 0.0


@dataclass
class NewItem:
    name: str
    price: float


class OutOfStock(HttpError):
    """The item is sold out."""

    status_code = 409


def _op(doc: dict, path: str, method: str = "get") -> dict:  # type: ignore[type-arg]
    return doc["paths"][path][method]


def test_path_parameters_are_typed_from_annotations() -> None:
    router = Router()

    @router.get("/items/:item_id/variants/{vid}")
    def variant(request, item_id: int, vid: uuid.UUID):  # type: ignore[no-untyped-def]
        return {}

    @router.get("/files/:name/:size")
    def file(request, name, size: float):  # type: ignore[no-untyped-def]
        return {}

    doc = document_for(router)
    params = _op(doc, "/items/{item_id}/variants/{vid}")["parameters"]
    assert params == [
        {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer", "format": "int64"}},
        {"name": "vid", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
    ]
    params = _op(doc, "/files/{name}/{size}")["parameters"]
    assert [p["schema"] for p in params] == [{"type": "string"}, {"type": "number"}]
    # A typed path parameter that does not convert is the core's 422 (a problem+json body).
    invalid = _op(doc, "/files/{name}/{size}")["responses"]["422"]
    assert invalid["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "404" not in _op(doc, "/files/{name}/{size}")["responses"]


def test_query_parameters_from_the_other_handler_parameters() -> None:
    router = Router()

    @router.get("/search")
    def search(request, q: str, limit: int = 10, sort: Sort = Sort.ASC,  # type: ignore[no-untyped-def]
               tag: list[str] | None = None, mode: Literal["all", "any"] = "all", raw=None):
        return []

    params = {p["name"]: p for p in _op(document_for(router), "/search")["parameters"]}
    assert params["q"] == {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}
    assert params["limit"] == {"name": "limit", "in": "query", "required": False,
                               "schema": {"type": "integer", "format": "int64", "default": 10}}
    assert params["sort"]["schema"] == {"$ref": "#/components/schemas/Sort", "default": "asc"}
    assert params["tag"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert params["mode"]["schema"] == {"type": "string", "enum": ["all", "any"], "default": "all"}
    assert params["raw"] == {"name": "raw", "in": "query", "required": False, "schema": {"type": "string"}}


def test_docstring_gives_summary_description_parameter_and_response_text() -> None:
    router = Router()

    @router.get("/items/:id")
    def get_item(request, id: int, full: bool = False) -> Item:  # type: ignore[no-untyped-def]
        """Fetch one item.

        Items that were deleted are not found.

        Args:
            id: The item's id.
            full: Include the history.

        Returns:
            The item.

        Raises:
            NotFoundError: No item has this id.
        """
        raise NotFoundError()

    op = _op(document_for(router), "/items/{id}")
    assert op["summary"] == "Fetch one item."
    assert op["description"] == "Items that were deleted are not found."
    assert [p.get("description") for p in op["parameters"]] == ["The item's id.", "Include the history."]
    assert op["responses"]["200"]["description"] == "The item."
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert op["responses"]["404"]["description"] == "No item has this id."


def test_summary_defaults_to_the_route_name() -> None:
    router = Router()
    router.add_route("/health", lambda request: "ok", ["GET"], name="health_check")
    op = _op(document_for(router), "/health")
    assert op["summary"] == "Health check"
    assert op["operationId"] == "health_check"


@pytest.mark.parametrize(("annotation", "status", "media", "schema"), [
    (str, "200", "text/plain", {"type": "string"}),
    (bytes, "200", "application/octet-stream", None),
    (list[Item], "200", "application/json", {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}),
    (dict[str, int], "200", "application/json", {"type": "object", "additionalProperties": {"type": "integer", "format": "int64"}}),
    (None, "204", None, None),
    (HttpResponse, "200", None, None),
    (AsyncIterator[bytes], "200", "application/octet-stream", None),
])
def test_success_response_from_the_return_annotation(annotation: object, status: str, media: str | None,
                                                     schema: dict | None) -> None:  # type: ignore[type-arg]
    def handler(request):  # type: ignore[no-untyped-def]
        pass

    handler.__annotations__ = {"return": annotation}
    router = Router()
    router.add_route("/x", handler, ["GET"])
    responses_ = _op(document_for(router), "/x")["responses"]
    assert list(responses_) == [status]
    content = responses_[status].get("content")
    if media is None:
        assert content is None
    else:
        assert list(content) == [media]
        assert content[media].get("schema") == schema


def test_optional_return_documents_the_204_the_core_sends_for_none() -> None:
    router = Router()

    @router.get("/maybe")
    def maybe(request) -> Item | None:  # type: ignore[no-untyped-def]
        return None

    assert set(_op(document_for(router), "/maybe")["responses"]) == {"200", "204"}


def test_request_body_from_a_record_parameter_and_from_the_decorator() -> None:
    router = Router()

    @router.post("/items")
    def create(request, item: NewItem) -> Item:  # type: ignore[no-untyped-def]
        return Item(1, item.name, item.price)

    @router.put("/items/:id")
    @request_body(NewItem, description="The new state")
    def replace(request, id: int) -> Item:  # type: ignore[no-untyped-def]
        return Item(id, "x")

    doc = document_for(router)
    create_op = _op(doc, "/items", "post")
    assert "parameters" not in create_op  # the record parameter is the body, not a query parameter
    assert create_op["requestBody"] == {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/NewItem"}}}}
    replace_op = _op(doc, "/items/{id}", "put")
    assert replace_op["requestBody"]["description"] == "The new state"
    assert replace_op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewItem"}


def test_raised_errors_become_responses_with_the_error_schema() -> None:
    router = Router()

    @router.post("/items/:id/buy")
    def buy(request, id: int) -> Item:  # type: ignore[no-untyped-def]
        if id > 100:
            raise NotFoundError("No such item")
        raise OutOfStock()

    doc = document_for(router)
    resp = _op(doc, "/items/{id}/buy", "post")["responses"]
    assert resp["404"]["description"] == "No such item"
    assert resp["409"]["description"] == "The item is sold out."
    assert resp["409"]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert doc["components"]["schemas"]["Error"]["required"] == ["type", "status"]
    assert set(doc["components"]["schemas"]["Error"]["properties"]) >= {"title", "detail", "error", "errors"}


def test_tags_from_router_groups_and_the_decorator() -> None:
    router = Router()
    users = router.group("/users")

    @users.get("/:id")
    @tags("people", "users")
    def get_user(request, id: int):  # type: ignore[no-untyped-def]
        return {}

    admin = router.group("/admin", tags=["Admin"])

    @admin.get("/stats")
    def stats(request):  # type: ignore[no-untyped-def]
        return {}

    doc = document_for(router)
    assert _op(doc, "/users/{id}")["tags"] == ["users", "people"]
    assert _op(doc, "/admin/stats")["tags"] == ["Admin"]
    assert doc["tags"] == [{"name": "users"}, {"name": "people"}, {"name": "Admin"}]


def test_decorators_override_and_add() -> None:
    router = Router()

    @summary("Replace an item")
    @description("Replaces **everything**.")
    @operation_id("itemsReplace")
    @deprecated
    @responses({200: Item, 412: "Precondition failed", "default": {"description": "Other errors"}})
    @openapi_extra({"x-rate-limit": 10, "externalDocs": {"url": "https://docs.example/items"}})
    @router.put("/items/:id")
    def put_item(request, id: int):  # type: ignore[no-untyped-def]
        """Docstring summary that the decorator overrides."""
        return {}

    op = _op(document_for(router), "/items/{id}", "put")
    assert op["summary"] == "Replace an item"
    assert op["description"] == "Replaces **everything**."
    assert op["operationId"] == "itemsReplace"
    assert op["deprecated"] is True
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert op["responses"]["412"] == {"description": "Precondition failed"}
    assert op["responses"]["default"] == {"description": "Other errors"}
    assert list(op["responses"])[-1] == "default"
    assert op["x-rate-limit"] == 10
    assert op["externalDocs"] == {"url": "https://docs.example/items"}


def test_router_keyword_options_work_like_the_decorators() -> None:
    router = Router()
    router.add_route("/a", lambda request: "a", ["GET"], name="a", summary="Route A", tags=["x"],
                     operation_id="getA", deprecated=True)
    op = _op(document_for(router), "/a")
    assert (op["summary"], op["tags"], op["operationId"], op["deprecated"]) == ("Route A", ["x"], "getA", True)


def test_excluded_routes_are_left_out() -> None:
    router = Router()

    @router.get("/public")
    def public(request):  # type: ignore[no-untyped-def]
        return "x"

    @exclude
    @router.get("/internal")
    def internal(request):  # type: ignore[no-untyped-def]
        return "x"

    router.add_route("/hidden", lambda request: "x", ["GET"], name="hidden", include_in_schema=False)
    assert list(document_for(router)["paths"]) == ["/public"]


def test_multi_method_routes_get_one_operation_per_method_with_unique_ids() -> None:
    router = Router()
    router.add_route("/things", lambda request: "x", ["GET", "POST"], name="things")
    doc = document_for(router)
    assert {m: op["operationId"] for m, op in doc["paths"]["/things"].items()} == {
        "get": "things_get", "post": "things_post"}


def test_one_handler_on_several_routes_gets_path_and_method_qualified_ids() -> None:
    router = Router()

    def get_item(request, id: int):  # type: ignore[no-untyped-def]
        return {}

    router.add_route("/items/:id", get_item, ["GET"])
    router.add_route("/v2/items/{id}", get_item, ["GET"])
    router.add_route("/v2/items/{id}", get_item, ["DELETE"])  # 1.x style: one route per method
    doc = document_for(router)
    assert _op(doc, "/items/{id}")["operationId"] == "get_item_items_id_get"
    assert _op(doc, "/v2/items/{id}")["operationId"] == "get_item_v2_items_id_get"
    assert _op(doc, "/v2/items/{id}", "delete")["operationId"] == "get_item_v2_items_id_delete"


def test_duplicate_operation_id_names_both_routes() -> None:
    router = Router()

    @operation_id("listThings")
    @router.get("/things")
    def list_things(request):  # type: ignore[no-untyped-def]
        return []

    @operation_id("listThings")
    @router.get("/other-things")
    def list_other_things(request):  # type: ignore[no-untyped-def]
        return []

    with pytest.raises(DuplicateOperationIdError) as info:
        build_document(routes_of(router), OpenAPISettings())
    message = str(info.value)
    assert "GET /things (handler list_things)" in message
    assert "GET /other-things (handler list_other_things)" in message
    assert isinstance(info.value, PluginError)


def test_security_from_config_and_decorator() -> None:
    router = Router()

    @router.get("/me")
    @security("bearer")
    def me(request):  # type: ignore[no-untyped-def]
        return {}

    @router.get("/keys")
    @security("apiKey", scheme={"type": "apiKey", "name": "X-API-Key", "in": "header"})
    def keys(request):  # type: ignore[no-untyped-def]
        return []

    settings = OpenAPISettings(security_schemes={"bearer": {"type": "http", "scheme": "bearer"}})
    doc = document_for(router, settings)
    assert _op(doc, "/me")["security"] == [{"bearer": []}]
    assert _op(doc, "/keys")["security"] == [{"apiKey": []}]
    assert doc["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer"},
        "apiKey": {"type": "apiKey", "name": "X-API-Key", "in": "header"}}


def test_undeclared_security_scheme_names_the_route() -> None:
    router = Router()

    @router.get("/me")
    @security("oauth", ["read"])
    def me(request):  # type: ignore[no-untyped-def]
        return {}

    with pytest.raises(PluginError, match=r"GET /me \(handler me\).*'oauth'"):
        build_document(routes_of(router), OpenAPISettings())


def test_info_servers_and_root_path() -> None:
    router = Router()
    router.add_route("/ping", lambda request: "pong", ["GET"], name="ping")
    settings = OpenAPISettings(title="Shop", version="2.1", description="The shop API",
                               servers=({"url": "https://api.example", "description": "prod"},))
    doc = document_for(router, settings)
    assert doc["info"] == {"title": "Shop", "version": "2.1", "description": "The shop API"}
    assert doc["servers"] == [{"url": "https://api.example", "description": "prod"}]
    mounted = document_for(router, OpenAPISettings(), root_path="/api")
    assert mounted["servers"] == [{"url": "/api"}]
    assert "servers" not in document_for(router)


def test_the_same_routes_give_the_same_document() -> None:
    def make() -> Router:
        router = Router()

        @router.get("/items/:id")
        def get_item(request, id: int) -> Item:  # type: ignore[no-untyped-def]
            raise NotFoundError()

        return router

    assert valid(document_for(make())) == document_for(make())
