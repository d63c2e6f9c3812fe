"""``problem_response``: RFC 9457 problem details as ``application/problem+json``, on the wire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

import areion_core
from areion_core import Router, problem_response
from areion_core.testing import LiveServer
from tests.core._core_support import exchange


def test_it_is_part_of_the_public_api() -> None:
    assert "problem_response" in areion_core.__all__


def test_a_problem_on_the_wire(live: Callable[..., LiveServer]) -> None:
    router = Router()

    @router.get("/conflict")
    async def conflict(request: Any) -> Any:
        return problem_response(409, "The name is taken.", headers={"Retry-After": "5"},
                                extensions={"errors": [{"name": "name", "reason": "taken"}]})

    @router.get("/typed")
    async def typed(request: Any) -> Any:
        return problem_response(403, "Your balance is 30, but that costs 50.",
                                type="https://example.com/probs/out-of-credit", title="You do not have enough credit.",
                                instance="/account/12345/msgs/abc", extensions={"balance": 30})

    @router.get("/unregistered")
    async def unregistered(request: Any) -> Any:
        return problem_response(599)

    server = live(router)
    raw = exchange(server.port, b"GET /conflict HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 409 Conflict"
    assert b"Content-Type: application/problem+json" in lines
    assert b"Retry-After: 5" in lines
    assert body == (b'{"type":"about:blank","title":"Conflict","status":409,"detail":"The name is taken.",'
                    b'"errors":[{"name":"name","reason":"taken"}]}')

    raw = exchange(server.port, b"GET /typed HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert orjson.loads(raw.partition(b"\r\n\r\n")[2]) == {
        "type": "https://example.com/probs/out-of-credit", "title": "You do not have enough credit.",
        "status": 403, "detail": "Your balance is 30, but that costs 50.",
        "instance": "/account/12345/msgs/abc", "balance": 30}

    raw = exchange(server.port, b"GET /unregistered HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 599 ")
    assert raw.partition(b"\r\n\r\n")[2] == b'{"type":"about:blank","status":599}'  # no phrase, no title

    head_only = exchange(server.port, b"HEAD /conflict HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert head_only.startswith(b"HTTP/1.1 409 Conflict") and head_only.endswith(b"\r\n\r\n")
    assert b"Content-Type: application/problem+json" in head_only


@pytest.mark.parametrize("status", [200, 399, 600, True, "404", 404.0])
def test_a_status_that_is_not_an_error_is_refused(status: Any) -> None:
    with pytest.raises(ValueError, match="error status"):
        problem_response(status)


@pytest.mark.parametrize("name", ["type", "title", "status", "detail", "instance"])
def test_an_extension_cannot_replace_a_standard_member(name: str) -> None:
    with pytest.raises(ValueError, match="would replace the standard member"):
        problem_response(400, extensions={name: "x"})


@pytest.mark.parametrize("name", ["ab", "1abc", "with-dash", "has space", ""])
def test_an_extension_name_must_be_identifier_like(name: str) -> None:
    with pytest.raises(ValueError, match="extension member name"):
        problem_response(400, extensions={name: "x"})
