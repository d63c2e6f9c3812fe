"""The request side of a streamed body: where its chunks come from, and its errors as HTTP errors.

A request whose route streams its body (see ``Route.streams_body``) is made before its body
has arrived, with a *body source* in place of the bytes: the server's ``BodyStream``
(``server/body.py``, fed by the socket with back-pressure) or, under ASGI, an
:class:`ASGIBodySource` that calls ``receive()``. ``request.stream()``, ``await
request.body()`` and ``await request.form()`` read it through :func:`next_chunk`, which turns a
``BodyError`` (over the limit, malformed, cut short) into the ``HttpError`` the client gets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

from .exceptions import BadRequestError, HttpError, PayloadTooLargeError, UnsupportedMediaTypeError
from .forms import FormData, MultipartReader, parse_urlencoded
from .server.body import BodyError
from .server.limits import ServerLimits

if TYPE_CHECKING:
    from .headers import Headers
    from .types import PluginApp

Receive = Callable[[], Awaitable[dict[str, Any]]]


@runtime_checkable
class BodySource(Protocol):
    """Where a streamed body's chunks come from."""

    async def read_chunk(self) -> bytes:
        """The next piece of the body, ``b""`` at its end; raises ``BodyError``."""
        ...


def as_http_error(exc: BodyError) -> HttpError:
    """The error the client gets for a body that cannot be read."""
    if exc.status == 413:
        return PayloadTooLargeError(exc.detail)
    if exc.status == 400:
        return BadRequestError(exc.detail)
    return HttpError(exc.detail, exc.status)


async def next_chunk(source: BodySource) -> bytes:
    """``source.read_chunk()``, its failure an ``HttpError`` (413, 400, 408)."""
    try:
        return await source.read_chunk()
    except BodyError as exc:
        raise as_http_error(exc) from None


class ASGIBodySource:
    """A request body read from an ASGI server's ``receive()``, one message at a time.

    The ASGI server applies back-pressure itself (it stops reading the socket while its buffer
    is full and nobody calls ``receive``); this counts the bytes against the route's limit and
    notes the end of the body, after which the adapter may watch for a disconnect.
    """

    __slots__ = ("_receive", "complete", "done", "limit", "received")

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.received = 0
        self.complete = False
        #: Set once the body was read to its end or failed: ``receive()`` is free again.
        self.done = asyncio.Event()

    async def read_chunk(self) -> bytes:
        while not self.complete:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.complete = True
                self.done.set()
                raise BodyError(400, "the client closed the connection before the end of the body")
            chunk = bytes(message.get("body", b""))
            self.received += len(chunk)
            if self.received > self.limit:
                self.complete = True
                self.done.set()
                raise BodyError(413, "request body too large")
            if not message.get("more_body", False):
                self.complete = True
                self.done.set()
            if chunk:
                return chunk
        return b""


class Body(bytes):
    """The request body: plain ``bytes`` that can also be awaited as ``await request.body()``."""

    __slots__ = ()

    def __call__(self) -> Any:
        return _Ready(self)


class _Ready:
    __slots__ = ("value",)

    def __init__(self, value: Body) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Body]:
        return self.value
        yield  # pragma: no cover - makes this a generator


EMPTY_BODY = Body()
_DEFAULT_LIMITS = ServerLimits()


class PendingBody(Body):
    """The ``body`` of a request whose body is still arriving (a route that streams it).

    It is empty as bytes; ``await request.body()`` reads the whole body and makes it
    ``request.body``. ``get_parsed_body()`` and ``get_raw_body()`` refuse it with a message
    saying so, instead of parsing nothing.
    """

    def __new__(cls, request: BodyReading) -> PendingBody:
        return super().__new__(cls)

    def __init__(self, request: BodyReading) -> None:
        self.request = request

    def __call__(self) -> Any:
        return self.request.read_body()


class _Consumed:
    """``request._source`` once ``stream()`` has begun: the body goes to that iterator only."""

    __slots__ = ()


_CONSUMED: Any = _Consumed()


class BodyReading:
    """The body-reading half of ``HttpRequest``: ``stream()``, ``body()``, ``json()``, ``form()``."""

    __slots__ = ("_form", "_source", "body")
    body: Body
    #: A streamed body's source while the body has not been read.
    _source: Any
    _form: FormData | None
    app: PluginApp | None

    @property
    def headers(self) -> Headers:  # provided by HttpRequest
        raise NotImplementedError

    def _check_read(self, what: str) -> None:
        if self._source is not None:
            raise RuntimeError(
                f"{what} needs the whole body, but this route streams it (its handler reads "
                "request.stream() or request.form()): use await request.body(), await request.json() "
                "or await request.form() instead")

    @property
    def body_streamed(self) -> bool:
        """True while the body is still to be read from the connection (a route that streams it)."""
        return self._source is not None

    async def json(self) -> Any:
        body = await self.read_body()
        try:
            return orjson.loads(memoryview(body)) if body else None
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"request body is not valid JSON: {exc}") from None

    async def stream(self) -> AsyncIterator[bytes]:
        """The body as an async iterator of chunks, as they arrive.

        On a route that streams its body, nothing was buffered: each chunk is read from the
        connection when asked for (reading pauses while the handler does not ask), and a body
        over the route's ``max_body_bytes`` raises a 413 ``HttpError`` as soon as it is crossed.
        The body can be streamed once; elsewhere it yields the buffered body.
        """
        source = self._source
        if source is None:
            if self.body:
                yield bytes(self.body)
            return
        if source is _CONSUMED:
            raise RuntimeError("the request body was already read by request.stream(); it can be streamed once")
        self._source = _CONSUMED
        while chunk := await next_chunk(source):
            yield chunk

    async def read_body(self) -> Body:
        """The whole body (``await request.body()``): read from the connection if it streams."""
        source = self._source
        if source is None:
            return self.body
        if source is _CONSUMED:
            raise RuntimeError("await request.body() after request.stream(): the body was consumed as a "
                               "stream and is not kept; collect the chunks yourself if you need them")
        self._source = None
        parts = []
        while chunk := await next_chunk(source):
            parts.append(chunk)
        body = self.body = Body(b"".join(parts)) if parts else EMPTY_BODY
        return body

    async def form(self) -> FormData:
        """The form in the body: ``multipart/form-data`` (parsed as it arrives, files spooled to
        disk past ``limits.form_spool_bytes``) or ``application/x-www-form-urlencoded``.

        Anything else is a 415; a malformed body a 400; a body past the form limits a 413.
        Files are closed (temporary files removed) after the response.
        """
        if self._form is not None:
            return self._form
        ctype = self.headers.get("content-type") or ""
        lowered = ctype.lower()
        if lowered.startswith("multipart/form-data"):
            reader = MultipartReader(ctype, self._limits())
            try:
                if self._source is None:
                    reader.feed(bytes(self.body))
                else:
                    async for chunk in self.stream():
                        reader.feed(chunk)
                form = reader.finish()
            except BaseException:
                reader.close()
                raise
        elif lowered.startswith("application/x-www-form-urlencoded"):
            form = parse_urlencoded(bytes(await self.read_body()))
        else:
            raise UnsupportedMediaTypeError(
                "expected a multipart/form-data or application/x-www-form-urlencoded body")
        self._form = form
        return form

    def _parse_multipart_now(self) -> FormData:
        reader = MultipartReader(self.headers.get("content-type") or "", self._limits())
        try:
            reader.feed(bytes(self.body))
            form = reader.finish()
        except BaseException:
            reader.close()
            raise
        self._form = form
        return form

    def _limits(self) -> ServerLimits:
        return self.app.config.limits if self.app is not None else _DEFAULT_LIMITS

    def close_form(self) -> None:
        """Close the files of a parsed form (the app calls this after the response)."""
        form = self._form
        if form is not None:
            form.close()
