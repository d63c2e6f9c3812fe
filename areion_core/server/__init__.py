"""The HTTP/1.1 server: protocol, limits, listening sockets, workers. Imports nothing above it."""

from .limits import ServerLimits
from .protocol import HttpConnection
from .server import HttpServer, ServerState

__all__ = ["HttpConnection", "HttpServer", "ServerLimits", "ServerState"]
