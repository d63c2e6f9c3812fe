"""The docs site: ``/openapi.json``, Swagger UI at ``/docs``, ReDoc at ``/redoc``, and their assets.

Everything the pages load ships inside this package (``static/``) and is served from the
app's own host: no CDN, font, logo or validator request leaves it. Pages start their viewer
from a served script that reads its settings from ``data-`` attributes, so they carry no
inline script and send a Content-Security-Policy that allows scripts from ``'self'`` only.
Assets live under a path containing a hash of their content, so they can be cached for a
year (``immutable``) and a new release is a new URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from areion_core import FileResponse, HttpResponse, Router

from .settings import OpenAPISettings


def _escape(value: str, quote: bool = True) -> str:
    """``html.escape``, imported on first use (html.entities is 0.4 MB an idle server need not hold)."""
    import html

    return html.escape(value, quote)

#: The files the pages load (licence files ship in the package but are not served).
ASSETS = (
    "swagger-ui-bundle.js", "swagger-ui.css", "swagger-init.js", "oauth2-redirect.js",
    "redoc.standalone.js", "redoc-init.js", "docs.css", "favicon.png",
)
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
PAGE_HEADERS = {
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
# Swagger UI fits "default-src 'self'" except for its stylesheet's data: SVG icons. ReDoc
# also needs inline <style> elements (styled-components injects them at run time) and runs
# its search index in a Worker built from a blob: URL.
_CSP_SWAGGER = "default-src 'self'{connect}; img-src 'self' data:; object-src 'none'; base-uri 'self'"
_CSP_REDOC = ("default-src 'self'{connect}; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
              "worker-src 'self' blob:; object-src 'none'; base-uri 'self'")


def static_dir() -> Path:
    """Where the vendored assets are installed."""
    return Path(str(resources.files("areion_openapi") / "static"))


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A short hash of every served asset: the versioned part of their URLs."""
    digest = hashlib.sha256()
    root = static_dir()
    for name in ASSETS:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()[:12]


#: Rendered pages kept, one per (page, root path).
_PAGES = 48


class DocsSite:
    """Registers and answers the docs routes for one app."""

    def __init__(self, settings: OpenAPISettings, document: Callable[[str | None], tuple[bytes, str]],
                 root_path: Callable[[Any], str]) -> None:
        self.settings = settings
        self._document = document
        self._root_path = root_path
        self._pages: dict[tuple[str, str], bytes] = {}
        base = settings.docs_path or settings.redoc_path
        self.asset_base = f"{base}/static/{asset_version()}" if base else None

    def register(self, router: Router) -> None:
        s = self.settings
        add = router.add_route
        add(s.openapi_path, self.openapi_json, ["GET"], name="openapi_document", include_in_schema=False)
        if s.docs_path:
            add(s.docs_path, self.swagger_page, ["GET"], name="openapi_swagger_ui", include_in_schema=False)
            add(s.docs_path + "/oauth2-redirect", self.oauth2_redirect_page, ["GET"],
                name="openapi_oauth2_redirect", include_in_schema=False)
        if s.redoc_path:
            add(s.redoc_path, self.redoc_page, ["GET"], name="openapi_redoc", include_in_schema=False)
        if self.asset_base:
            root = static_dir()
            for name in ASSETS:
                add(f"{self.asset_base}/{name}", _asset_handler(root / name), ["GET"],
                    name=f"openapi_asset_{name}", include_in_schema=False)

    # --- handlers ------------------------------------------------------------------------
    async def openapi_json(self, request: Any) -> HttpResponse:
        body, etag = self._document(self._root_path(request))
        # no-cache, not no-store: clients revalidate with the ETag and get a 304.
        return HttpResponse(body, 200, "application/json", {
            "cache-control": "no-cache", "etag": etag, "access-control-allow-origin": "*"})

    async def swagger_page(self, request: Any) -> HttpResponse:
        return self._page("swagger", _CSP_SWAGGER, request)

    async def redoc_page(self, request: Any) -> HttpResponse:
        return self._page("redoc", _CSP_REDOC, request)

    async def oauth2_redirect_page(self, request: Any) -> HttpResponse:
        return self._page("oauth2", _CSP_SWAGGER, request)

    # --- rendering -----------------------------------------------------------------------
    def _page(self, kind: str, csp: str, request: Any) -> HttpResponse:
        # Every link under the request's root path (a trusted proxy's X-Forwarded-Prefix, or
        # the app's root_path): the page works behind a proxy that mounts the app under a prefix.
        root = self._root_path(request)
        key = (kind, root)
        body = self._pages.get(key)
        if body is None:
            if len(self._pages) >= _PAGES:
                self._pages.clear()  # a bound: a proxy could send any number of prefixes
            body = self._pages[key] = self.render(kind, root).encode()
        headers = dict(PAGE_HEADERS)
        headers["content-security-policy"] = csp.format(connect=self._connect_sources())
        return HttpResponse(body, 200, "text/html; charset=utf-8", headers)

    def _connect_sources(self) -> str:
        """Other origins named in ``servers``: "Try it out" sends requests there."""
        origins = []
        for server in self.settings.servers:
            parts = urlsplit(server["url"])
            if parts.scheme in ("http", "https") and parts.netloc:
                origin = f"{parts.scheme}://{parts.netloc}"
                if origin not in origins:
                    origins.append(origin)
        return f"; connect-src 'self' {' '.join(origins)}" if origins else ""

    def render(self, kind: str, root_path: str) -> str:
        """The HTML of a page; every URL in it is ``root_path`` + a path of this app."""
        s = self.settings
        assets = root_path + (self.asset_base or "")
        esc = _attr
        title = _escape(s.title)
        head = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="referrer" content="same-origin">\n'
            f'<link rel="icon" type="image/png" href="{esc(assets + "/favicon.png")}">\n'
            f'<link rel="stylesheet" href="{esc(assets + "/docs.css")}">\n'
        )
        if kind == "swagger":
            return (
                f"{head}<title>{title} – Swagger UI</title>\n"
                f'<link rel="stylesheet" href="{esc(assets + "/swagger-ui.css")}">\n'
                "</head>\n<body>\n"
                "<noscript><p>This page needs JavaScript to show the API documentation; the "
                f'document itself is at <a href="{esc(root_path + s.openapi_path)}">'
                f"{_escape(s.openapi_path)}</a>.</p></noscript>\n"
                f'<div id="swagger-ui" data-openapi-url="{esc(root_path + s.openapi_path)}" '
                f'data-oauth2-redirect-url="{esc(root_path + (s.docs_path or "") + "/oauth2-redirect")}">'
                "</div>\n"
                f'<script src="{esc(assets + "/swagger-ui-bundle.js")}"></script>\n'
                f'<script src="{esc(assets + "/swagger-init.js")}"></script>\n'
                "</body>\n</html>\n"
            )
        if kind == "redoc":
            return (
                f"{head}<title>{title} – ReDoc</title>\n"
                '</head>\n<body class="redoc-page">\n'
                "<noscript><p>This page needs JavaScript to show the API documentation; the "
                f'document itself is at <a href="{esc(root_path + s.openapi_path)}">'
                f"{_escape(s.openapi_path)}</a>.</p></noscript>\n"
                f'<div id="redoc" data-openapi-url="{esc(root_path + s.openapi_path)}"></div>\n'
                f'<script src="{esc(assets + "/redoc.standalone.js")}"></script>\n'
                f'<script src="{esc(assets + "/redoc-init.js")}"></script>\n'
                "</body>\n</html>\n"
            )
        return (  # Swagger UI's OAuth2 redirect target: hands the token back to the opener
            f"{head}<title>{title} – OAuth2 redirect</title>\n</head>\n<body>\n"
            f'<script src="{esc(assets + "/oauth2-redirect.js")}"></script>\n'
            "</body>\n</html>\n"
        )


def _attr(value: str) -> str:
    return _escape(value, quote=True)


def _asset_handler(path: Path) -> Callable[[Any], Any]:
    headers = {"cache-control": ASSET_CACHE_CONTROL, "x-content-type-options": "nosniff"}

    async def asset(request: Any) -> FileResponse:
        return FileResponse(path, headers=headers)

    asset.__name__ = f"openapi_asset_{path.name}"
    return asset
