"""The plugin's hook implementations: wiring only (the logic lives in handshake, session, channels)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from areion_core import hookimpl

from .backends import make_channels
from .channels import Channels
from .handshake import RealtimeProtocol
from .settings import RealtimeSettings

if TYPE_CHECKING:
    from areion_core import AreionConfig, PluginApp


class RealtimePlugin:
    """WebSockets on websockets' sans-I/O protocol, channels and SSE (``[plugins.realtime]``)."""

    name = "realtime"

    def __init__(self) -> None:
        self.settings = RealtimeSettings()
        self.protocol: RealtimeProtocol | None = None
        self.channels: Channels | None = None

    @hookimpl
    def configure(self, app: PluginApp, config: AreionConfig) -> None:
        self.settings = RealtimeSettings.from_section(config.section(self.name))
        self.protocol = RealtimeProtocol(app, self.settings)
        self.channels = make_channels(self.settings, app)

    @hookimpl
    def websocket_protocol(self, app: PluginApp) -> RealtimeProtocol | None:
        return self.protocol

    @hookimpl
    async def startup(self, app: PluginApp) -> None:
        if self.channels is not None:
            await self.channels.start()

    @hookimpl
    async def shutdown(self, app: PluginApp) -> None:
        if self.protocol is not None:
            self.protocol.shutdown()
        if self.channels is not None:
            await self.channels.close()
