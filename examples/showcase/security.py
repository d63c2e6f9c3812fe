"""The showcase's security routes (areion-security): a route with a small rate limit to try.

The rest of the showcase's security is configuration, in ``app.py``'s ``[plugins.security]``:
CORS for ``http://localhost:3000`` with credentials, the hosts ``127.0.0.1`` and ``localhost``
(any port), and ``POST /items`` limited to 100 requests per minute per client.
"""

from __future__ import annotations

from areion_security import rate_limit

from areion_core import HttpRequest, Router

router = Router()


@router.get("/limited")
@rate_limit("5/minute")
async def limited(request: HttpRequest) -> dict[str, str]:
    """Five requests per minute per client: the sixth is a 429 with Retry-After and RateLimit headers."""
    return {"message": "within the limit", "policy": "5 per minute per client"}
