"""The plugin's hook implementations: wiring only (the logic lives in handshake, session, channels)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from areion_core import hookimpl

from .handshake import RealtimeProtocol
from .settings import RealtimeSettings

if TYPE_CHECKING:
    from areion_core import AreionConfig, PluginApp


class RealtimePlugin:
    """WebSockets on websockets' sans-I/O protocol (``[plugins.realtime]``)."""

    name = "realtime"

    def __init__(self) -> None:
        self.settings = RealtimeSettings()
        self.protocol: RealtimeProtocol | None = None

    @hookimpl
    def configure(self, app: PluginApp, config: AreionConfig) -> None:
        self.settings = RealtimeSettings.from_section(config.section(self.name))
        self.protocol = RealtimeProtocol(app, self.settings)

    @hookimpl
    def websocket_protocol(self, app: PluginApp) -> RealtimeProtocol | None:
        return self.protocol

    @hookimpl
    def shutdown(self, app: PluginApp) -> None:
        if self.protocol is not None:
            self.protocol.shutdown()
