"""The content-type allow-list."""

from __future__ import annotations

import pytest
from areion_compression import ContentTypeFilter


@pytest.mark.parametrize(
    ("content_type", "allowed"),
    [
        ("text/html; charset=utf-8", True),
        ("text/plain", True),
        ("TEXT/CSS", True),
        ("text/event-stream", True),
        ("application/json", True),
        ("application/problem+json", True),
        ("application/vnd.api+json; charset=utf-8", True),
        ("application/javascript", True),
        ("text/javascript", True),
        ("application/xml", True),
        ("application/atom+xml", True),
        ("image/svg+xml", True),
        ("application/wasm", True),
        ("image/png", False),
        ("image/jpeg", False),
        ("image/webp", False),
        ("video/mp4", False),
        ("audio/mpeg", False),
        ("application/zip", False),
        ("application/gzip", False),
        ("application/octet-stream", False),
        ("font/woff2", False),
        ("application/pdf", False),
        ("", False),
        (None, False),
        ("garbage", False),
        ("; charset=utf-8", False),
    ],
)
def test_default_allow_list(content_type: str | None, allowed: bool) -> None:
    assert ContentTypeFilter().allows(content_type) is allowed


def test_custom_patterns() -> None:
    f = ContentTypeFilter(["application/x-custom", "image/*", "+yaml"])
    assert f.allows("application/x-custom")
    assert f.allows("image/png")
    assert f.allows("application/openapi+yaml")
    assert not f.allows("text/html")
    everything = ContentTypeFilter(["*/*"])
    assert everything.allows("application/octet-stream")
    assert not everything.allows("garbage")
