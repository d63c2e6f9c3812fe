"""Where and how to reach Redis: one frozen ``RedisSettings``, read from a config section.

Every plugin that keeps state in Redis reads its connection the same way, so a deployment
moves from one server to Sentinel or Cluster by changing one value, not one per plugin. The
settings are hashable on purpose: ``get_client`` keeps one client per distinct settings, so
two plugins pointed at the same Redis share one pool.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from areion_core import ConfigError
from areion_core.plugin_api import SettingsReader

from ._url import DEFAULT_PORTS, Address, Mode, UrlError, parse_address, parse_url, redact

__all__ = ["RedisSettings"]

MODES: tuple[Mode, ...] = ("standalone", "sentinel", "cluster")
#: Keys that say where Redis is; a ``url`` replaces all of them.
ADDRESS_KEYS = ("mode", "host", "port", "path", "db", "sentinels", "service", "nodes")
OPTION_KEYS = (
    "username", "password", "sentinel_username", "sentinel_password",
    "tls", "tls_ca_file", "tls_cert_file", "tls_key_file", "tls_verify",
    "socket_timeout", "connect_timeout", "retries", "retry_on_timeout", "backoff_base", "backoff_cap",
    "health_check_interval", "max_connections", "protocol",
)
KEYS = ("url", *ADDRESS_KEYS, *OPTION_KEYS)
#: Which address keys each mode takes (``mode`` itself is always allowed).
MODE_KEYS: dict[Mode, frozenset[str]] = {
    "standalone": frozenset({"host", "port", "path", "db"}),
    "sentinel": frozenset({"sentinels", "service", "db"}),
    "cluster": frozenset({"nodes"}),
}


@dataclass(frozen=True)
class RedisSettings:
    """One Redis deployment and the client options to reach it (hashable: a cache key).

    ``mode`` is ``standalone`` (``host``/``port``/``db``, or the unix socket ``path``),
    ``sentinel`` (``sentinels`` asked for the primary of ``service``) or ``cluster``
    (``nodes`` to discover the cluster from). Passwords are left out of ``repr``.
    """

    mode: Mode = "standalone"
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    db: int = 0
    sentinels: tuple[Address, ...] = ()
    service: str = ""
    nodes: tuple[Address, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: Credentials for the sentinels themselves, when they require AUTH (often they do not).
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_verify: bool = True
    socket_timeout: float = 1.0
    connect_timeout: float = 1.0
    #: Retries of a command that failed on a broken connection (or a timeout), with jittered
    #: exponential backoff from ``backoff_base`` up to ``backoff_cap`` seconds between tries.
    retries: int = 3
    #: Whether a timeout is retried too. Off for callers that would rather fail fast on a slow
    #: server than wait ``retries`` more timeouts (a cache that can serve uncached instead).
    retry_on_timeout: bool = True
    backoff_base: float = 0.05
    backoff_cap: float = 1.0
    #: Seconds a pooled connection may sit idle before it is PINGed on its next use (0: never).
    health_check_interval: float = 0.0
    max_connections: int = 64
    #: RESP version: 3 is what server-assisted client-side caching (CLIENT TRACKING) needs.
    protocol: int = 2

    # --- reading ----------------------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisSettings:
        """Settings from one URL (any accepted form); ``options`` are the other fields."""
        parsed = parse_url(url)
        host, port = parsed.addresses[0] if parsed.mode == "standalone" and parsed.addresses else ("127.0.0.1", 6379)
        return cls(
            mode=parsed.mode, host=host, port=port, path=parsed.path, db=parsed.db,
            sentinels=parsed.addresses if parsed.mode == "sentinel" else (),
            service=parsed.service, nodes=parsed.addresses if parsed.mode == "cluster" else (),
            username=parsed.username, password=parsed.password, tls=parsed.tls, **options,
        )

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | str | None, key_prefix: str) -> RedisSettings:
        """Read and check a config value: a URL string, or a table (``url = ...`` or ``mode = ...``).

        Every error is a ``ConfigError`` naming ``<key_prefix>.<key>``; an empty or absent
        section is a Redis on 127.0.0.1:6379, database 0.
        """
        if isinstance(section, str):
            return _from_url_value(section, key_prefix)
        if section is not None and not isinstance(section, Mapping):
            raise ConfigError(key_prefix, section, "a Redis URL or a table")
        reader = SettingsReader(key_prefix, section, keys=KEYS)
        fields: dict[str, Any] = {}
        if "url" in reader:
            fields.update(_url_fields(reader))
        else:
            fields.update(_table_fields(reader))
        fields.update(_option_fields(reader, fields))
        return cls(**fields)

    # --- describing -------------------------------------------------------------------------
    def describe(self) -> str:
        """Where this points, without credentials: for logs, errors and ``/readyz``."""
        scheme = "rediss" if self.tls else "redis"
        if self.mode == "sentinel":
            hosts = ",".join(_show(a) for a in self.sentinels)
            return f"{scheme}+sentinel://{hosts}/{self.service}/{self.db}"
        if self.mode == "cluster":
            return f"{scheme}+cluster://{','.join(_show(a) for a in self.nodes)}"
        if self.path is not None:
            return f"unix://{self.path}?db={self.db}"
        return f"{scheme}://{_show((self.host, self.port))}/{self.db}"


def _show(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _from_url_value(value: str, key: str) -> RedisSettings:
    # A bare URL (``redis = "redis://..."``): errors name the key itself, not ``<key>.url``.
    parent, _, name = key.rpartition(".")
    reader = SettingsReader(parent, {name: value})
    url = reader.text(name, "")
    try:
        return RedisSettings.from_url(url)
    except UrlError as exc:
        raise reader.error(name, redact(url), str(exc)) from None


def _url_fields(reader: SettingsReader) -> dict[str, Any]:
    for name in ADDRESS_KEYS:
        if name in reader:
            raise reader.error(name, reader.value(name), "no address keys beside url (give url or them, not both)")
    url = reader.text("url", "")
    try:
        parsed = RedisSettings.from_url(url)
    except UrlError as exc:
        raise reader.error("url", redact(url), str(exc)) from None
    fields = {name: getattr(parsed, name) for name in (*ADDRESS_KEYS, "username", "password", "tls")}
    for name in ("username", "password"):
        if fields[name] is not None and name in reader:
            raise reader.error(name, "***" if name == "password" else reader.value(name),
                               f"no {name} here: the url already has one")
    return fields


def _table_fields(reader: SettingsReader) -> dict[str, Any]:
    mode: Mode = reader.choice("mode", "standalone", MODES)  # type: ignore[assignment]
    for name in ADDRESS_KEYS[1:]:
        if name in reader and name not in MODE_KEYS[mode]:
            raise reader.error(name, reader.value(name), f"no {name} with mode = {mode!r}")
    if mode == "standalone":
        if "path" in reader and ("host" in reader or "port" in reader):
            raise reader.error("path", reader.value("path"), "a unix socket path or host/port, not both")
        return {
            "mode": mode,
            "host": reader.text("host", "127.0.0.1"),
            "port": reader.integer("port", 6379, minimum=1, maximum=65535),
            "path": reader.text("path", None),
            "db": reader.integer("db", 0, minimum=0),
        }
    list_key = "sentinels" if mode == "sentinel" else "nodes"
    if list_key not in reader:
        raise reader.error(list_key, None, f"a list of \"host:port\" with mode = {mode!r}")
    default_port = DEFAULT_PORTS[mode]

    def address(name: str, value: Any) -> Address:
        text = reader.as_text(name, value, expected='a list of "host:port"')
        try:
            return parse_address(text, default_port)
        except UrlError as exc:
            raise reader.error(name, value, f'a list of "host:port": {exc}') from None

    addresses = tuple(reader.items(list_key, [], item=address, expected='a list of "host:port"'))
    if not addresses:
        raise reader.error(list_key, [], 'at least one "host:port"')
    if mode == "cluster":
        return {"mode": mode, "nodes": addresses}
    if "service" not in reader:
        raise reader.error("service", None, "the service (master) name the sentinels monitor")
    return {"mode": mode, "sentinels": addresses, "service": reader.text("service", ""),
            "db": reader.integer("db", 0, minimum=0)}


def _tls_file(reader: SettingsReader, name: str) -> str | None:
    path = reader.text(name, None)
    if path is not None and not os.path.isfile(path):
        raise reader.error(name, path, "the path of a readable file")
    return path


def _option_fields(reader: SettingsReader, fields: dict[str, Any]) -> dict[str, Any]:
    tls = reader.boolean("tls", fields.get("tls", False))
    if fields.get("tls") and "tls" in reader and not tls:
        raise reader.error("tls", reader.value("tls"), "no tls = false beside a rediss:// url")
    if fields.get("path") is not None and tls:
        raise reader.error("tls", True, "no TLS on a unix socket")
    if not tls:
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file", "tls_verify"):
            if name in reader:
                raise reader.error(name, reader.value(name), "TLS on (a rediss:// url or tls = true) to use it")
    options: dict[str, Any] = {
        "tls": tls,
        "tls_ca_file": _tls_file(reader, "tls_ca_file"),
        "tls_cert_file": _tls_file(reader, "tls_cert_file"),
        "tls_key_file": _tls_file(reader, "tls_key_file"),
        "tls_verify": reader.boolean("tls_verify", True),
        "socket_timeout": reader.seconds("socket_timeout", 1.0),
        "connect_timeout": reader.seconds("connect_timeout", 1.0),
        "retries": reader.integer("retries", 3, minimum=0, maximum=100),
        "retry_on_timeout": reader.boolean("retry_on_timeout", True),
        "backoff_base": reader.seconds("backoff_base", 0.05),
        "backoff_cap": reader.seconds("backoff_cap", 1.0),
        "health_check_interval": reader.seconds("health_check_interval", 0.0, zero=True),
        "max_connections": reader.integer("max_connections", 64, minimum=1),
        "protocol": reader.integer("protocol", 2, minimum=2, maximum=3, expected="2 or 3 (the RESP version)"),
    }
    if options["tls_key_file"] is not None and options["tls_cert_file"] is None:
        raise reader.error("tls_key_file", options["tls_key_file"], "tls_cert_file beside it")
    if options["backoff_cap"] < options["backoff_base"]:
        raise reader.error("backoff_cap", options["backoff_cap"], f">= backoff_base ({options['backoff_base']:g})")
    for name in ("username", "password"):
        if name in reader:
            options[name] = reader.text(name, None)
    for name in ("sentinel_username", "sentinel_password"):
        if name in reader and fields.get("mode") != "sentinel":
            raise reader.error(name, "***" if name.endswith("password") else reader.value(name),
                               "mode = 'sentinel' (or a redis+sentinel:// url) to use it")
        options[name] = reader.text(name, None)
    return options
