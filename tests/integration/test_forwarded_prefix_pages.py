"""The showcase behind a proxy that mounts it under ``/shop`` and says so in ``X-Forwarded-Prefix``
(trusted: the showcase's ``forwarded_allow_ips`` is 127.0.0.1), with no ``root_path`` configured:
``/docs``, ``/redoc`` and ``/openapi.json`` (the plugin's pages and the document's ``servers``) and
the template pages (``url_for``, ``static_url``) link under the prefix, and every link works
through the proxy. The same requests from another peer (127.0.0.2) are not believed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.integration._prefix_proxy import PrefixProxy
from tests.integration.test_showcase_index import showcase  # the same `areion run` fixture

__all__ = ["showcase"]


@pytest.fixture(scope="module")
def proxied(showcase: str) -> Iterator[PrefixProxy]:
    with PrefixProxy("/shop", showcase, forwarded_prefix=True) as proxy:
        yield proxy


def _links(page: str) -> list[str]:
    return re.findall(r'(?:href|src|data-openapi-url)="([^"]+)"', page)


def _from(source: str, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10) as client:
        return client.get(url, headers=headers)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_link_under_the_forwarded_prefix(proxied: PrefixProxy, page: str) -> None:
    with httpx.Client(base_url=proxied.url, timeout=10) as client:
        got = client.get("/shop" + page)
        assert got.status_code == 200
        links = [link for link in _links(got.text) if link.startswith("/")]
        assert "/shop/openapi.json" in links
        assert links and all(link.startswith("/shop/") for link in links), links
        for link in links:  # the scripts, the stylesheet and the document, through the proxy
            assert client.get(link).status_code == 200, link


def test_the_document_names_the_forwarded_prefix_as_its_server(proxied: PrefixProxy, showcase: str) -> None:
    prefixed = httpx.get(proxied.url + "/shop/openapi.json", timeout=10)
    assert prefixed.status_code == 200 and prefixed.json()["servers"] == [{"url": "/shop"}]
    direct = httpx.get(showcase + "/openapi.json", timeout=10)
    assert "servers" not in direct.json()
    assert prefixed.headers["etag"] != direct.headers["etag"]
    assert prefixed.json()["paths"] == direct.json()["paths"]
    # An untrusted peer's X-Forwarded-Prefix changes nothing.
    spoofed = _from("127.0.0.2", showcase + "/openapi.json", {"X-Forwarded-Prefix": "/evil"})
    assert "servers" not in spoofed.json() and spoofed.headers["etag"] == direct.headers["etag"]
    page = _from("127.0.0.2", showcase + "/docs", {"X-Forwarded-Prefix": "/evil"}).text
    assert 'data-openapi-url="/openapi.json"' in page and "/evil" not in page


def test_template_pages_link_under_the_forwarded_prefix(proxied: PrefixProxy, showcase: str) -> None:
    with httpx.Client(base_url=proxied.url, timeout=10) as client:
        got = client.get("/shop/report")
        assert got.status_code == 200
        links = [link for link in _links(got.text) if link.startswith("/")]
        assert {"/shop/", "/shop/report", "/shop/docs"} <= set(links)
        assert any(link.startswith("/shop/static/style.css?v=") for link in links), links
        assert all(link.startswith("/shop/") for link in links), links
        for link in links:
            assert client.get(link).status_code == 200, link
    # Straight to the server, the same page links from the root (a cached copy is not reused).
    direct = [link for link in _links(httpx.get(showcase + "/report", timeout=10).text) if link.startswith("/")]
    assert "/report" in direct and not any(link.startswith("/shop") for link in direct)
