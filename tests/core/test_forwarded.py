"""Proxy headers as pure functions (``areion_core._forwarded``): RFC 7239 ``Forwarded`` parsing,
hop nodes, the trusted set, and the rule that the client is the rightmost untrusted hop.

The same rules through the real server and under uvicorn: ``test_forwarded_server.py``.
"""

from __future__ import annotations

import pytest

from areion_core import AreionConfig, ConfigError
from areion_core._forwarded import (
    UNKNOWN,
    RequestOrigin,
    TrustedProxies,
    client_hop,
    parse_forwarded,
    parse_node,
    resolve_origin,
)

PEER = ("127.0.0.1", 50123)


def trusted(*entries: str) -> TrustedProxies:
    proxies = TrustedProxies.parse(entries)
    assert proxies is not None
    return proxies


def origin(*headers: tuple[str, str], allow: tuple[str, ...] = ("127.0.0.1",),
           peer: tuple[str, int] | None = PEER, root_path: str = "") -> RequestOrigin:
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return resolve_origin(raw, peer, "http", "app.internal:8000", root_path, trusted(*allow))


def as_tuple(o: RequestOrigin) -> tuple[object, ...]:
    return o.client, o.scheme, o.host, o.root_path


# --- Forwarded (RFC 7239 §4) -------------------------------------------------------------------

@pytest.mark.parametrize(("value", "elements"), [
    # The RFC's own examples (§4, §6.3, §7.1).
    ('for="_gazonk"', [{"for": "_gazonk"}]),
    ('For="[2001:db8:cafe::17]:4711"', [{"for": "[2001:db8:cafe::17]:4711"}]),
    ("for=192.0.2.60;proto=http;by=203.0.113.43", [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}]),
    ("for=192.0.2.43, for=198.51.100.17", [{"for": "192.0.2.43"}, {"for": "198.51.100.17"}]),
    # Separators inside a quoted string are part of the value; quoted-pairs are unescaped.
    ('for="_a,b;c";host="ex\\ample.com"', [{"for": "_a,b;c", "host": "example.com"}]),
    # Empty list elements and empty pairs are allowed and skipped; names are case-insensitive.
    ("for=192.0.2.1, ,;PROTO=https;, for=192.0.2.2,", [{"for": "192.0.2.1"}, {"proto": "https"},
                                                     {"for": "192.0.2.2"}]),
    # A port written unquoted (invalid, but sent by some proxies) is still read.
    ("for=192.0.2.1:8080", [{"for": "192.0.2.1:8080"}]),
])
def test_forwarded_elements_are_parsed(value: str, elements: list[dict[str, str]]) -> None:
    assert parse_forwarded(value) == elements


@pytest.mark.parametrize("value", [
    "for",                              # no "="
    "=192.0.2.1",                       # no name
    "for=192.0.2.1;for=192.0.2.2",      # a parameter twice in one element (§4)
    'for="192.0.2.1',                   # an open quote
    'for="a"b"',                        # text after the closing quote
    'for="a\\"',                        # the closing quote is escaped
    "for=a b",                          # a space in a bare value
    "fo r=192.0.2.1",                   # a space in the name
])
def test_a_malformed_element_is_none(value: str) -> None:
    assert parse_forwarded(value) == [None]


def test_an_open_quote_swallows_the_rest_of_the_value() -> None:
    # A client's `for="x` followed by what a proxy appended: one element, which does not parse.
    assert parse_forwarded('for="x, for=192.0.2.1') == [None]
    assert parse_forwarded('for=192.0.2.9, for="x') == [{"for": "192.0.2.9"}, None]


# --- nodes (RFC 7239 §6) -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "node"), [
    ("192.0.2.1", ("192.0.2.1", 0)),
    ("192.0.2.1:8080", ("192.0.2.1", 8080)),
    ("[2001:db8:cafe::17]", ("2001:db8:cafe::17", 0)),
    ("[2001:db8:cafe::17]:4711", ("2001:db8:cafe::17", 4711)),
    ("2001:DB8:0::1", ("2001:db8::1", 0)),      # bare, as X-Forwarded-For writes it; canonical text
    ("unknown", ("unknown", 0)),
    ("UNKNOWN:80", ("unknown", 80)),
    ("_hidden", ("_hidden", 0)),
    ("_hidden:_port", ("_hidden", 0)),
    ("192.0.2.1:_port", ("192.0.2.1", 0)),
    (" 192.0.2.1 ", ("192.0.2.1", 0)),
])
def test_nodes(text: str, node: tuple[str, int]) -> None:
    assert parse_node(text) == node


@pytest.mark.parametrize("text", [
    "", "example.com", "999.0.2.1", "192.0.2.1:99999", "192.0.2.1:http", "192.0.2.1:",
    "[2001:db8::1", "[2001:db8::1]x", "[192.0.2.1]", "[unknown]", "_", "2001:db8::zz",
])
def test_what_is_not_a_node(text: str) -> None:
    assert parse_node(text) is None


# --- the trusted set ---------------------------------------------------------------------------

def test_addresses_and_networks() -> None:
    proxies = trusted("10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1")
    assert proxies.trusts("10.200.3.4") and proxies.trusts("192.0.2.7") and proxies.trusts("::1")
    assert proxies.trusts("2001:db8:1::5")
    assert not proxies.trusts("11.0.0.1") and not proxies.trusts("192.0.2.8") and not proxies.trusts("2001:db9::1")
    # Names from headers and a peer without an address are never a known proxy.
    assert not proxies.trusts("unknown") and not proxies.trusts("_hidden") and not proxies.trusts(None)


def test_an_ipv4_peer_on_a_dual_stack_socket_is_matched_as_ipv4() -> None:
    assert trusted("127.0.0.1").trusts("::ffff:127.0.0.1")
    assert trusted("10.0.0.0/8").trusts("::ffff:10.1.2.3")


def test_a_network_with_host_bits_means_its_network() -> None:
    assert trusted("192.168.1.10/24").trusts("192.168.1.99")


def test_star_trusts_everything() -> None:
    proxies = trusted("*")
    assert proxies.trusts("203.0.113.9") and proxies.trusts("unknown") and proxies.trusts(None)


def test_no_entries_is_nobody() -> None:
    assert TrustedProxies.parse([]) is None
    assert TrustedProxies.parse(["", "  "]) is None


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.0/33", "1.2.3", "127.0.0.1 10.0.0.1", "**"])
def test_a_bad_entry_is_a_value_error_naming_it(entry: str) -> None:
    with pytest.raises(ValueError) as info:
        TrustedProxies.parse(["127.0.0.1", f" {entry} "])
    assert info.value.args == (entry,)


# --- which hop is the client --------------------------------------------------------------------

def test_the_client_is_the_rightmost_untrusted_hop() -> None:
    proxies = trusted("10.0.0.0/8")
    # A client prepending addresses never reaches past its own.
    assert client_hop(["6.6.6.6", "203.0.113.7", "10.0.0.5"], proxies) == (("203.0.113.7", 0), 1)
    assert client_hop(["203.0.113.7:5555"], proxies) == (("203.0.113.7", 5555), 0)


def test_when_every_hop_is_trusted_the_leftmost_is_the_client() -> None:
    assert client_hop(["10.0.0.1", "10.0.0.2"], trusted("10.0.0.0/8")) == (("10.0.0.1", 0), 0)
    assert client_hop(["203.0.113.7", "198.51.100.1"], trusted("*")) == (("203.0.113.7", 0), 0)


def test_a_hop_that_names_no_node_makes_the_client_unknown() -> None:
    proxies = trusted("10.0.0.0/8")
    assert client_hop(["203.0.113.7", None, "10.0.0.5"], proxies) == (UNKNOWN, 1)
    assert client_hop(["203.0.113.7", "not an address"], proxies) == (UNKNOWN, 1)
    assert client_hop(["_gateway:_p"], proxies) == (("_gateway", 0), 0)
    assert client_hop([], proxies) == (UNKNOWN, -1)


# --- the whole origin ---------------------------------------------------------------------------

def test_an_untrusted_peer_keeps_the_connection_s_own_origin() -> None:
    headers = (("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"),
               ("X-Forwarded-Host", "example.com"), ("X-Forwarded-Prefix", "/svc"), ("Forwarded", "for=1.2.3.4"))
    assert as_tuple(origin(*headers, allow=("10.0.0.0/8",), root_path="/app")) == (
        PEER, "http", "app.internal:8000", "/app")
    # A Unix socket's peer has no address: trusted only by "*".
    assert origin(*headers, peer=None).client is None
    assert origin(*headers, peer=None, allow=("*",)).client == ("1.2.3.4", 0)


def test_x_forwarded_headers_from_a_trusted_peer() -> None:
    got = origin(("X-Forwarded-For", "6.6.6.6, 203.0.113.7"), ("X-Forwarded-Proto", "HTTPS"),
                 ("X-Forwarded-Host", "example.com:8443"), ("X-Forwarded-Prefix", "/svc/"), root_path="/app")
    assert as_tuple(got) == (("203.0.113.7", 0), "https", "example.com:8443", "/svc")


def test_no_proxy_header_keeps_the_peer() -> None:
    assert as_tuple(origin(root_path="/app")) == (PEER, "http", "app.internal:8000", "/app")
    assert as_tuple(origin(("X-Forwarded-Proto", "https"))) == (PEER, "https", "app.internal:8000", "")


def test_repeated_header_lines_are_one_list_in_order() -> None:
    got = origin(("X-Forwarded-For", "6.6.6.6"), ("x-forwarded-for", "203.0.113.7"), allow=("127.0.0.1",))
    assert got.client == ("203.0.113.7", 0)


def test_forwarded_wins_over_x_forwarded_but_the_prefix_is_read_either_way() -> None:
    got = origin(("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-Proto", "http"),
                 ("X-Forwarded-Host", "x.example"), ("X-Forwarded-Prefix", "/svc"),
                 ("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=https;host="example.com"'))
    assert as_tuple(got) == (("2001:db8:cafe::17", 4711), "https", "example.com", "/svc")


def test_scheme_and_host_come_from_the_client_s_hop() -> None:
    allow = ("127.0.0.1", "10.0.0.0/8")
    # One value per hop: the client's hop's value.
    got = origin(("X-Forwarded-For", "203.0.113.7, 10.0.0.5"), ("X-Forwarded-Proto", "https, http"), allow=allow)
    assert got.scheme == "https"
    # Not one per hop (a proxy that sets rather than appends): the last, the nearest proxy's. A
    # client that prepends a value does not get it believed either way.
    assert origin(("X-Forwarded-For", "203.0.113.7, 10.0.0.5"), ("X-Forwarded-Proto", "http"),
                  allow=allow).scheme == "http"
    assert origin(("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https, http")).scheme == "http"
    # Forwarded: the client's element, else the nearest one to its right that says.
    got = origin(("Forwarded", "for=203.0.113.7, for=10.0.0.5;proto=https;host=example.com, for=10.0.0.6"),
                 allow=allow)
    assert as_tuple(got) == (("203.0.113.7", 0), "https", "example.com", "")


def test_values_that_are_not_a_scheme_a_host_or_a_path_are_ignored() -> None:
    for prefix in ("//evil.example", "svc", "/a//b", "/svc?x=1", "/s vc"):
        assert origin(("X-Forwarded-Prefix", prefix), root_path="/app").root_path == "/app", prefix
    assert origin(("X-Forwarded-Prefix", "/"), root_path="/app").root_path == ""
    assert origin(("X-Forwarded-Proto", "ftp")).scheme == "http"
    for host in ("evil.example/x", "a b", "evil.example@x", ""):
        assert origin(("X-Forwarded-Host", host)).host == "app.internal:8000", host
    assert origin(("X-Forwarded-Host", "[2001:db8::1]:8443")).host == "[2001:db8::1]:8443"


def test_a_malformed_forwarded_hop_makes_the_client_unknown_not_the_proxy() -> None:
    assert origin(("Forwarded", 'for="x, for=192.0.2.1')).client == UNKNOWN
    assert origin(("Forwarded", "proto=https")).client == UNKNOWN
    assert origin(("Forwarded", "for=unknown;proto=https")).client == ("unknown", 0)
    # A malformed element left of the client's hop is never reached.
    assert origin(("Forwarded", "garbage, for=203.0.113.7")).client == ("203.0.113.7", 0)


def test_star_takes_the_leftmost_hop() -> None:
    got = origin(("X-Forwarded-For", "203.0.113.7, 198.51.100.1"), allow=("*",), peer=("192.0.2.200", 4000))
    assert got.client == ("203.0.113.7", 0)


# --- the configuration key ----------------------------------------------------------------------

def load(overrides: dict[str, object], environ: dict[str, str] | None = None) -> AreionConfig:
    return AreionConfig.load(overrides, environ=environ or {}, search=False)


def test_the_key_takes_a_list_a_comma_separated_string_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = trusted("127.0.0.1", "10.0.0.0/8")
    assert load({"forwarded_allow_ips": ["127.0.0.1", "10.0.0.0/8"]}).forwarded_allow_ips == expected
    assert load({"forwarded_allow_ips": "127.0.0.1, 10.0.0.0/8"}).forwarded_allow_ips == expected
    assert load({}, {"AREION_FORWARDED_ALLOW_IPS": "127.0.0.1,10.0.0.0/8"}).forwarded_allow_ips == expected
    monkeypatch.setenv("T_PROXIES", "127.0.0.1,10.0.0.0/8")
    assert load({"forwarded_allow_ips": ["${T_PROXIES}"]}).forwarded_allow_ips == expected
    assert load({"forwarded_allow_ips": "*"}).forwarded_allow_ips == trusted("*")


def test_the_default_and_an_empty_list_trust_nobody() -> None:
    assert load({}).forwarded_allow_ips is None
    assert load({"forwarded_allow_ips": []}).forwarded_allow_ips is None
    assert load({}, {"AREION_FORWARDED_ALLOW_IPS": ""}).forwarded_allow_ips is None


@pytest.mark.parametrize(("value", "named"), [(["127.0.0.1", "localhost"], "localhost"),
                                              ("10.0.0.0/8,10.0.0.0/33", "10.0.0.0/33"),
                                              (5, 5), ([True], [True])])
def test_a_bad_value_is_a_config_error_naming_the_key_and_the_entry(value: object, named: object) -> None:
    with pytest.raises(ConfigError) as info:
        load({"forwarded_allow_ips": value})
    assert info.value.key == "forwarded_allow_ips" and info.value.value == named
    assert str(info.value).startswith(f"config key 'forwarded_allow_ips': got {named!r}, expected ")
