"""socketify.py (C++ uWebSockets through cffi), one process, as its documentation writes it.

Run: ``python bench/apps/socketify_app.py --host 127.0.0.1 --port 8000``.

``res.send`` sends a dict as JSON (socketify's default serializer) and a str as text/plain;
the body of ``POST /echo`` is read with ``await res.get_json()``; the static file through
``app.static`` (socketify's ``sendfile`` helper). socketify has no access log.
"""

from __future__ import annotations

import argparse
import os

from socketify import App, AppListenOptions, CompressOptions, Request, Response


def json_handler(res: Response, req: Request) -> None:
    res.send({"message": "Hello, World!"})


def plaintext(res: Response, req: Request) -> None:
    res.send("Hello, World!")


def user_post(res: Response, req: Request) -> None:
    res.send({"user": req.get_parameter(0), "post": req.get_parameter(1)})


async def echo(res: Response, req: Request) -> None:
    res.send(await res.get_json())


def ws_echo(ws: object, message: object, opcode: object) -> None:
    """The WebSocket echo scenario: the message back with its own opcode (text or binary)."""
    ws.send(message, opcode)  # type: ignore[attr-defined]


def upgrade_required(res: Response, req: Request) -> None:
    """A plain GET on a WebSocket route (uWebSockets' ``ws`` route yields it): 426, as the other
    apps answer, rather than uWebSockets' default of closing the connection with no answer
    (which the bench's readiness probe, a plain GET of the scenario's path, took for a dead
    server)."""
    res.write_status(426).write_header("Upgrade", "websocket").end("WebSocket only")


def make_app() -> App:
    app = App()
    app.get("/json", json_handler)
    app.get("/plaintext", plaintext)
    app.get("/users/:id/posts/:post", user_post)
    app.post("/echo", echo)
    # The WebSocket scenarios, as socketify's examples write them: compression off (the load
    # offers none), 1 MiB messages; the broadcast room is uWebSockets' own pub/sub topic.
    app.ws("/ws/echo", {
        "compression": CompressOptions.DISABLED,
        "max_payload_length": 1024 * 1024,
        "message": ws_echo,
    })
    app.ws("/ws/rooms/bench", {
        "compression": CompressOptions.DISABLED,
        "max_payload_length": 1024 * 1024,
        "open": lambda ws: ws.subscribe("room"),
        "message": lambda ws, message, opcode: app.publish("room", message, opcode),
    })
    app.get("/ws/echo", upgrade_required)
    app.get("/ws/rooms/bench", upgrade_required)
    app.static("/static", os.environ["AREION_BENCH_STATIC"])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = make_app()
    app.listen(AppListenOptions(port=args.port, host=args.host))
    app.run()


if __name__ == "__main__":
    main()
