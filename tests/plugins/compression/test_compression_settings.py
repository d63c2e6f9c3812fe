"""The [plugins.compression] section: defaults and every rejected value."""

from __future__ import annotations

from typing import Any

import pytest
from areion_compression import DEFAULT_CONTENT_TYPES, CompressionSettings
from areion_compression.codecs import zstd_installed

from areion_core.exceptions import ConfigError


def test_defaults() -> None:
    s = CompressionSettings.from_section({})
    expected = ("br", "zstd", "gzip") if zstd_installed() else ("br", "gzip")
    assert s.preference == expected
    assert (s.brotli_quality, s.gzip_level, s.zstd_level) == (4, 6, 3)
    assert s.min_size == 500
    assert s.content_types == DEFAULT_CONTENT_TYPES
    assert s.not_acceptable_406 is False


def test_algorithms_and_preference() -> None:
    assert CompressionSettings.from_section({"algorithms": ["gzip"]}).preference == ("gzip",)
    assert CompressionSettings.from_section({"algorithms": ["gzip", "br"]}).preference == ("gzip", "br")
    # preference alone reorders the default set; it does not disable what it leaves out.
    reordered = CompressionSettings.from_section({"preference": ["gzip"]}).preference
    assert reordered == (("gzip", "br", "zstd") if zstd_installed() else ("gzip", "br"))
    both = CompressionSettings.from_section({"algorithms": ["br", "gzip"], "preference": ["gzip"]})
    assert both.preference == ("gzip", "br")
    assert set(both.codecs) == {"gzip", "br"}
    assert CompressionSettings.from_section({"algorithms": "GZIP, br"}).preference == ("gzip", "br")
    assert CompressionSettings.from_section({"algorithms": []}).preference == ()


def test_environment_strings_are_accepted() -> None:
    # ${VAR} interpolation produces strings.
    s = CompressionSettings.from_section({"brotli_quality": "5", "min_size": "0", "not_acceptable_406": "true"})
    assert (s.brotli_quality, s.min_size, s.not_acceptable_406) == (5, 0, True)


def test_content_type_patterns() -> None:
    s = CompressionSettings.from_section({"content_types": ["Text/*", "*/*+json", "application/wasm"]})
    assert s.content_types == ("text/*", "+json", "application/wasm")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("brotli_quality", 12),
        ("brotli_quality", -1),
        ("brotli_quality", "fast"),
        ("brotli_quality", True),
        ("brotli_quality", 4.5),
        ("gzip_level", 0),
        ("gzip_level", 10),
        ("zstd_level", 0),
        ("zstd_level", 20),
        ("min_size", -1),
        ("min_size", "big"),
        ("thread_min_size", -5),
        ("not_acceptable_406", "yes"),
        ("not_acceptable_406", 1),
        ("algorithms", ["lzma"]),
        ("algorithms", ["gzip", "gzip"]),
        ("algorithms", 7),
        ("algorithms", [1, 2]),
        ("preference", ["deflate"]),
        ("content_types", "text/html"),
        ("content_types", ["html"]),
        ("content_types", ["text/html; charset=utf-8"]),
        ("content_types", ["*/json"]),
        ("content_types", ["+"]),
        ("brotli_qualty", 5),
    ],
)
def test_bad_values_name_key_value_and_expectation(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        CompressionSettings.from_section({key: value})
    err = info.value
    assert err.key.startswith("plugins.compression.")
    assert err.key.endswith(key)
    assert err.expected
    assert str(err.key) in str(err)


def test_preference_must_be_enabled() -> None:
    with pytest.raises(ConfigError) as info:
        CompressionSettings.from_section({"algorithms": ["gzip"], "preference": ["br"]})
    assert info.value.key == "plugins.compression.preference"
    assert info.value.value == "br"


def test_zstd_without_zstandard_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate a machine without the optional extra, where zstd is never registered.
    from areion_compression import codecs

    monkeypatch.delitem(codecs._REGISTRY, "zstd", raising=False)
    assert CompressionSettings.from_section({}).preference == ("br", "gzip")
    with pytest.raises(ConfigError, match=r"areion-compression\[zstd\]"):
        CompressionSettings.from_section({"algorithms": ["zstd"]})
