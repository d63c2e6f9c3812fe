"""areion-realtime: WebSockets, channels across workers and hosts, resumable server-sent events."""

from .handshake import RealtimeProtocol
from .hooks import RealtimePlugin
from .session import WebSocketConnection
from .settings import RealtimeSettings

__all__ = [
    "RealtimePlugin",
    "RealtimeProtocol",
    "RealtimeSettings",
    "WebSocketConnection",
]
