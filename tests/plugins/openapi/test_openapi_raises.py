"""Finding the HttpError subclasses a handler raises."""

from __future__ import annotations

from areion_openapi.raises import raised_errors

import areion_core
from areion_core import BadRequestError, HttpError, NotFoundError


class PaymentRequired(HttpError):
    """The account has no credit left."""

    status_code = 402


class NotAnHttpError(Exception):
    pass


def handler_many(request, id: int):  # type: ignore[no-untyped-def]
    if id < 0:
        raise BadRequestError("id must be positive")
    if id == 0:
        raise NotFoundError
    if id == 1:
        raise PaymentRequired()
    if id == 2:
        raise areion_core.ForbiddenError("not yours")  # through a module attribute
    if id == 3:
        raise HttpError("teapot", status_code=418)
    if id == 4:
        raise NotAnHttpError("ignored")
    if id == 5:
        raise ValueError("ignored too")
    try:
        pass
    except KeyError:  # noqa: TRY203 - a bare re-raise, which the scan must skip
        raise
    return id


def test_finds_each_raise_with_its_status_and_literal_message() -> None:
    found = [(e.error, e.status_code, e.message) for e in raised_errors(handler_many)]
    assert found == [
        (BadRequestError, 400, "id must be positive"),
        (PaymentRequired, 402, None),
        (areion_core.ForbiddenError, 403, "not yours"),
        (NotFoundError, 404, None),
        (HttpError, 418, "teapot"),
    ]


def test_closure_variables_resolve() -> None:
    LocalError = PaymentRequired

    def handler(request):  # type: ignore[no-untyped-def]
        raise LocalError("pay first")

    assert [(e.error, e.status_code) for e in raised_errors(handler)] == [(PaymentRequired, 402)]


def test_handlers_without_source_yield_nothing() -> None:
    assert raised_errors(len) == []
    assert raised_errors(eval("lambda request: None")) == []


def test_decorated_handler_is_unwrapped() -> None:
    import functools

    def deco(func):  # type: ignore[no-untyped-def]
        @functools.wraps(func)
        def wrapper(*a, **k):  # type: ignore[no-untyped-def]
            return func(*a, **k)
        return wrapper

    @deco
    def handler(request):  # type: ignore[no-untyped-def]
        raise NotFoundError("gone")

    assert [e.status_code for e in raised_errors(handler)] == [404]
