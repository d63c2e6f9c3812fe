"""The showcase's ``/whoami``, served as ``make run`` serves it: proxy headers are believed from
127.0.0.1 only (its ``forwarded_allow_ips``), and its index page follows ``X-Forwarded-Prefix``.

Another peer is a client socket bound to 127.0.0.2 (Linux routes all of 127.0.0.0/8 to the
loopback interface).
"""

from __future__ import annotations

import httpx

from tests.integration.test_showcase_index import showcase  # the same `areion run` fixture

__all__ = ["showcase"]

# The forwarded host is one the showcase's trusted-hosts list (areion-security) allows.
PROXY_HEADERS = [("X-Forwarded-For", "6.6.6.6, 203.0.113.7"), ("X-Forwarded-Proto", "https"),
                 ("X-Forwarded-Host", "localhost:8443")]


def _get(url: str, headers: list[tuple[str, str]], source: str) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10) as client:
        return client.get(url, headers=headers)


def test_whoami_believes_a_proxy_on_127_0_0_1(showcase: str) -> None:
    response = _get(showcase + "/whoami", PROXY_HEADERS, "127.0.0.1")
    assert response.status_code == 200
    # The rightmost hop that is not a trusted proxy: 6.6.6.6 was written by the client itself.
    assert response.json() == {"client": "203.0.113.7", "scheme": "https", "host": "localhost:8443"}


def test_a_forwarded_host_outside_the_trusted_hosts_is_refused(showcase: str) -> None:
    response = _get(showcase + "/whoami", [("X-Forwarded-Host", "example.com")], "127.0.0.1")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_whoami_ignores_proxy_headers_from_any_other_peer(showcase: str) -> None:
    response = _get(showcase + "/whoami", PROXY_HEADERS, "127.0.0.2")
    assert response.json() == {"client": "127.0.0.2", "scheme": "http", "host": showcase.removeprefix("http://")}


def test_the_index_links_follow_the_forwarded_prefix(showcase: str) -> None:
    page = _get(showcase + "/", [("X-Forwarded-Prefix", "/shop")], "127.0.0.1").text
    assert 'href="/shop/whoami"' in page and 'href="/whoami"' not in page
    assert 'href="/whoami"' in _get(showcase + "/", [("X-Forwarded-Prefix", "/shop")], "127.0.0.2").text
