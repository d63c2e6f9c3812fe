"""The transport events a stand-in protocol passes on to the connection it stands in for.

Two objects take a connection's transport for a while and give every event but the data back
to the connection: the reader of a large streamed body (``body.BufferedReceiver``) and an
upgraded stream (``upgrade.UpgradedStream``).
"""

from __future__ import annotations

from typing import Any


class RelayToConnection:
    """``eof_received``, ``connection_lost`` and write flow control, passed on to ``self.conn``."""

    __slots__ = ()
    conn: Any

    def eof_received(self) -> bool | None:
        result: bool | None = self.conn.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.connection_lost(exc)

    def pause_writing(self) -> None:
        self.conn.pause_writing()

    def resume_writing(self) -> None:
        self.conn.resume_writing()
