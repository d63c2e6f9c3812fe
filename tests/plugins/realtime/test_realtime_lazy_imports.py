"""websockets' protocol layer is imported by the first WebSocket handshake, not by the package
or the plugin's startup; every exported name still resolves, to its submodule's object.

Each case runs in a fresh interpreter: this one has imported websockets already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

#: Every exported name, by the submodule that defines it.
EXPORTS = {
    "backends": ("make_channels",),
    "channels": ("ChannelBackend", "ChannelMessage", "ChannelUnavailable", "Channels", "MemoryBackend",
                 "SubscriberTooSlow", "Subscription", "get_channels"),
    "handshake": ("RealtimeProtocol",),
    "hooks": ("RealtimePlugin",),
    "session": ("WebSocketConnection",),
    "settings": ("RealtimeSettings",),
    "sse": ("format_event", "last_event_id", "sse_response"),
}

#: A server with the plugin on: started and serving HTTP, then one WebSocket echo over a raw socket.
SERVE_THEN_UPGRADE = """
    import json, sys
    import httpx
    from areion_core import AreionServerBuilder, Router, WebSocket
    from areion_core.testing import LiveServer
    from tests.plugins.realtime._ws_raw import TEXT, frame, open_raw, read_frame

    def websockets_loaded():
        return sorted(m for m in sys.modules if m.split(".")[0] == "websockets")

    router = Router()
    router.add_route("/json", lambda request: {"ok": True}, methods=["GET"])

    @router.websocket("/ws/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    server = (AreionServerBuilder().with_router(router).without_config_file()
              .with_config(plugins=["realtime"], access_log=False).build())
    seen = {}
    with LiveServer(server) as live:
        assert httpx.get(live.url + "/json").status_code == 200
        seen["serving"] = websockets_loaded()
        sock, _ = open_raw(live.port)
        with sock:
            sock.sendall(frame(TEXT, b"hello"))
            seen["echo"] = read_frame(sock)[2].decode()
        seen["after"] = websockets_loaded()
    print(json.dumps(seen))
"""


def run_fresh(code: str) -> object:
    """Run ``code`` in a fresh interpreter (at the repository's root); what it printed last, as JSON."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_websockets_is_imported_by_the_first_handshake() -> None:
    seen = run_fresh(SERVE_THEN_UPGRADE)
    assert isinstance(seen, dict)
    assert seen["serving"] == []  # the package, the plugin's configure and startup, an HTTP request
    assert seen["echo"] == "hello"
    assert {"websockets.server", "websockets.extensions.permessage_deflate"} <= set(seen["after"])


@pytest.mark.parametrize("first", ["the names", "every submodule"])
def test_every_name_is_its_submodules_object(first: str) -> None:
    mismatches = run_fresh(f"""
        import importlib, json
        exports = {EXPORTS!r}
        if {first!r} == "every submodule":
            for submodule in exports:
                importlib.import_module("areion_realtime." + submodule)
        wrong = []
        for submodule, names in exports.items():
            for name in names:
                namespace = {{}}
                exec(f"from areion_realtime import {{name}} as found", namespace)
                if namespace["found"] is not getattr(importlib.import_module("areion_realtime." + submodule), name):
                    wrong.append(name)
        print(json.dumps(wrong))
    """)
    assert mismatches == []


def test_all_dir_and_unknown_names() -> None:
    import areion_realtime

    exported = sorted(name for names in EXPORTS.values() for name in names)
    assert sorted(areion_realtime.__all__) == exported
    assert set(exported) <= set(dir(areion_realtime))
    with pytest.raises(AttributeError, match="module 'areion_realtime' has no attribute 'no_such_name'"):
        getattr(areion_realtime, "no_such_name")  # noqa: B009 - the name is the point
