"""The ``[plugins.realtime]`` section: WebSocket limits, keepalive, deflate, origins, channels."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from areion_redis import RedisSettings

from areion_core.plugin_api import SettingsReader

SECTION = "plugins.realtime"
_ORIGIN = r"^(\*|null|[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s]+)$"


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    """Validated configuration of the realtime plugin (the README's table lists each key)."""

    #: Largest incoming message (after reassembly and inflation); larger closes with 1009.
    max_message_size: int = 1024 * 1024
    #: Open WebSockets per worker process; past it the handshake answers 503.
    max_connections: int = 10_000
    #: Seconds between keepalive pings (0: none).
    ping_interval: float = 20.0
    #: Seconds to wait for the pong before closing with 1011.
    ping_timeout: float = 20.0
    #: Seconds a close handshake may take before the socket is cut.
    close_timeout: float = 5.0
    #: Seconds ``send()`` may wait on a client that does not read before it is closed with 1008.
    send_timeout: float = 10.0
    #: Complete messages received but not yet read by the handler, before reading pauses.
    receive_queue: int = 64
    #: Origins allowed at the handshake besides the server's own ("*": any).
    allowed_origins: tuple[str, ...] = ()
    #: Offer permessage-deflate (RFC 7692) when the client asks for it.
    compression: bool = True
    #: permessage-deflate parameters (RFC 7692 §7.1).
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    #: zlib level of outgoing messages.
    compress_level: int = 6
    #: Channel backend: "memory" (one process) or "redis" (every worker and host).
    backend: str = "memory"
    #: The "redis" backend's Redis: standalone, Sentinel or Cluster (``redis`` as a URL or a
    #: table, read by areion_redis; ``url`` is the older spelling of it).
    redis: RedisSettings = field(default_factory=lambda: RedisSettings.from_url("redis://127.0.0.1:6379/0"))
    #: Messages kept per channel for Last-Event-ID resume (a Redis stream trimmed with MAXLEN ~).
    history_size: int = 1000
    #: Messages a subscriber may fall behind before its subscription ends (SubscriberTooSlow).
    subscriber_queue: int = 1000
    #: When Redis is down: "raise" (publish raises ChannelUnavailable) or "drop" (logs, returns None).
    on_unavailable: str = "raise"
    #: Prefix of every Redis key and pub/sub channel this plugin uses.
    key_prefix: str = "areion:channel:"

    def readiness_redis(self) -> RedisSettings | None:
        """The Redis channels' server, which /readyz (areion-observability) checks; None with
        the memory backend."""
        return self.redis if self.backend == "redis" else None

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> RealtimeSettings:
        """Validate ``section``; raise ``ConfigError(key, value, expected)`` on the first bad key."""
        read = SettingsReader(SECTION, section, keys=[*(f.name for f in fields(cls)), "url"], strings=True)
        d = cls()
        return cls(
            max_message_size=read.integer("max_message_size", d.max_message_size, minimum=125),
            max_connections=read.integer("max_connections", d.max_connections, minimum=1),
            ping_interval=read.seconds("ping_interval", d.ping_interval, zero=True),
            ping_timeout=read.seconds("ping_timeout", d.ping_timeout),
            close_timeout=read.seconds("close_timeout", d.close_timeout),
            send_timeout=read.seconds("send_timeout", d.send_timeout),
            receive_queue=read.integer("receive_queue", d.receive_queue, minimum=1),
            allowed_origins=_origins(read),
            compression=read.boolean("compression", d.compression),
            server_max_window_bits=read.integer("server_max_window_bits", d.server_max_window_bits,
                                                minimum=9, maximum=15),
            client_max_window_bits=read.integer("client_max_window_bits", d.client_max_window_bits,
                                                minimum=9, maximum=15),
            server_no_context_takeover=read.boolean("server_no_context_takeover", d.server_no_context_takeover),
            client_no_context_takeover=read.boolean("client_no_context_takeover", d.client_no_context_takeover),
            compress_level=read.integer("compress_level", d.compress_level, minimum=1, maximum=9),
            backend=read.choice("backend", d.backend, ("memory", "redis")),
            redis=_redis(read, d.redis),
            history_size=read.integer("history_size", d.history_size, minimum=0),
            subscriber_queue=read.integer("subscriber_queue", d.subscriber_queue, minimum=1),
            on_unavailable=read.choice("on_unavailable", d.on_unavailable, ("raise", "drop")),
            key_prefix=read.text("key_prefix", d.key_prefix),
        )


def _redis(read: SettingsReader, default: RedisSettings) -> RedisSettings:
    """``redis`` (or its alias ``url``): a URL of any form areion_redis reads, or a table."""
    if "redis" in read and "url" in read:
        raise read.error("url", read.value("url"), f"either {SECTION}.redis or {SECTION}.url (an alias), not both")
    for key in ("redis", "url"):
        if key in read:
            return RedisSettings.from_config(read.value(key), f"{SECTION}.{key}")
    return default


def _origins(read: SettingsReader) -> tuple[str, ...]:
    """``allowed_origins``: each ``scheme://host[:port]``, ``null`` or ``*``, compared lower-cased."""
    origins = read.strings_list("allowed_origins", [], single=True)
    for origin in origins:
        if not re.match(_ORIGIN, origin.rstrip("/")):
            raise read.error("allowed_origins", origin, "origins such as 'https://example.com', 'null' or '*'")
    return tuple(origin.rstrip("/").lower() for origin in origins)
