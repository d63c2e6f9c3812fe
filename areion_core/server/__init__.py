"""The HTTP/1.1 server: connections, parsing, limits, listening sockets, workers. Imports nothing above it."""

from .connection import HttpConnection
from .limits import ServerLimits
from .server import HttpServer
from .state import ServerState

__all__ = ["HttpConnection", "HttpServer", "ServerLimits", "ServerState"]
