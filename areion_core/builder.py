"""``AreionServerBuilder``: Areion 1.x's fluent API for putting an app together."""

from __future__ import annotations

import os
import ssl as _ssl
from collections.abc import Mapping
from typing import Any

from .app import App
from .config import AreionConfig
from .exceptions import ConfigError
from .headers import FRAMING, check_header
from .routing import Router
from .runner import AreionServer


class AreionServerBuilder:
    """Collects components and settings, then ``build()`` returns an ``AreionServer``.

    Builder settings are the highest layer of configuration: they override ``areion.toml``,
    ``[tool.areion]`` and ``AREION_*`` variables. Only a router is required.
    """

    def __init__(self) -> None:
        self._router: Router | None = None
        self._overrides: dict[str, Any] = {}
        self._config_file: str | None = None
        self._config_search = True
        self._plugins: list[Any] = []
        self._logger: Any = None
        self._engine: Any = None
        self._orchestrator: Any = None
        self._ssl: _ssl.SSLContext | None = None

    def with_host(self, host: str) -> AreionServerBuilder:
        self._overrides["host"] = host
        return self

    def with_port(self, port: int) -> AreionServerBuilder:
        self._overrides["port"] = port
        return self

    def with_router(self, router: Router) -> AreionServerBuilder:
        if not isinstance(router, Router):
            raise TypeError(f"with_router expects a Router, got {type(router).__name__}")
        self._router = router
        return self

    def with_logger(self, logger: Any) -> AreionServerBuilder:
        self._logger = logger
        return self

    def with_engine(self, engine: Any) -> AreionServerBuilder:
        """The template engine (``DefaultEngine`` from areion-templates, or your own)."""
        self._engine = engine
        return self

    def with_orchestrator(self, orchestrator: Any) -> AreionServerBuilder:
        """The orchestrator (``DefaultOrchestrator`` from areion-scheduling, or your own)."""
        self._orchestrator = orchestrator
        return self

    def with_static_dir(self, static_dir: str | os.PathLike[str], prefix: str = "/static") -> AreionServerBuilder:
        self._overrides["static_dir"] = os.fspath(static_dir)
        self._overrides["static_prefix"] = prefix
        return self

    def with_development_mode(self, enabled: bool = True) -> AreionServerBuilder:
        """Development mode: readable 500 pages, and the docs pages when areion-openapi is installed."""
        self._overrides["development"] = bool(enabled)
        return self

    def with_workers(self, workers: int) -> AreionServerBuilder:
        self._overrides["workers"] = workers
        return self

    def with_global_headers(self, headers: Mapping[str, str]) -> AreionServerBuilder:
        """Headers added to every response (CORS, security headers)."""
        current = dict(self._overrides.get("global_headers", {}))
        current.update(headers)
        self._overrides["global_headers"] = current
        return self

    def with_server_header(self, value: str | bool) -> AreionServerBuilder:
        """``False`` drops the ``Server`` header; a string replaces ``areion``."""
        self._overrides["server_header"] = value
        return self

    def with_access_log(self, enabled: bool) -> AreionServerBuilder:
        self._overrides["access_log"] = enabled
        return self

    def with_limits(self, **limits: float) -> AreionServerBuilder:
        """Override server limits, e.g. ``with_limits(max_body_bytes=1_000_000)``."""
        current = dict(self._overrides.get("limits", {}))
        current.update(limits)
        self._overrides["limits"] = current
        return self

    def with_ssl(self, context: _ssl.SSLContext) -> AreionServerBuilder:
        self._ssl = context
        return self

    def with_plugins(self, *plugins: Any) -> AreionServerBuilder:
        """Register plugin objects directly (tests, private plugins); no entry point needed."""
        self._plugins.extend(plugins)
        return self

    def with_config(
        self, config: Mapping[str, Any] | str | os.PathLike[str] | None = None, **overrides: Any
    ) -> AreionServerBuilder:
        """Configuration in areion.toml's shape: a mapping, or the path of a TOML file.

        ``with_config(plugins=["caching"])`` and ``with_config({"plugins": {"caching": {...}}})``
        both work; later calls override earlier ones key by key.
        """
        if isinstance(config, (str, os.PathLike)):
            self._config_file = os.fspath(config)
        elif config is not None:
            self._merge(dict(config))
        self._merge(overrides)
        return self

    def without_config_file(self) -> AreionServerBuilder:
        """Do not look for areion.toml / pyproject.toml in the working directory."""
        self._config_search = False
        return self

    def _merge(self, layer: dict[str, Any]) -> None:
        from .config import _as_plugin_table, _merge

        self._overrides = _merge(_as_plugin_table(self._overrides), _as_plugin_table(layer))

    def build_app(self) -> App:
        """The configured, compiled ``App`` without a server around it."""
        if self._router is None:
            raise ValueError("AreionServerBuilder needs a router: call .with_router(Router()) before .build()")
        config = AreionConfig.load(self._overrides, file=self._config_file, search=self._config_search)
        _check_constant_headers(config)
        app = App(self._router, config, plugins=self._plugins, logger=self._logger,
                  engine=self._engine, orchestrator=self._orchestrator)
        return app.build()

    def build(self) -> AreionServer:
        return AreionServer(self.build_app(), self._ssl)


def _check_constant_headers(config: AreionConfig) -> None:
    """Refuse a ``Server`` or global header that would break the header block it is copied into."""
    if config.server_header:
        try:
            check_header("Server", config.server_header)
        except ValueError as exc:
            raise ConfigError("server_header", config.server_header, f"a valid header value ({exc})") from None
    for name in config.global_headers:
        # Framing is the server's: a global Content-Length or Transfer-Encoding would give
        # every response two conflicting framings (request smuggling's ambiguity, for proxies).
        if name.lower() in FRAMING:
            raise ConfigError(f"global_headers.{name}", config.global_headers[name],
                              "a header other than Content-Length, Transfer-Encoding or Connection "
                              "(the server writes those)")
