"""Issue 6: schemathesis against the showcase-like app's own OpenAPI document.

The document the openapi plugin serves is the contract; schemathesis generates requests from
it (valid and invalid ones: wrong types, missing parameters, odd strings) and checks every
response: no server error, status codes, content types and bodies as documented, invalid
input rejected. It runs twice, in-process through the app's ASGI 3 interface
(``server.asgi``) and over HTTP against the real server (``LiveServer``), since both
front ends must honour the same contract.

Hypothesis is made deterministic (``derandomize``) with no example database, and its storage
directory (a cache of constants it collects) goes to a temporary directory, not the repo. The
example budget is small (15 per operation and phase) so the module takes seconds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.configuration
import pytest
import schemathesis
from hypothesis import settings

from areion_core.testing import LiveServer, TestClient
from tests.integration._showcase_api import showcase_server

# Hypothesis keeps a cache of the constants it finds in the source (even with database=None)
# under its storage directory, ./.hypothesis by default; schemathesis already generates some
# cases while pytest collects this module, so it is moved here, at import, to the temp dir.
hypothesis.configuration.set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "areion-tests-hypothesis")

BODY_OPERATION = {"method": "POST", "path": "/users/{id}/posts"}
HYPOTHESIS = settings(max_examples=15, deadline=None, derandomize=True, database=None)


def _config(mode: str) -> schemathesis.Config:
    """Explicit settings (no schemathesis.toml is looked up): examples, coverage and fuzzing
    phases, data generation ``mode`` ("all" = valid and invalid inputs)."""
    return schemathesis.Config.from_dict({
        "generation": {"mode": mode, "deterministic": True, "database": "none", "max-examples": 15},
        "phases": {"stateful": {"enabled": False}},
    })


def _document() -> dict[str, Any]:
    """The document as the plugin serves it (fetched in-process while the module is collected:
    schemathesis parametrizes the tests from it)."""
    with TestClient(showcase_server()) as client:
        response = client.get("/openapi.json")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


DOCUMENT = _document()


def _schema(mode: str) -> Any:
    # Eager schemas: schemathesis' fixture-based loading (schemathesis.pytest.from_fixture) fails
    # on pytest 9.2 ('Function' object has no attribute '_nodeid'), so the document is loaded here.
    return schemathesis.openapi.from_dict(DOCUMENT, config=_config(mode))


every_operation = _schema("all").exclude(**BODY_OPERATION)
body_operation = _schema("all").include(**BODY_OPERATION)


@pytest.fixture(scope="module", params=["asgi", "http"])
def target(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Where the cases are sent: the ASGI app in-process, or the real server over HTTP
    (keyword arguments for ``case.call_and_validate``)."""
    server = showcase_server()
    if request.param == "asgi":
        yield {"app": server.asgi, "base_url": "http://testserver"}
    else:
        with LiveServer(server) as live:
            yield {"base_url": live.url}


@every_operation.parametrize()  # type: ignore[untyped-decorator]
@HYPOTHESIS
def test_every_operation_honours_the_document(case: schemathesis.Case[Any], target: dict[str, Any]) -> None:
    """All default checks, valid and invalid inputs, every operation but the dataclass body one."""
    case.call_and_validate(**target)


@body_operation.parametrize()  # type: ignore[untyped-decorator]
@HYPOTHESIS
def test_dataclass_body_operation(case: schemathesis.Case[Any], target: dict[str, Any]) -> None:
    """The dataclass-body operation, valid and invalid bodies, every default check."""
    case.call_and_validate(**target)


# Found by schemathesis (coverage phase, POST /users/{id}/posts) before the core checked a
# dataclass body's field types: these reached the handler (200, or 500 where it iterated
# ``tags``) where the document promises a 422 (a 400 then).
SCHEMA_VIOLATING_BODIES = [
    {"title": 0},
    {"title": None, "tags": []},
    {"title": "", "tags": [{}]},
    {"title": "", "tags": "AAA"},
    {"title": "", "tags": None},
]


@pytest.mark.parametrize("body", SCHEMA_VIOLATING_BODIES, ids=repr)
def test_dataclass_body_rejects_schema_violating_fields(body: dict[str, Any]) -> None:
    with TestClient(showcase_server()) as client:
        response = client.post("/users/1/posts", json=body)
    assert response.status_code == 422, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] and all(e["loc"][0] == "body" for e in response.json()["errors"])


def test_document_and_core_agree_on_unknown_body_fields() -> None:
    """Found by schemathesis (positive_data_acceptance): ``{"title": "", "x": 1}`` is valid by the
    document (NewPost does not close the object), so the core ignores unknown fields."""
    new_post = DOCUMENT["components"]["schemas"]["NewPost"]
    assert new_post.get("additionalProperties", True) is not False, new_post  # the document: open
    with TestClient(showcase_server()) as client:
        response = client.post("/users/1/posts", json={"title": "", "x": 1})
    # The core: accepted, the unknown field dropped.
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.json() == {"user_id": 1, "post_id": 1, "title": "", "tags": []}


def test_integer_path_parameter_beyond_64_bits_is_not_a_server_error() -> None:
    """Found by schemathesis (a larger budget than the suite's): ``integer`` in the document has
    no bounds, Python's ``int()`` accepts any size, and orjson refuses integers beyond 64 bits
    ("Integer exceeds 64-bit range"), so echoing the id is a 500. The showcase's own
    ``/users/:id/posts/:post`` has the same 500."""
    with TestClient(showcase_server()) as client:
        response = client.get("/users/2765167774572649906176/posts/304")
    assert response.status_code < 500, (response.status_code, response.text)
