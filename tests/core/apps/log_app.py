"""An app for access-log tests: the access log on (its default), written to stderr."""

from areion_core import AreionServerBuilder, Router

router = Router()


@router.get("/ready")
async def ready(request):
    return "ready"


@router.get("/hit/:n")
async def hit(request, n: int):
    return {"n": n}


server = AreionServerBuilder().with_router(router).without_config_file().with_config(plugins=[]).build()
