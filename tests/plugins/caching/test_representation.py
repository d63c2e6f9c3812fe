"""What a hit looks like: ``hit_response`` builds each replayed response from a stored record."""

from __future__ import annotations

import time

from areion_caching.record import CacheRecord
from areion_caching.representation import HIT, HIT_EXTENSION, STALE, STATUS_EXTENSION, hit_response

from areion_core import REPLAYED


def _record() -> CacheRecord:
    return CacheRecord(status=200, headers=(("content-type", "text/plain"),), body=b"hi", created=time.time(),
                       ttl=60)


def test_age_is_the_whole_seconds_of_each_hit_even_when_the_memo_is_reused() -> None:
    record = _record()
    ages = [0.2, 0.9, 1.0, 1.99, 2.5, 0.5, -3.0, 61.0]
    got = [hit_response(record, HIT, age, "x-cache").headers["age"] for age in ages]
    # A clock stepped back (a negative age) still says 0, never a negative Age.
    assert got == ["0", "0", "1", "1", "2", "0", "0", "61"]


def test_each_hit_gets_its_own_headers_and_extensions() -> None:
    record = _record()
    first, second = hit_response(record, HIT, 0.1, "x-cache"), hit_response(record, HIT, 0.2, "x-cache")
    first.headers["x-extra"] = "1"
    first.extensions["plugin.note"] = True  # type: ignore[index]
    assert "x-extra" not in second.headers and second.extensions == {
        HIT_EXTENSION: True, STATUS_EXTENSION: HIT, REPLAYED: True}
    assert second.headers["x-cache"] == "HIT" and second.body == b"hi" and second.status_code == 200


def test_labels_are_memoised_apart() -> None:
    record = _record()
    hit, stale = hit_response(record, HIT, 0.1, "x-cache"), hit_response(record, STALE, 0.1, "x-cache")
    assert hit.headers["x-cache"] == "HIT" and stale.headers["x-cache"] == "STALE"
    assert stale.extensions is not None and stale.extensions[STATUS_EXTENSION] == STALE
