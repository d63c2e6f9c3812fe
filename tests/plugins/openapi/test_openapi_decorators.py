"""Decorators: they work above or below the route decorator, and stacked ones add up."""

from __future__ import annotations

import pytest
from areion_openapi import deprecated, exclude, operation_id, responses, security, tags

from areion_core import Router
from tests.plugins.openapi._openapi_support import document_for


def test_above_and_below_the_route_decorator() -> None:
    router = Router()

    @tags("above")
    @router.get("/a")
    @tags("below")
    def a(request):  # type: ignore[no-untyped-def]
        return "a"

    assert document_for(router)["paths"]["/a"]["get"]["tags"] == ["below", "above"]


def test_stacked_decorators_add_up() -> None:
    router = Router()

    @router.get("/b")
    @responses({404: "Missing"})
    @responses({410: "Gone"})
    @security("one", scheme={"type": "http", "scheme": "basic"})
    @security("two", ["read"], scheme={"type": "http", "scheme": "bearer"})
    @deprecated()
    def b(request):  # type: ignore[no-untyped-def]
        return "b"

    op = document_for(router)["paths"]["/b"]["get"]
    assert {"404", "410"} <= set(op["responses"])
    # Decorators apply bottom-up, so the lower @security is listed first (either one suffices).
    assert op["security"] == [{"two": ["read"]}, {"one": []}]
    assert op["deprecated"] is True


def test_exclude_called_or_bare() -> None:
    router = Router()

    @exclude()
    @router.get("/c")
    def c(request):  # type: ignore[no-untyped-def]
        return "c"

    assert document_for(router)["paths"] == {}


def test_operation_id_must_be_a_non_empty_string() -> None:
    with pytest.raises(ValueError, match="operation_id"):
        operation_id("")
