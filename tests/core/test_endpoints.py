"""1.x-style middleware sees an HttpResponse: the handler's value (a dataclass, a list, None, a
str, a (value, status) tuple) is converted before the middleware around it gets it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from areion_core import HttpResponse, Router


@dataclass
class Note:
    title: str


def stamp(handler):
    """The README's example: a header on every response of a group."""
    async def wrapped(request, **params):
        response = await handler(request, **params)
        response.set_header("X-Group", "notes")
        response.set_header("X-Seen-Type", type(response).__name__)
        return response
    return wrapped


def sync_stamp(handler):
    def wrapped(request, **params):
        response = handler(request, **params)
        response.set_header("X-Sync", str(response.status_code))
        return response
    return wrapped


def _router() -> Router:
    r = Router()
    notes = r.group("/notes", middlewares=[stamp])

    @notes.get("/one")
    async def one(request):
        return Note("first")

    @notes.get("/list")
    async def many(request):
        return [Note("a"), Note("b")]

    @notes.delete("/one")
    async def gone(request):
        return None

    @notes.post("/one", status_code=201)
    async def created(request):
        return Note("new")

    @notes.get("/tuple")
    async def tup(request):
        return {"made": True}, 202

    @notes.get("/text/:id")
    def text(request, id: int):  # a plain def, run in the thread pool
        return f"note {id}"

    r.add_route("/sync", lambda request: {"ok": 1}, ["GET"], middlewares=[sync_stamp])
    return r


def test_group_middleware_sees_a_response(live):
    srv = live(_router())
    with httpx.Client(base_url=srv.url) as client:
        one = client.get("/notes/one")
        assert one.json() == {"title": "first"} and one.headers["x-group"] == "notes"
        assert one.headers["x-seen-type"] == HttpResponse.__name__
        listed = client.get("/notes/list")
        assert listed.json() == [{"title": "a"}, {"title": "b"}] and listed.headers["x-group"] == "notes"
        deleted = client.delete("/notes/one")
        assert deleted.status_code == 204 and deleted.headers["x-group"] == "notes"
        created = client.post("/notes/one")
        assert created.status_code == 201 and created.json() == {"title": "new"}
        assert created.headers["x-group"] == "notes"
        accepted = client.get("/notes/tuple")
        assert accepted.status_code == 202 and accepted.headers["x-group"] == "notes"
        text = client.get("/notes/text/7")
        assert text.text == "note 7" and text.headers["x-seen-type"] == HttpResponse.__name__
        assert client.get("/notes/text/x").status_code == 422  # parameters are bound before it
        sync = client.get("/sync")
        assert sync.json() == {"ok": 1} and sync.headers["x-sync"] == "200"
