"""Request ids: making new ones and deciding whether an incoming one can be trusted."""

from __future__ import annotations

import re
import uuid

# An id lands in our logs and in response headers, so an incoming one is accepted only if it
# is short and made of characters that cannot split a log line or a header: letters, digits
# and the punctuation UUIDs, ULIDs, base64 and W3C trace ids use.
_ID_CHARS = re.compile(r"[A-Za-z0-9._:+/=@-]+")


def new_request_id() -> str:
    """A fresh random id: 32 lower-case hex digits (a UUID4 without dashes)."""
    return uuid.uuid4().hex


def is_valid_request_id(value: str | None, max_length: int) -> bool:
    """Whether ``value`` is an id we may echo back: 1..``max_length`` safe characters."""
    return (
        value is not None
        and 0 < len(value) <= max_length
        and _ID_CHARS.fullmatch(value) is not None
    )
