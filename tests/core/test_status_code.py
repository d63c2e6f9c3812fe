"""status_code= on routes: the status of a returned value, on a real socket; validated when added."""

from __future__ import annotations

import threading

import httpx
import pytest

from areion_core import HttpResponse, RouteError, Router


def _router() -> Router:
    r = Router()

    @r.post("/items", status_code=201)
    async def create(request):
        return {"id": 1}

    @r.post("/jobs", status_code=202)
    def queue(request):  # a plain def: still run in the thread pool
        return {"thread": threading.current_thread().name}

    @r.delete("/items/:id", status_code=204)
    async def delete(request, id: int):
        return None

    @r.put("/empty", status_code=201)
    async def empty(request):
        return None

    @r.get("/own", status_code=201)
    async def own(request):
        return HttpResponse("kept", 203)

    @r.get("/tuple", status_code=201)
    async def tup(request):
        return {"a": 1}, 200

    def shout(handler):
        async def wrapped(request, **kw):
            response = await handler(request, **kw)
            # The middleware sees the handler's value already converted, with the route's status.
            assert isinstance(response, HttpResponse) and response.status_code == 201
            response.set_header("x-seen-by", "middleware")
            return response
        return wrapped

    r.add_route("/mw", lambda request: None, ["GET"])  # no status_code: 204 as before

    @r.route("/wrapped", ["POST"], middlewares=[shout], status_code=201)
    async def wrapped_route(request):
        return {"v": 1}

    @r.get("/plain")
    async def plain(request):
        return {"ok": True}

    return r


def test_status_code_on_the_wire(live):
    srv = live(_router())
    with httpx.Client(base_url=srv.url) as c:
        created = c.post("/items")
        assert created.status_code == 201 and created.json() == {"id": 1}
        assert created.headers["content-type"] == "application/json"
        queued = c.post("/jobs")
        assert queued.status_code == 202 and queued.json()["thread"] != "MainThread"
        deleted = c.delete("/items/3")
        assert deleted.status_code == 204 and deleted.content == b""
        empty = c.put("/empty")
        assert empty.status_code == 201 and empty.content == b"" and empty.headers["content-length"] == "0"
        own = c.get("/own")
        assert own.status_code == 203 and own.text == "kept"
        assert c.get("/tuple").status_code == 200
        assert c.get("/mw").status_code == 204
        wrapped = c.post("/wrapped")
        assert wrapped.status_code == 201 and wrapped.json() == {"v": 1}
        assert wrapped.headers["x-seen-by"] == "middleware"
        assert c.get("/plain").status_code == 200
        invalid = c.delete("/items/x")
        assert invalid.status_code == 422  # errors keep their status


@pytest.mark.parametrize("bad", [True, "201", 99, 600, 1.5, 101])
def test_status_code_is_validated_when_the_route_is_added(bad):
    r = Router()
    with pytest.raises(RouteError, match=r"status_code must be an int from 200 to 599"):
        r.add_route("/x", lambda request: None, ["GET"], status_code=bad)
    with pytest.raises(RouteError, match=r"status_code must be an int from 200 to 599"):
        r.post("/y", status_code=bad)(lambda request: None)
