"""The plugin's ``WebSocketProtocol``: the handshake checks, and the sessions open in this worker.

``check`` runs before the handler: the version and key RFC 6455 §4.2.1 requires (426 with
``Sec-WebSocket-Version: 13``, 400), the Origin allow-list against cross-site WebSocket
hijacking (403; RFC 6455 §10.2), and the per-worker connection limit (503). A browser always
sends ``Origin``; a request without one is not a browser's and is let through.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from areion_core import HttpResponse, problem_response

if TYPE_CHECKING:
    from websockets.extensions import ServerExtensionFactory

    from areion_core import HttpRequest, PluginApp, ProtocolSwitch

    from .session import WebSocketConnection
    from .settings import RealtimeSettings

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def normalise_origin(origin: str) -> str:
    """``HTTPS://Example.com:443/`` → ``https://example.com``: the form origins are compared in."""
    origin = origin.strip().rstrip("/").lower()
    scheme, sep, rest = origin.partition("://")
    if sep and rest.endswith(":" + _DEFAULT_PORTS.get(scheme, "-")):
        rest = rest.rsplit(":", 1)[0]
    return f"{scheme}{sep}{rest}"


def deflate_factories(settings: RealtimeSettings) -> list[ServerExtensionFactory]:
    """permessage-deflate (RFC 7692) with the configured parameters, or nothing."""
    if not settings.compression:
        return []
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    return [ServerPerMessageDeflateFactory(
        server_no_context_takeover=settings.server_no_context_takeover,
        client_no_context_takeover=settings.client_no_context_takeover,
        server_max_window_bits=None if settings.server_max_window_bits == 15 else settings.server_max_window_bits,
        client_max_window_bits=None if settings.client_max_window_bits == 15 else settings.client_max_window_bits,
        compress_settings={"level": settings.compress_level},
    )]


class RealtimeProtocol:
    """What the ``websocket_protocol`` hook returns: checks handshakes, makes and counts sessions.

    websockets' protocol layer (``session``, the deflate factories: 0.8 MB) is imported by the
    first handshake that passes ``check``, not at startup: a worker may never see a WebSocket.
    """

    def __init__(self, app: PluginApp, settings: RealtimeSettings) -> None:
        self.app = app
        self.settings = settings
        self._extensions: list[ServerExtensionFactory] | None = None
        self.allowed = frozenset(normalise_origin(o) for o in settings.allowed_origins)
        #: Sessions of this worker, from the handshake to the end (what max_connections counts).
        self.sessions: set[WebSocketConnection] = set()
        #: The text sent last on a connection without extensions and its frame: a broadcast's
        #: members after the first reuse the bytes (``WebSocketConnection.send``).
        self.last_frame: tuple[str | None, bytes] = (None, b"")

    @property
    def extensions(self) -> list[ServerExtensionFactory]:
        """The extensions a handshake may negotiate (``deflate_factories``), made on first use."""
        if self._extensions is None:
            self._extensions = deflate_factories(self.settings)
        return self._extensions

    def check(self, request: HttpRequest) -> HttpResponse | None:
        headers = request.headers
        if (headers.get("sec-websocket-version") or "").strip() != "13":
            return problem_response(426, "Only WebSocket version 13 (RFC 6455) is supported.",
                                    headers={"Sec-WebSocket-Version": "13", "Upgrade": "websocket"})
        key = (headers.get("sec-websocket-key") or "").strip()
        try:
            valid = len(base64.b64decode(key, validate=True)) == 16
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            return problem_response(400, "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455 §4.1).")
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(request, origin):
            return problem_response(403, f"Origin {origin!r} may not open a WebSocket here.")
        if len(self.sessions) >= self.settings.max_connections:
            return problem_response(503, "Too many WebSocket connections on this worker.",
                                    headers={"Retry-After": "1"})
        return None

    def origin_allowed(self, request: HttpRequest, origin: str) -> bool:
        """The server's own origin, or one of ``allowed_origins`` (``*``: any)."""
        allowed = self.allowed
        if "*" in allowed:
            return True
        origin = normalise_origin(origin)
        return origin in allowed or origin == normalise_origin(f"{request.scheme}://{request.host}")

    def session(self, request: HttpRequest, switch: ProtocolSwitch) -> WebSocketConnection:
        from .session import WebSocketConnection  # websockets' protocol: imported on the first WebSocket

        session = WebSocketConnection(self, request, switch)
        self.sessions.add(session)
        return session

    def forget(self, session: WebSocketConnection) -> None:
        """A session has ended (called by the session)."""
        self.sessions.discard(session)

    def shutdown(self) -> None:
        """Close every open WebSocket with 1001 (the app stops without a server drain: TestClient)."""
        for session in list(self.sessions):
            session.server_shutdown()
