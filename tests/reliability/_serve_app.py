"""The app the reliability tests serve with `areion run` in a process of its own.

Every response body is built fresh per request (never one shared bytes object), so a server
that buffered responses for a client that does not read would show it in its RSS.
"""

import asyncio
import hashlib
import os

from areion_core import AreionServerBuilder, HttpResponse, Router, StreamingResponse

router = Router()


@router.get("/ping")
async def ping(request):
    return "pong"


@router.get("/pid")
async def pid(request):
    return {"pid": os.getpid()}


@router.get("/work")
async def work(request):
    """Sleeps ``s`` seconds, then names the request (``id``) and the process that answered it."""
    seconds = float(request.get_query_param("s") or "0")
    if seconds:
        await asyncio.sleep(seconds)
    return f"{request.get_query_param('id')} {os.getpid()}"


@router.post("/work")
async def work_post(request):
    return f"{request.get_query_param('id')} {os.getpid()} {len(request.body)}"


@router.get("/big")
async def big(request):
    """``kb`` KiB, buffered, a new object each time."""
    size = int(request.get_query_param("kb") or "256") * 1024
    return HttpResponse(b"b" * size, content_type="application/octet-stream")


@router.get("/stream")
async def stream(request):
    """``kb`` KiB in 64 KiB chunks, each chunk a new object."""
    size = int(request.get_query_param("kb") or "1024") * 1024

    async def chunks():
        left = size
        while left > 0:
            n = min(65536, left)
            left -= n
            yield b"s" * n

    return StreamingResponse(chunks(), content_type="application/octet-stream")


@router.put("/upload", max_body_bytes=4 * 1024 ** 3)
async def upload(request):
    """The body streamed into a SHA-256 (test_upload_memory)."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


@router.post("/upload/form", max_body_bytes=4 * 1024 ** 3)
async def upload_form(request):
    """A multipart form parsed as it arrives; each file hashed from its spooled copy."""
    form = await request.form()
    out = {}
    for file in form.files:
        digest = hashlib.sha256()
        async for chunk in file:
            digest.update(chunk)
        out[file.field] = [file.size, digest.hexdigest()]
    return out


server = (AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
          .with_access_log(False).build())
