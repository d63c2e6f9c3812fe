"""Zero external requests: every served page and asset is scanned for off-host URLs; pages
carry no inline script, so a strict Content-Security-Policy works.

The vendored bundles still contain URL *strings* that the browser never requests. Each one
allowed below is listed with why it is never fetched; anything new fails the test, and so does
an entry that no longer occurs (the list must not rot). The URLs the pages would have fetched
(Swagger UI's validator, ReDoc's CDN logo, source maps) are patched out by
``plugins/openapi/tools/vendor_assets.py``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from areion_openapi.pages import ASSETS

from areion_core import Router
from areion_core.testing import TestClient
from tests.plugins.openapi._openapi_support import build_server

URL = re.compile(r"""https?://[^\s"'`<>()\\\],;{}|]*""")

# XML namespace names: arguments to createElementNS/setAttributeNS, compared, never loaded.
_NAMESPACES = {
    "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml", "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1998/Math/MathML", "http://www.w3.org/XML/1998/namespace",
}
# JSON Schema and OpenAPI dialect/vocabulary identifiers: matched against a document's
# "$schema" or used as the "$id" of meta-schemas that are bundled inline; never fetched.
_SCHEMA_IDS = {
    "http://json-schema.org/draft-04/schema#", "http://json-schema.org/draft-06/schema#",
    "http://json-schema.org/draft-07/schema#", "http://json-schema.org/schema",
    "https://json-schema.org/draft/2019-09/schema", "https://json-schema.org/draft/2020-12/schema",
    "https://spec.openapis.org/oas/3.1/dialect/base",
    # ajv's "$data" meta-schema: its $id; the schema itself is inlined in the bundle.
    "https://raw.githubusercontent.com/ajv-validator/ajv/master/lib/refs/data.json#",
} | {f"https://json-schema.org/draft/2020-12/{kind}/{part}"
     for kind in ("meta", "vocab")
     for part in ("applicator", "content", "core", "format-annotation", "meta-data", "unevaluated", "validation")}
# Prefixes and dummy bases in code that checks or parses URLs: "https://" compared with
# startsWith; "https://base" + a random number and vladimirgorej.com are throwaway bases for
# `new URL(relative, base)`; swagger.io is swagger-client's base for documents loaded without a
# URL (ours is always loaded from /openapi.json, and it has no external $ref); "https://api."
# is Redocly's registry-URL test (startsWith), used to decide whether to add a header.
_URL_CODE = {"http://", "https://", "https://base$", "https://vladimirgorej.com", "https://swagger.io",
             "https://api.$"}
# Sample values that the viewers show in generated examples for "format": uri / iri / uri-template.
_SAMPLES = {"https://example.com/", "https://example.com/dictionary/", "https://실례.com/",
            "http://example.com", "http://example.com/", "http://example.com/entity/1"}
# Link targets built only as <a href> text, followed on a user's click, never loaded:
# Autolinker's @mention/#hashtag services (off in Swagger UI), the SPDX licence link for an
# info.license.identifier, and ReDoc's "API docs by Redocly" attribution (its logo is patched out).
_LINKS = {
    "https://twitter.com/", "https://twitter.com/hashtag/", "https://instagram.com/",
    "https://instagram.com/explore/tags/", "https://www.facebook.com/hashtag/", "https://soundcloud.com/",
    "https://www.tiktok.com/@", "https://www.tiktok.com/tag/", "https://spdx.org/licenses/$",
    "https://redocly.com/redoc/",
}
# Text inside error messages, console warnings and metadata strings (never requested):
# React/Redux error decoders, library issue links in comments kept as strings, RFC sections
# cited by the ABNF parsers' messages, core-js's licence banner object, ReDoc's converter
# metadata (x-origin) and a YAML comment written by a Redocly CLI function never run here.
_TEXT = {
    "http://fb.me/use-check-prop-types", "https://reactjs.org/docs/error-decoder.html?invariant=",
    "https://redux.js.org/Errors?code=$", "https://github.com/zloirock/core-js",
    "https://github.com/zloirock/core-js/blob/v3.40.0/LICENSE",
    "https://github.com/highlightjs/highlight.js/issues/2277",
    "https://github.com/highlightjs/highlight.js/issues/2534",
    "https://github.com/highlightjs/highlight.js/issues/2559",
    "https://github.com/highlightjs/highlight.js/pull/2844",
    "https://www.rfc-editor.org/errata/eid5518", "https://www.rfc-editor.org/errata/eid6937",
    "https://www.rfc-editor.org/errata/eid8242", "https://www.rfc-editor.org/rfc/rfc6570#section-1.5",
    "https://www.rfc-editor.org/rfc/rfc6570#section-2", "https://www.rfc-editor.org/rfc/rfc6570#section-2.1",
    "https://git.io/JUIaE#", "https://github.com/markedjs/marked.", "https://github.com/mermade/oas-kit",
    "https://github.com/mobxjs/mobx/blob/main/packages/mobx/src/errors.ts",
    "https://github.com/styled-components/polished/blob/main/src/internalHelpers/errors.md#",
    "https://marked.js.org/#/USING_ADVANCED.md#options", "https://redocly.com/docs/cli/",
    "https://redocly.com/sso/teams", "https://stackoverflow.com/a/31732902/1749888",
} | {f"https://datatracker.ietf.org/doc/html/{ref}" for ref in (
    "rfc2616#section-2.2", "rfc3986#section-2.1", "rfc3986#section-2.2", "rfc3986#section-2.3",
    "rfc3986#section-3.3", "rfc5234#appendix-B.1", "rfc6265#section-2.2", "rfc6265#section-4.1.1",
    "rfc6265#section-4.2.1", "rfc6901", "rfc6901#section-4", "rfc9110#section-5.6.2")}
ALLOWED = _NAMESPACES | _SCHEMA_IDS | _URL_CODE | _SAMPLES | _LINKS | _TEXT
# Hosts whose appearance would mean a real request: none may remain, allowed or not.
FETCHED_HOSTS = ("validator.swagger.io", "cdn.redoc.ly", "fonts.googleapis.com", "fonts.gstatic.com",
                 "cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com")


def _app_router() -> Router:
    router = Router()

    @router.get("/hello/:name")
    def hello(request, name: str) -> str:  # type: ignore[no-untyped-def]
        """Say hello."""
        return f"hello {name}"

    return router


def _served() -> dict[str, bytes]:
    """Every page of the docs site and everything the pages reference, by path."""
    bodies: dict[str, bytes] = {}
    with TestClient(build_server(_app_router())) as client:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect", "/openapi.json"):
            r = client.get(path)
            assert r.status_code == 200, path
            bodies[path] = r.content
        for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            for ref in re.findall(r'(?:src|href)="([^"]+)"', bodies[page].decode()):
                r = client.get(ref)
                assert r.status_code == 200, ref
                bodies[ref] = r.content
    return bodies


def test_no_served_page_or_asset_points_off_the_host() -> None:
    served = _served()
    assert {p.rsplit("/", 1)[-1] for p in served if "/static/" in p} == set(ASSETS)  # all scanned
    found: dict[str, set[str]] = {}
    for path, body in served.items():
        if path.endswith(".png"):
            continue  # the favicon: pixels, no URLs
        text = body.decode("utf-8")
        for url in URL.findall(text):
            found.setdefault(url, set()).add(path)
        for host in FETCHED_HOSTS:
            assert host not in text, f"{path} mentions {host}"
    unexpected = {url: sorted(paths) for url, paths in found.items()
                  if urlsplit(url).netloc not in ("testserver",) and url not in ALLOWED}
    assert unexpected == {}
    stale = ALLOWED - set(found)
    assert stale == set(), "allow-list entries that no longer occur: remove them"


def test_stylesheets_load_nothing_but_data_urls() -> None:
    stylesheets = {path: body for path, body in _served().items() if path.endswith(".css")}
    # Every stylesheet the pages use is checked (none missing would make the loop pass idle).
    assert {path.rsplit("/", 1)[-1] for path in stylesheets} == {n for n in ASSETS if n.endswith(".css")}
    for path, body in stylesheets.items():
        text = body.decode()
        assert "@import" not in text and "@font-face" not in text, path
        targets = re.findall(r"url\(\s*['\"]?([^'\")]+)", text)
        assert all(t.startswith("data:") for t in targets), (path, [t for t in targets if not t.startswith("data:")])
        assert "sourceMappingURL" not in text


def test_scripts_reference_no_source_maps() -> None:
    # Devtools would request a referenced map (not shipped: a 404). The only ones left are
    # css-loader's inline "data:" maps, built at run time and never fetched.
    scripts = {path: body for path, body in _served().items() if path.endswith(".js")}
    assert {path.rsplit("/", 1)[-1] for path in scripts} == {n for n in ASSETS if n.endswith(".js")}
    for path, body in scripts.items():
        assert re.search(rb"sourceMappingURL=(?!data:)", body) is None, path


def test_pages_have_no_inline_script_or_style_and_send_a_strict_csp() -> None:
    with TestClient(build_server(_app_router())) as client:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            r = client.get(path)
            page = r.text
            scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.DOTALL)
            assert scripts, path
            for attrs, body in scripts:
                assert 'src="' in attrs and body.strip() == "", (path, attrs)
            assert not re.search(r"\son[a-z]+\s*=", page), f"{path} has an inline event handler"
            assert "<style" not in page and "style=" not in page, path
            assert "javascript:" not in page
            csp = r.headers["content-security-policy"]
            directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
            assert directives["default-src"] == "'self'"
            assert "script-src" not in directives  # scripts fall back to 'self' only
            assert "unsafe-eval" not in csp


def test_configured_servers_on_other_hosts_are_allowed_for_try_it_out() -> None:
    section = {"servers": ["https://api.example.com/v1", "/local"]}
    with TestClient(build_server(_app_router(), section)) as client:
        csp = client.get("/docs").headers["content-security-policy"]
        assert "connect-src 'self' https://api.example.com" in csp
