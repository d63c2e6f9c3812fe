"""Entity tags per encoding."""

from __future__ import annotations

import pytest
from areion_compression.representation import suffix_etag


@pytest.mark.parametrize(
    ("etag", "encoding", "expected"),
    [
        ('"abc"', "br", '"abc-br"'),
        ('W/"abc"', "gzip", 'W/"abc-gzip"'),
        (' "abc" ', "zstd", '"abc-zstd"'),
        ('""', "br", '"-br"'),
        ("abc", "br", "abc-br"),  # not a valid entity-tag, still made distinct
    ],
)
def test_suffix_etag(etag: str, encoding: str, expected: str) -> None:
    assert suffix_etag(etag, encoding) == expected


def test_every_encoding_gets_its_own_tag() -> None:
    tags = {suffix_etag('"v1"', e) for e in ("br", "gzip", "zstd")} | {'"v1"'}
    assert len(tags) == 4
