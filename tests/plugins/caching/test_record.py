"""The stored record: explicit fields, JSON + raw body framing, never pickle."""

from __future__ import annotations

import pickle

import pytest
from areion_caching.record import CacheRecord, RecordError, decode_record, encode_record


def test_round_trip_and_framing() -> None:
    record = CacheRecord(
        200,
        (("content-type", "text/html"),),
        b"<p>\x00\xff</p>",
        1.5,
        60.0,
        5.0,
        7.0,
        ("t",),
        (),
        "GET:/",
    )
    data = encode_record(record)
    assert data.startswith(b"ARC\x01")
    assert data.endswith(b"<p>\x00\xff</p>")
    again = decode_record(data)
    assert again == record
    assert again.lifetime == 67.0 and again.expires == 68.5


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ARC\x01",
        b"ARC\x01\x00\x00\x00\x10{}",
        b"ARC\x01\x00\x00\x00\x02{}",  # metadata without fields
        b"ARC\x01\x00\x00\x00\x02[]",
        pickle.dumps({"status": 200}),
    ],
)
def test_anything_else_is_rejected(data: bytes) -> None:
    with pytest.raises(RecordError):
        decode_record(data)


def test_freshness() -> None:
    record = CacheRecord(200, (), b"", created=100.0, ttl=10.0)
    assert record.is_fresh(105.0) and not record.is_fresh(111.0)
    assert record.age(103.0) == 3.0
