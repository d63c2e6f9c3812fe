"""status_code= on a route is the documented success status in openapi.json; errors are problem+json."""

from __future__ import annotations

from dataclasses import dataclass

from areion_core import Router
from areion_core.testing import TestClient
from tests.plugins.openapi._openapi_support import build_server

PROBLEM_REF = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Error"}}}


@dataclass
class Pet:
    name: str


def _router() -> Router:
    r = Router()

    @r.post("/pets", status_code=201)
    async def create(request, pet: Pet) -> Pet:
        return pet

    @r.delete("/pets/:id", status_code=204)
    async def remove(request, id: int) -> None:
        return None

    @r.put("/pets/:id/photo", status_code=202)
    async def photo(request, id: int) -> Pet | None:
        return None

    @r.get("/pets")
    async def listing(request) -> list[Pet]:
        return []

    return r


def test_status_code_in_openapi_json_and_on_the_wire() -> None:
    with TestClient(build_server(_router())) as client:
        doc = client.get("/openapi.json").json()
        created = client.post("/pets", json={"name": "Rex"})
        assert created.status_code == 201 and created.json() == {"name": "Rex"}
        invalid = client.post("/pets", json={})
        assert invalid.status_code == 422 and invalid.headers["content-type"] == "application/problem+json"
        assert client.delete("/pets/3").status_code == 204
    post = doc["paths"]["/pets"]["post"]["responses"]
    assert set(post) == {"201", "400", "415", "422"}
    assert post["201"]["description"] == "Created"
    assert post["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Pet"}
    assert post["422"]["content"] == PROBLEM_REF and post["415"]["content"] == PROBLEM_REF
    delete = doc["paths"]["/pets/{id}"]["delete"]["responses"]
    assert set(delete) == {"204", "422"} and "content" not in delete["204"]
    put = doc["paths"]["/pets/{id}/photo"]["put"]["responses"]
    assert set(put) == {"202", "422"} and put["202"]["description"] == "Accepted"
    assert set(doc["paths"]["/pets"]["get"]["responses"]) == {"200"}
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["type", "status"] and "errors" in error["properties"]
