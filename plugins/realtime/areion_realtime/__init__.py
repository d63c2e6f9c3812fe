"""areion-realtime: WebSockets, channels across workers and hosts, resumable server-sent events.

``WebSocketConnection`` (websockets' protocol layer, 0.8 MB) is imported when it is first
used (PEP 562), as the plugin does on the first WebSocket handshake; the rest is imported here.
"""

import importlib
from typing import TYPE_CHECKING

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
from .settings import RealtimeSettings
from .sse import format_event, last_event_id, sse_response

if TYPE_CHECKING:
    from .session import WebSocketConnection

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

#: The names imported on first use, and the submodule each comes from (as imported above).
_LAZY = {
    "WebSocketConnection": ".session",
}


def _import_lazily(name: str) -> object:
    """``areion_realtime.<name>`` on first use: import its submodule and keep the name here."""
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(submodule, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if not TYPE_CHECKING:
    # Hidden from type checkers: they would take any name as defined in a module with __getattr__.
    __getattr__ = _import_lazily
