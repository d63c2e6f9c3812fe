"""Cache keys: method class, path, normalised query, Vary values and normalisers."""

from __future__ import annotations

from areion_caching.keys import (
    CREDENTIALS,
    base_key,
    normalize_authority,
    normalize_query,
    origin_text,
    parse_vary,
    path_key,
    user_key,
    user_keys,
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
        base_key(req("/items?b=2&a=1"))
        == base_key(req("/items?a=1&b=2"))
        == "GET:/items?a=1&b=2#@http://"  # no Host header, no app: scheme http, host ""
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
        base_key(req("/a?x=%23vary:accept-encoding%3Dgzip", {"Host": "h"}))
        == "GET:/a?x=%23vary%3Aaccept-encoding%3Dgzip#@http://h"
    )
    # undecodable: kept raw (with "%" and "#" escaped), marked, never aliasing
    assert normalize_query("a=%ff") == "!a=%25ff"
    assert normalize_query("a=%ff#@x") == "!a=%25ff%23@x"


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


def test_the_origin_is_part_of_the_key() -> None:
    good = base_key(req("/x?a=1", {"Host": "good.example"}))
    assert good == "GET:/x?a=1#@http://good.example"
    assert base_key(req("/x?a=1", {"Host": "evil.example"})) != good
    assert base_key(req("/x?a=1", {"Host": "good.example:8080"})) != good


def test_the_authority_is_normalised() -> None:
    assert normalize_authority("http", "Good.EXAMPLE:80") == "good.example"
    assert normalize_authority("https", "good.example:443") == "good.example"
    assert normalize_authority("https", "good.example:80") == "good.example:80"
    assert normalize_authority("http", "good.example:0080") == "good.example"
    assert normalize_authority("http", "good.example:") == "good.example"
    assert normalize_authority("http", "[::1]:80") == "[::1]"
    assert normalize_authority("http", "[::1]:8080") == "[::1]:8080"
    assert normalize_authority("http", "fe80::80") == "fe80::80"  # no brackets: no port
    assert base_key(req("/", {"Host": "GOOD.example:80"})) == base_key(req("/", {"Host": "good.example"}))


def test_origin_text_cannot_be_forged_by_a_host_or_a_root_path() -> None:
    # "/" in a host would make it a root path; "#" would end the origin; "%" an escape.
    texts = {
        origin_text("http", "a.example/b"),
        origin_text("http", "a.example", "/b"),
        origin_text("http", "a.example%2Fb"),
        origin_text("http", "a.example#vary:x"),
        origin_text("https", "a.example"),
    }
    assert len(texts) == 5
    assert all(text.count("#") == 1 for text in texts)


def test_a_path_cannot_forge_a_query_a_variant_or_an_origin() -> None:
    # Paths are keyed decoded: /a%3Fb is the path "/a?b", which is not /a with the query b.
    assert base_key(req("/a%3Fb", {"Host": "h"})) != base_key(req("/a?b", {"Host": "h"}))
    forged = base_key(req("/a%23vary:accept-encoding=br", {"Host": "h"}))
    assert not forged.startswith(base_key(req("/a", {"Host": "h"})))
    other_host = base_key(req("/a%23@http://evil", {"Host": "h"}))
    assert other_host.count("#") == 1 and other_host.endswith("#@http://h")
    assert base_key(req("/100%25", {"Host": "h"})) == "GET:/100%25#@http://h"
    # No brace in a request's key (a store may use {key} as a Redis Cluster hash tag).
    braces = base_key(req("/%7Ba%7D/{b}", {"Host": "{h}:1"}))
    assert braces == "GET:/%7Ba%7D/%7Bb%7D#@http://%7Bh%7D:1" and "{" not in braces
    # Equivalent encodings of one path share the key.
    assert base_key(req("/caf%C3%A9", {"Host": "h"})) == base_key(req("/café", {"Host": "h"}))


def test_user_keys_reach_requests_however_the_path_is_written() -> None:
    assert user_keys("/users?page=2") == ("GET:/users?page=2",)
    assert user_keys("/files/a%20b") == ("GET:/files/a%20b", "GET:/files/a b")
    assert user_keys("/s?b=2&a=1") == ("GET:/s?b=2&a=1", "GET:/s?a=1&b=2")
    assert user_keys("tenant-1:/x") == ("GET:tenant-1:/x",)  # a route's key function's text
    assert user_keys("/s?q", prefix=True) == ("GET:/s?q",)  # a prefix's query is kept as cut
    assert path_key("/a?b", "") == "GET:/a%3Fb"


def test_the_key_holds_exactly_the_origin_the_handler_sees() -> None:
    """base_key reads Host from the raw pairs when no proxy is trusted: the same as request.host."""
    from areion_core import AreionServerBuilder, Router

    def app(**config: object) -> object:
        builder = (AreionServerBuilder().with_router(Router()).without_config_file()
                   .with_config({"plugins": {"enabled": ["caching"]}, **config}))
        return builder.build().app

    apps = [app(), app(root_path="/mount"), app(forwarded_allow_ips=["*"])]
    requests = [
        ("/p?b=1&a=2", [("Host", "Good.Example:80")]),
        ("/p", [("HOST", "good.example:8080"), ("Accept", "*/*")]),
        ("/p", []),  # HTTP/1.0 without Host
        ("/a%3Fb%23c", [("X-Forwarded-Host", "evil.example"), ("host", "good.example")]),
        ("/p", [("Host", "good.example"), ("Forwarded", "host=evil.example;proto=https")]),
    ]
    for application in apps:
        for target, headers in requests:
            path, _, query = target.partition("?")
            raw = [(k.encode(), v.encode()) for k, v in headers]
            request = HttpRequest("GET", path, query, raw, app=application)  # type: ignore[arg-type]
            expected = path_key(request.path, query) + origin_text(
                request.scheme, request.host, request.root_path)
            assert base_key(request) == expected
    trusting = HttpRequest("GET", "/p", "", [(b"Host", b"good.example"),
                                             (b"Forwarded", b"host=evil.example;proto=https")],
                           app=apps[2])  # type: ignore[arg-type]
    assert base_key(trusting) == "GET:/p#@https://evil.example"
    mounted = HttpRequest("GET", "/p", "", [(b"Host", b"good.example")], app=apps[1])  # type: ignore[arg-type]
    assert base_key(mounted) == "GET:/p#@http://good.example/mount"


def test_long_urls_are_keyed_alike_without_being_memoised() -> None:
    long_path, long_query = "/p/" + "a" * 600, "b=2&" + "x=" + "y" * 600
    long_host = "h" * 600 + ".example"
    first = base_key(req(f"{long_path}?{long_query}", {"Host": long_host}))
    assert first == path_key(long_path, long_query) + origin_text("http", long_host)
    assert first == base_key(req(f"{long_path}?{long_query}", {"Host": long_host}))
    assert normalize_query(long_query).startswith("b=2&x=yyy")
