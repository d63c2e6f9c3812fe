"""Cache keys: method class, path, normalised query, Vary values and normalisers."""

from __future__ import annotations

from areion_caching.keys import (
    CREDENTIALS,
    base_key,
    normalize_query,
    parse_vary,
    user_key,
    variant_key,
)

from areion_core.request import HttpRequest


def req(
    target: str, headers: dict[str, str] | list[tuple[str, str]] | None = None, method: str = "GET"
) -> HttpRequest:
    path, _, query = target.partition("?")
    pairs = headers.items() if isinstance(headers, dict) else (headers or [])
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
    return HttpRequest(method, path, query, raw)


def test_query_order_does_not_matter_but_values_do() -> None:
    assert (
        base_key(req("/items?b=2&a=1")) == base_key(req("/items?a=1&b=2")) == "GET:/items?a=1&b=2"
    )
    assert base_key(req("/items?a=1")) != base_key(req("/items?a=2"))
    assert base_key(req("/items?a=1")) != base_key(req("/items"))


def test_repeated_parameters_keep_their_order() -> None:
    assert normalize_query("tag=b&x=1&tag=a") == "tag=b&tag=a&x=1"
    assert normalize_query("tag=b&tag=a") != normalize_query("tag=a&tag=b")


def test_equivalent_encodings_share_a_key() -> None:
    assert normalize_query("q=a+b") == normalize_query("q=a%20b")
    assert normalize_query("a") == normalize_query("a=")


def test_query_cannot_forge_a_vary_suffix_or_another_path() -> None:
    assert (
        base_key(req("/a?x=%23vary:accept-encoding%3Dgzip"))
        == "GET:/a?x=%23vary%3Aaccept-encoding%3Dgzip"
    )
    assert normalize_query("a=%ff") == "!a=%ff"  # undecodable: kept raw, marked, never aliasing


def test_get_and_head_share_a_key() -> None:
    assert base_key(req("/x?a=1", method="HEAD")) == base_key(req("/x?a=1"))


def test_custom_key_function() -> None:
    key = base_key(req("/users/7?utm_source=mail"), lambda r: r.path)
    assert key == "GET:/users/7"


def test_user_key() -> None:
    assert user_key("/users?page=2") == "GET:/users?page=2"
    assert user_key("GET:/users") == "GET:/users"


def test_parse_vary() -> None:
    assert parse_vary(None) == ()
    assert parse_vary("Accept-Encoding, Accept-Language") == ("accept-encoding", "accept-language")
    assert parse_vary("accept-encoding,*") is None


def test_variant_key_uses_header_values() -> None:
    names = ["accept-language"]
    en = variant_key("GET:/p", req("/p", {"Accept-Language": "en"}), names, {})
    de = variant_key("GET:/p", req("/p", {"Accept-Language": "de"}), names, {})
    none = variant_key("GET:/p", req("/p"), names, {})
    assert len({en, de, none}) == 3
    assert en.startswith("GET:/p#vary:")


def test_variant_key_ignores_list_whitespace_and_includes_every_value() -> None:
    names = ["accept-language"]
    a = variant_key("k", req("/", {"Accept-Language": "en,  de"}), names, {})
    b = variant_key("k", req("/", {"Accept-Language": "en, de"}), names, {})
    c = variant_key(
        "k", req("/", [("Accept-Language", "en"), ("Accept-Language", "de")]), names, {}
    )
    d = variant_key(
        "k", req("/", [("Accept-Language", "en"), ("Accept-Language", "fr")]), names, {}
    )
    assert a == b
    assert c != d


def test_variant_values_cannot_collide_across_headers() -> None:
    names = ["x-a", "x-b"]
    one = variant_key("k", req("/", {"X-A": "1&x-b=2", "X-B": ""}), names, {})
    two = variant_key("k", req("/", {"X-A": "1", "X-B": "2"}), names, {})
    assert one != two


def test_normalizer_keys_by_negotiated_value_not_raw_text() -> None:
    def encoding(request: HttpRequest) -> str:
        accept = request.headers.get("accept-encoding", "")
        return (
            "br"
            if "br" in accept and "br;q=0" not in accept
            else ("gzip" if "gzip" in accept else "identity")
        )

    norms = {"accept-encoding": encoding}
    names = ["accept-encoding"]
    chrome = variant_key(
        "k", req("/", {"Accept-Encoding": "gzip, deflate, br, zstd"}), names, norms
    )
    firefox = variant_key("k", req("/", {"Accept-Encoding": "gzip, deflate, br"}), names, norms)
    curl = variant_key("k", req("/", {"Accept-Encoding": "gzip"}), names, norms)
    refuses_br = variant_key("k", req("/", {"Accept-Encoding": "gzip, br;q=0"}), names, norms)
    bare = variant_key("k", req("/"), names, norms)
    assert chrome == firefox
    assert curl == refuses_br != chrome
    assert bare not in (chrome, curl)


def test_credentials_pseudo_header() -> None:
    names = [CREDENTIALS]
    anon = variant_key("k", req("/"), names, {})
    auth = variant_key("k", req("/", {"Authorization": "Bearer x"}), names, {})
    cookie = variant_key("k", req("/", {"Cookie": "sid=1"}), names, {})
    assert anon != auth == cookie
