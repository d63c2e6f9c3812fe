"""Request ids: making new ones and deciding whether an incoming one can be trusted."""

from __future__ import annotations

import functools
import itertools
import operator
import os
import re
from collections.abc import Iterator

# An id lands in our logs and in response headers, so an incoming one is accepted only if it
# is short and made of characters that cannot split a log line or a header: letters, digits
# and the punctuation UUIDs, ULIDs, base64 and W3C trace ids use.
_ID_CHARS = re.compile(r"[A-Za-z0-9._:+/=@-]+")

# A new id is 32 lower-case hex digits: 16 drawn at random once per process (64 bits), then a
# 64-bit counter. No system call per request (``os.urandom(16)`` costs one), yet ids stay
# unique across the workers of a server: each worker process draws its own prefix, and a
# process forked from another draws again rather than repeat its parent's sequence. The ids
# of one process are consecutive numbers: fine for correlating log lines, not a secret.
_LAST_DIGITS = tuple(f"{n:03x}" for n in range(4096))


def _ids_of_this_process() -> Iterator[str]:
    prefix = os.urandom(8).hex()

    def block(high: int) -> Iterator[str]:
        # 4096 ids that share their first 29 digits, each one string concatenation done in C
        # (operator.concat: a builtin called without building an argument tuple): no Python
        # code runs per id, so threads may share the iterator too.
        return map(operator.concat, itertools.repeat(f"{prefix}{high:013x}"), _LAST_DIGITS)

    return itertools.chain.from_iterable(map(block, itertools.count()))


_ids = _ids_of_this_process()
#: The next id (``new_request_id`` without a Python call), for this package's hot path: a
#: module attribute, read through the module, as a process forked from another replaces it.
#: ``partial(next, ...)``, not ``_ids.__next__``: a builtin call, not a method wrapper's.
next_id = functools.partial(next, _ids)


def _draw_again() -> None:
    global _ids, next_id
    _ids = _ids_of_this_process()
    next_id = functools.partial(next, _ids)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_draw_again)


def new_request_id() -> str:
    """A fresh id: 32 lower-case hex digits, this process's random prefix and its next number."""
    return next(_ids)


def is_valid_request_id(value: str | None, max_length: int) -> bool:
    """Whether ``value`` is an id we may echo back: 1..``max_length`` safe characters."""
    return (
        value is not None
        and 0 < len(value) <= max_length
        and _ID_CHARS.fullmatch(value) is not None
    )
