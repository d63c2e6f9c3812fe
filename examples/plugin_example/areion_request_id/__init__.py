"""areion-request-id: an example Areion plugin that tags every response with a request id."""

from .decorators import ROUTE_OPTION, skip_request_id
from .hooks import RequestIdPlugin
from .ids import is_valid_request_id, new_request_id
from .settings import RequestIdSettings
from .stamp import RequestIdStamper, get_request_id

__all__ = [
    "ROUTE_OPTION",
    "RequestIdPlugin",
    "RequestIdSettings",
    "RequestIdStamper",
    "get_request_id",
    "is_valid_request_id",
    "new_request_id",
    "skip_request_id",
]
