"""The ``[plugins.openapi]`` section, validated once at startup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from areion_core import ConfigError
from areion_core.plugin_api import EnvText, SettingsReader

SECTION = "plugins.openapi"
_KEYS = {
    "enabled", "title", "version", "description", "servers", "docs_path", "redoc_path",
    "openapi_path", "security_schemes",
}


@dataclass(frozen=True)
class OpenAPISettings:
    """What the document and the docs pages are built from. ``None`` paths are switched off."""

    enabled: bool | None = None
    title: str = "Areion API"
    version: str = "0.1.0"
    description: str | None = None
    servers: tuple[dict[str, Any], ...] = ()
    docs_path: str | None = "/docs"
    redoc_path: str | None = "/redoc"
    openapi_path: str = "/openapi.json"
    security_schemes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def is_on(self, development: bool) -> bool:
        """On in development mode unless ``enabled = false``; off otherwise unless ``enabled = true``."""
        return development if self.enabled is None else self.enabled

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> OpenAPISettings:
        """Validate the section; a bad key or value raises ``ConfigError`` naming it."""
        read = SettingsReader(SECTION, section, keys=_KEYS)
        kw: dict[str, Any] = {}
        if "enabled" in read:
            kw["enabled"] = read.boolean("enabled", None)
        for key in ("title", "version", "description"):
            if key in read:
                kw[key] = read.text(key, None, empty=key == "description")
        for key in ("docs_path", "redoc_path", "openapi_path"):
            if key in read:
                kw[key] = _path(read, key)
        if "servers" in read:
            kw["servers"] = _servers(read)
        if "security_schemes" in read:
            kw["security_schemes"] = _schemes(read)
        settings = cls(**kw)
        paths = [p for p in (settings.docs_path, settings.redoc_path, settings.openapi_path) if p]
        if len(set(paths)) != len(paths):
            raise read.error("docs_path", paths, "docs_path, redoc_path and openapi_path to differ")
        return settings


def _path(read: SettingsReader, key: str) -> str | None:
    value = read.value(key)
    if isinstance(value, EnvText) and value.lower() == "false":
        value = False
    if key != "openapi_path" and value in (False, "", None):
        return None  # docs_path = false switches that page off
    if not isinstance(value, str) or not value.startswith("/") or value == "/" or (
            len(value) > 1 and value.endswith("/")) or any(c in value for c in "{}:*?#"):
        raise read.error(key, value, "a path such as '/docs' (leading '/', no trailing '/', no parameters)"
                         + ("" if key == "openapi_path" else ", or false to switch it off"))
    return str(value)


def _servers(read: SettingsReader) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(read.items("servers", (), expected="a list of URLs or of {url, description} tables")):
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("url"), str) or not item["url"]:
            raise read.error(f"servers[{i}]", item, "a URL string or a table with a 'url'")
        out.append(dict(item))
    return tuple(out)


_SCHEME_TYPES = {"apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"}


def _schemes(read: SettingsReader) -> dict[str, dict[str, Any]]:
    value = read.value("security_schemes")
    if not isinstance(value, Mapping):
        raise read.error("security_schemes", value, "a table of name = Security Scheme Object")
    out: dict[str, dict[str, Any]] = {}
    for name, scheme in value.items():
        key = f"{SECTION}.security_schemes.{name}"
        if not isinstance(scheme, Mapping) or scheme.get("type") not in _SCHEME_TYPES:
            raise ConfigError(key, scheme, f"a table whose 'type' is one of {', '.join(sorted(_SCHEME_TYPES))}")
        check_scheme(key, scheme)
        out[str(name)] = dict(scheme)
    return out


def check_scheme(key: str, scheme: Mapping[str, Any]) -> None:
    """The fields each scheme type needs (OpenAPI 3.1 §4.8.27), so the document stays valid."""
    kind = scheme.get("type")
    needs = {"apiKey": ("name", "in"), "http": ("scheme",), "oauth2": ("flows",),
             "openIdConnect": ("openIdConnectUrl",)}.get(str(kind), ())
    for field_name in needs:
        if field_name not in scheme:
            raise ConfigError(f"{key}.{field_name}", None, f"a value (required for type {kind!r})")
    if kind == "apiKey" and scheme["in"] not in ("query", "header", "cookie"):
        raise ConfigError(f"{key}.in", scheme["in"], "'query', 'header' or 'cookie'")
