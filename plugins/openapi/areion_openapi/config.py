"""The ``[plugins.openapi]`` section, validated once at startup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from areion_core.exceptions import ConfigError

_KEYS = {
    "enabled", "title", "version", "description", "servers", "docs_path", "redoc_path",
    "openapi_path", "security_schemes",
}
_SECTION = "plugins.openapi"


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


def parse_settings(section: Mapping[str, Any]) -> OpenAPISettings:
    """Validate the section; a bad key or value raises ``ConfigError`` naming it."""
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ConfigError(f"{_SECTION}.{unknown[0]}", section[unknown[0]],
                          f"one of {', '.join(sorted(_KEYS))}")
    kw: dict[str, Any] = {}
    if "enabled" in section:
        if not isinstance(section["enabled"], bool):
            raise ConfigError(f"{_SECTION}.enabled", section["enabled"], "true or false")
        kw["enabled"] = section["enabled"]
    for key in ("title", "version", "description"):
        if key in section:
            if not isinstance(section[key], str) or (key != "description" and not section[key]):
                raise ConfigError(f"{_SECTION}.{key}", section[key], "a non-empty string")
            kw[key] = section[key]
    for key in ("docs_path", "redoc_path", "openapi_path"):
        if key in section:
            value = section[key]
            if key != "openapi_path" and value in (False, "", None):
                kw[key] = None  # docs_path = false switches that page off
                continue
            if not isinstance(value, str) or not value.startswith("/") or value == "/" or (
                    len(value) > 1 and value.endswith("/")) or any(c in value for c in "{}:*?#"):
                raise ConfigError(f"{_SECTION}.{key}", value,
                                  "a path such as '/docs' (leading '/', no trailing '/', no parameters)"
                                  + ("" if key == "openapi_path" else ", or false to switch it off"))
            kw[key] = value
    if "servers" in section:
        kw["servers"] = _servers(section["servers"])
    if "security_schemes" in section:
        kw["security_schemes"] = _schemes(section["security_schemes"])
    settings = OpenAPISettings(**kw)
    paths = [p for p in (settings.docs_path, settings.redoc_path, settings.openapi_path) if p]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"{_SECTION}.docs_path", paths, "docs_path, redoc_path and openapi_path to differ")
    return settings


def _servers(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{_SECTION}.servers", value,
                          "a list of URLs or of {url, description} tables")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("url"), str) or not item["url"]:
            raise ConfigError(f"{_SECTION}.servers[{i}]", item, "a URL string or a table with a 'url'")
        out.append(dict(item))
    return tuple(out)


_SCHEME_TYPES = {"apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"}


def _schemes(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{_SECTION}.security_schemes", value,
                          "a table of name = Security Scheme Object")
    out: dict[str, dict[str, Any]] = {}
    for name, scheme in value.items():
        key = f"{_SECTION}.security_schemes.{name}"
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
