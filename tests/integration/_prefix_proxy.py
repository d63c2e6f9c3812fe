"""A minimal reverse proxy that mounts an app under a path prefix, as a front server would.

``PrefixProxy("/shop", "http://127.0.0.1:PORT")`` listens on its own free port, answers 404
for anything outside ``/shop``, and forwards ``/shop/x`` to the upstream as ``/x`` — the
deployment that the core's ``root_path = "/shop"`` describes. Headers and bodies are passed
through untouched (``Content-Encoding`` included); only hop-by-hop headers are dropped and the
body is re-framed with ``Content-Length``. With ``forwarded_prefix=True`` it also says the
prefix in ``X-Forwarded-Prefix``, as Traefik and most ingress controllers can.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class PrefixProxy:
    """Forward ``prefix``/... to ``upstream``/... on 127.0.0.1 and a free port (a context manager)."""

    def __init__(self, prefix: str, upstream: str, *, forwarded_prefix: bool = False) -> None:
        self.prefix = prefix.rstrip("/")
        #: Tell the upstream the prefix in ``X-Forwarded-Prefix`` (for an app that trusts this
        #: proxy through ``forwarded_allow_ips``, instead of a configured ``root_path``).
        self.forwarded_prefix = forwarded_prefix
        target = urlsplit(upstream)
        self._host, self._port = target.hostname or "127.0.0.1", target.port or 80
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as browsers expect

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                proxy.forward(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="prefix-proxy", daemon=True)

    @property
    def url(self) -> str:
        """The proxy's origin, ``http://127.0.0.1:PORT`` (without the prefix)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        if not (path == self.prefix or path.startswith(self.prefix + "/") or path.startswith(self.prefix + "?")):
            message = b"outside the mounted prefix\n"
            handler.send_response(404)
            handler.send_header("Content-Type", "text/plain")
            handler.send_header("Content-Length", str(len(message)))
            handler.end_headers()
            handler.wfile.write(message)
            return
        upstream_path = path[len(self.prefix):] or "/"
        if upstream_path.startswith("?"):
            upstream_path = "/" + upstream_path
        length = int(handler.headers.get("Content-Length") or 0)
        body: bytes | None = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        if self.forwarded_prefix:
            headers["X-Forwarded-Prefix"] = self.prefix
        conn = http.client.HTTPConnection(self._host, self._port, timeout=30)
        try:
            conn.request(handler.command, upstream_path, body=body, headers=headers)
            upstream = conn.getresponse()
            data = upstream.read()
            handler.send_response(upstream.status, upstream.reason)
            for name, value in upstream.getheaders():
                # A HEAD answer keeps the upstream's Content-Length (that of the GET body).
                if name.lower() not in _HOP_BY_HOP and (name.lower() != "content-length" or handler.command == "HEAD"):
                    handler.send_header(name, value)
            if handler.command != "HEAD" and upstream.status not in (204, 304):
                handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(data)
        finally:
            conn.close()

    def __enter__(self) -> PrefixProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
