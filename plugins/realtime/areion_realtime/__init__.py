"""areion-realtime: WebSockets, channels across workers and hosts, resumable server-sent events."""

from .backends import make_channels
from .channels import (
    ChannelBackend,
    ChannelMessage,
    Channels,
    ChannelUnavailable,
    MemoryBackend,
    SubscriberTooSlow,
    Subscription,
    get_channels,
)
from .handshake import RealtimeProtocol
from .hooks import RealtimePlugin
from .session import WebSocketConnection
from .settings import RealtimeSettings
from .sse import format_event, last_event_id, sse_response

__all__ = [
    "ChannelBackend",
    "ChannelMessage",
    "ChannelUnavailable",
    "Channels",
    "MemoryBackend",
    "RealtimePlugin",
    "RealtimeProtocol",
    "RealtimeSettings",
    "SubscriberTooSlow",
    "Subscription",
    "WebSocketConnection",
    "format_event",
    "get_channels",
    "last_event_id",
    "make_channels",
    "sse_response",
]
