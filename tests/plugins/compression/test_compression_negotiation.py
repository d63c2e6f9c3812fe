"""Accept-Encoding negotiation: the RFC 9110 §12.5.3 table, parsing, caching, preference."""

from __future__ import annotations

import pytest
from areion_compression import EncodingNegotiator, negotiate_encoding, parse_accept_encoding

ALL = ("br", "zstd", "gzip")

# (Accept-Encoding value, what we send with br, zstd and gzip available, default preference)
TABLE: list[tuple[str | None, str | None]] = [
    (None, "identity"),                              # no header: identity (scripts, probes)
    ("", "identity"),                                # empty: no coding wanted (RFC 9110)
    ("   ", "identity"),
    ("gzip", "gzip"),
    ("br", "br"),
    ("zstd", "zstd"),
    ("gzip, deflate", "gzip"),
    ("gzip, deflate, br", "br"),                     # Firefox, older Chrome
    ("gzip, deflate, br, zstd", "br"),               # Chrome: equal weights, our preference
    ("deflate", "identity"),                         # nothing we have
    ("compress, gzip;q=0.5", "gzip"),
    ("br;q=0", "identity"),
    ("br;q=0, gzip", "gzip"),                        # Aeros sends brotli here
    ("gzip;q=0", "identity"),                        # Starlette sends gzip here
    ("gzip;q=0, br;q=0, zstd;q=0", "identity"),
    ("br;q=0.5, gzip;q=0.8", "gzip"),
    ("br;q=0.8, gzip;q=0.8", "br"),                  # tie: server preference
    ("gzip;q=1.0, br;q=0.999", "gzip"),
    ("zstd;q=1, br;q=0.9", "zstd"),
    ("gzip;q=0.001", "gzip"),
    ("gzip;q=0.000", "identity"),
    ("gzip;q=2", "gzip"),                            # out of range: clamped to 1
    ("*", "br"),
    ("*;q=0", None),                                 # refuses identity too
    ("*;q=0, identity", "identity"),
    ("*;q=0, gzip;q=0.2", "gzip"),
    ("*;q=0.5, gzip;q=0.1", "br"),                   # br gets *'s 0.5
    ("br;q=0, *", "zstd"),
    ("br;q=0, zstd;q=0, *", "gzip"),
    ("*, identity;q=0", "br"),
    ("identity", "identity"),
    ("identity, gzip", "gzip"),                      # equal weight: ties go to compression
    ("identity;q=1, gzip;q=0.5", "identity"),        # explicitly preferred identity
    ("gzip;q=0.5, identity;q=0.5", "gzip"),
    ("identity;q=0", None),
    ("identity;q=0, gzip", "gzip"),
    ("identity;q=0, deflate", None),
    ("identity;q=0, *;q=0", None),
    ("GZIP", "gzip"),                                # tokens are case-insensitive
    ("Br", "br"),
    ("gzip;Q=0", "identity"),                        # so is the parameter name
    ("IDENTITY;Q=0, GZIP", "gzip"),
    ("  gzip  ,  br ; q=0.5  ", "gzip"),             # whitespace around everything
    ("br\t;\tq=0.3,\tgzip;q=0.2", "br"),
    ("gzip,br;q=0.9", "gzip"),                       # no space after comma
    (",,gzip,,", "gzip"),                            # empty list elements
    ("x-gzip", "gzip"),                              # RFC 9110 §8.4.1.3 alias
    ("gzip;level=9", "gzip"),                        # extension parameter ignored
    ("gzip;level=9;q=0", "identity"),
    ("br;q=abc, gzip", "gzip"),                      # malformed weight: element ignored
    ("br;q=, gzip;q=0.1", "gzip"),
    ('br;q="1"', "identity"),
    ("gzip;q=-1", "identity"),
    ("gzip;q", "identity"),
    ("gzip, gzip;q=0", "identity"),                  # listed twice: lowest weight wins
    ("br gzip", "identity"),                         # not a token: ignored
    ("sdch, zstd;q=0.1", "zstd"),
]


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 30


@pytest.mark.parametrize(("header", "expected"), TABLE)
def test_negotiate_encoding(header: str | None, expected: str | None) -> None:
    assert negotiate_encoding(header, ALL) == expected


@pytest.mark.parametrize(("header", "expected"), TABLE)
def test_negotiator_agrees_and_caches(header: str | None, expected: str | None) -> None:
    negotiator = EncodingNegotiator(ALL)
    assert negotiator.negotiate(header) == expected
    assert negotiator.negotiate(header) == expected  # second answer comes from the cache


@pytest.mark.parametrize(
    ("header", "available", "expected"),
    [
        ("br", ("gzip",), "identity"),
        ("br, identity;q=0", ("gzip",), None),
        ("gzip, deflate, br, zstd", ("gzip",), "gzip"),
        ("*", ("gzip",), "gzip"),
        ("br", (), "identity"),
        ("identity;q=0", (), None),
        ("gzip, br", ("GZIP", "Br"), "br"),
    ],
)
def test_only_available_codings_are_chosen(header: str, available: tuple[str, ...], expected: str | None) -> None:
    assert negotiate_encoding(header, available) == expected


def test_server_preference_breaks_ties() -> None:
    assert negotiate_encoding("br, gzip, zstd", ALL, ("gzip", "zstd", "br")) == "gzip"
    assert negotiate_encoding("*", ALL, ("zstd", "br", "gzip")) == "zstd"
    # A client weight still beats the server's preference.
    assert negotiate_encoding("br, gzip;q=0.9", ALL, ("gzip", "br")) == "br"
    # Codings missing from the preference rank after those in it.
    assert negotiate_encoding("br, gzip", ALL, ("gzip",)) == "gzip"
    assert EncodingNegotiator(ALL, ("gzip", "br")).ordered == ("gzip", "br", "zstd")


def test_negotiate_among_a_subset() -> None:
    negotiator = EncodingNegotiator(ALL)
    assert negotiator.negotiate_among("br, gzip", {"gzip"}) == "gzip"
    assert negotiator.negotiate_among("br", {"gzip"}) == "identity"
    assert negotiator.negotiate_among("br, identity;q=0", {"gzip"}) is None
    assert negotiator.negotiate_among(None, {"gzip"}) == "identity"


def test_parse_accept_encoding() -> None:
    assert parse_accept_encoding("gzip;q=0.5, BR, *;q=0, x-gzip;q=0.9") == {
        "gzip": 0.5, "br": 1.0, "*": 0.0,
    }
    assert parse_accept_encoding("") == {}
    assert parse_accept_encoding("gzip;q=1.5") == {"gzip": 1.0}


def test_cache_stays_bounded() -> None:
    negotiator = EncodingNegotiator(ALL)
    for i in range(3000):
        assert negotiator.negotiate(f"gzip;q=0.{i % 1000:03d}, foo{i}") in ("gzip", "identity")
    assert len(negotiator._results) <= 1024
    assert len(negotiator._parsed) <= 1024
    long_header = "gzip, " + "x" * 1000
    assert negotiator.negotiate(long_header) == "gzip"
    assert long_header not in negotiator._results  # very long values are never cached
