"""An app for process-level tests: reports its pid, and has a slow endpoint for drain tests."""

import asyncio
import os

from areion_core import AreionServerBuilder, Router

router = Router()


@router.get("/pid")
async def pid(request):
    return {"pid": os.getpid()}


@router.get("/slow")
async def slow(request):
    await asyncio.sleep(float(request.get_query_param("s") or "1"))
    return "finished"


server = (AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[])
          .with_access_log(False).build())
