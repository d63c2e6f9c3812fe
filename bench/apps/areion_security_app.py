"""The showcase with areion-security alone, for the security plugin's cost on /json.

- ``areion-security``: CORS (the request sends an allowed ``Origin``, so every answer gets
  ``Access-Control-Allow-Origin``, ``-Allow-Credentials`` and ``Vary``), trusted hosts (every
  request's ``Host`` checked) and the default security headers (six of them), on every route;
  no rate limit. Compare with ``areion-bare`` (the same showcase, no plugin).
- ``areion-security-redis`` (``AREION_BENCH_LIMIT_URL`` set): the same, plus ``GET /json``
  rate-limited on Redis with a limit no run reaches — one EVALSHA round trip per batch of
  concurrent requests (one call in flight; the hits that arrive meanwhile go together next).
  Compare with ``areion-security``.
"""

from __future__ import annotations

import os
from typing import Any

from areion_core import AreionServerBuilder
from examples.showcase import app as showcase

limit_url = os.environ.get("AREION_BENCH_LIMIT_URL", "")
features: dict[str, Any] = {
    "cors": {"origins": ["http://localhost:3000"], "credentials": True},
    "hosts": {"allowed": ["127.0.0.1", "localhost"]},
    "headers": {},
}
# AREION_BENCH_SECURITY=cors,headers (say) measures some of the features alone.
wanted = os.environ.get("AREION_BENCH_SECURITY", ",".join(features)).split(",")
security: dict[str, Any] = {name: table for name, table in features.items() if name in wanted}
if limit_url:
    security["rate_limit"] = {"store": "redis", "url": limit_url, "routes": {"GET /json": "1000000000/minute"}}

# The showcase's own server is built on import; this one is the same app with only our plugin.
server = (
    AreionServerBuilder()
    .with_router(showcase.router)
    .with_engine(showcase.engine)
    .with_orchestrator(showcase.orchestrator)
    .with_static_dir(os.environ.get("AREION_STATIC_DIR") or showcase.HERE / "static")
    .with_global_headers({"X-Content-Type-Options": "nosniff"})
    .with_config({"plugins": {"enabled": ["security"], "security": security}})
    .build()
)
