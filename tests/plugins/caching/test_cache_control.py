"""CacheControl / CacheTypes: RFC 9111 spelling, contradictions, parsing and applying."""

from __future__ import annotations

from datetime import timedelta

import pytest
from areion_caching import CacheControl, CacheControlError, CacheTypes

from areion_core.response import HttpResponse


def test_1x_names_and_values() -> None:
    assert [t.value for t in CacheTypes] == ["no-cache", "no-store", "public", "private"]
    assert CacheTypes.PUBLIC == "public"


@pytest.mark.parametrize(
    ("control", "expected"),
    [
        (CacheControl(CacheTypes.PUBLIC, max_age=300), "public, max-age=300"),
        (CacheControl(CacheTypes.PRIVATE, max_age=0), "private, max-age=0"),
        (CacheControl(CacheTypes.NO_CACHE), "no-cache"),
        (CacheControl(CacheTypes.NO_STORE), "no-store"),
        (
            CacheControl(CacheTypes.PUBLIC, 31536000, immutable=True),
            "public, max-age=31536000, immutable",
        ),
        (
            CacheControl(CacheTypes.PUBLIC, 60, False, True, 30, 86400),
            "public, max-age=60, no-transform, stale-while-revalidate=30, stale-if-error=86400",
        ),
        (
            CacheControl(public=True, max_age=60, s_maxage=600, proxy_revalidate=True),
            "public, max-age=60, s-maxage=600, proxy-revalidate",
        ),
        (CacheControl(CacheTypes.NO_CACHE, must_revalidate=True), "no-cache, must-revalidate"),
        (CacheControl([CacheTypes.PRIVATE, CacheTypes.NO_CACHE]), "private, no-cache"),
        (CacheControl("public", max_age=timedelta(hours=1)), "public, max-age=3600"),
        (CacheControl(CacheTypes.NO_STORE, stale_if_error=False), "no-store"),  # Aeros's default
    ],
)
def test_every_directive_is_spelled_as_rfc_9111(control: CacheControl, expected: str) -> None:
    assert control.value == expected
    assert str(control) == expected
    assert "_" not in control.value


def test_all_directives_together_where_compatible() -> None:
    control = CacheControl(
        CacheTypes.PUBLIC,
        max_age=1,
        immutable=True,
        no_transform=True,
        stale_while_revalidate=2,
        stale_if_error=3,
        s_maxage=4,
        must_revalidate=True,
        proxy_revalidate=True,
    )
    assert control.value == (
        "public, max-age=1, s-maxage=4, must-revalidate, proxy-revalidate, "
        "no-transform, immutable, stale-while-revalidate=2, stale-if-error=3"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: CacheControl([CacheTypes.PUBLIC, CacheTypes.PRIVATE]),
        lambda: CacheControl(CacheTypes.PUBLIC, private=True),
        lambda: CacheControl(CacheTypes.NO_STORE, max_age=60),
        lambda: CacheControl(CacheTypes.NO_STORE, s_maxage=60),
        lambda: CacheControl([CacheTypes.NO_STORE, CacheTypes.PUBLIC]),
        lambda: CacheControl(CacheTypes.NO_STORE, immutable=True),
        lambda: CacheControl(CacheTypes.NO_STORE, stale_while_revalidate=5),
        lambda: CacheControl(CacheTypes.NO_CACHE, immutable=True),
        lambda: CacheControl(CacheTypes.PRIVATE, s_maxage=5),
    ],
)
def test_contradictions_raise_at_construction(make: object) -> None:
    with pytest.raises(CacheControlError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_age": -1},
        {"max_age": 1.5},
        {"max_age": "60"},
        {"stale_if_error": True},  # Aeros sent a valueless stale-if-error; RFC 5861 needs seconds
        {"stale_while_revalidate": True},
        {"cache_on_status": [200, 99]},
        {"cache_type": "sometimes"},
    ],
)
def test_bad_values_raise(kwargs: dict[str, object]) -> None:
    kwargs.setdefault("cache_type", CacheTypes.PUBLIC)
    with pytest.raises(CacheControlError):
        CacheControl(**kwargs)  # type: ignore[arg-type]


def test_empty_is_rejected() -> None:
    with pytest.raises(CacheControlError):
        CacheControl()


def test_parse_round_trips_and_rejects_typos() -> None:
    text = "public, max-age=60, s-maxage=120, stale-while-revalidate=10, stale-if-error=600"
    assert CacheControl.parse(text).value == text
    assert CacheControl.parse("Public,MAX-AGE=5").value == "public, max-age=5"
    for bad in (
        "public, max_age=60",
        "max-age",
        "public=1",
        "public, private",
        "no-store, max-age=1",
        "max-age=abc",
    ):
        with pytest.raises(CacheControlError):
            CacheControl.parse(bad)


def test_from_config_accepts_strings_and_tables() -> None:
    assert CacheControl.from_config("no-cache").value == "no-cache"
    made = CacheControl.from_config({"public": True, "max-age": 60, "cache_on_status": [200, 404]})
    assert made.value == "public, max-age=60"
    assert made.cache_on_status == frozenset({200, 404})
    made = CacheControl.from_config({"value": "private, max-age=5", "cache_on_status": [200, 201]})
    assert made.value == "private, max-age=5" and made.cache_on_status == frozenset({200, 201})
    assert (
        CacheControl.from_config({"cache_type": "public", "max_age": 1}).value
        == "public, max-age=1"
    )
    with pytest.raises(CacheControlError):
        CacheControl.from_config({"public": True, "maxage": 5})
    with pytest.raises(CacheControlError):
        CacheControl.from_config(42)  # type: ignore[arg-type]


def test_applied_only_on_cache_on_status_and_never_over_the_handlers_own() -> None:
    control = CacheControl(CacheTypes.PUBLIC, max_age=60, cache_on_status=[200, 301])
    ok = HttpResponse("x")
    control.apply(ok)
    assert ok.headers["cache-control"] == "public, max-age=60"
    moved = HttpResponse(None, 301)
    control.apply(moved)
    assert moved.headers["cache-control"] == "public, max-age=60"
    missing = HttpResponse("x", 404)
    control.apply(missing)
    assert "cache-control" not in missing.headers
    own = HttpResponse("x", headers={"Cache-Control": "no-store"})
    control.apply(own)
    assert own.headers["cache-control"] == "no-store"


def test_default_cache_on_status_is_200_like_1x() -> None:
    assert CacheControl(CacheTypes.PUBLIC, 1).cache_on_status == frozenset({200})


def test_equality() -> None:
    assert CacheControl(CacheTypes.PUBLIC, 5) == CacheControl.parse("public, max-age=5")
    assert CacheControl(CacheTypes.PUBLIC, 5) != CacheControl(CacheTypes.PUBLIC, 6)
