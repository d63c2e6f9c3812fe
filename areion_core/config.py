"""Configuration: areion.toml or ``[tool.areion]``, then ``AREION_*`` variables, then builder
arguments, in rising precedence. Every key is validated at startup; a bad one stops startup
with the key, the value and what was expected.

Plugin selection is ``plugins = [...]`` at the top level, or ``enabled = [...]`` inside the
``[plugins]`` table when the file also has ``[plugins.<name>]`` sections (TOML cannot hold
both under one key). ``${VAR}`` (or ``${VAR:-default}``) in any value reads the environment
(``settings.expand_env``): numbers, booleans and lists may be written that way too, a list
as one ``${VAR}`` of comma-separated items. Plugin sections are expanded when their plugin
reads them (``section``), so an unselected plugin's variables need not be set.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ._forwarded import EXPECTED_ENTRY, TrustedProxies
from ._log_config import SUFFIXES
from .exceptions import ConfigError
from .log import LOG_FORMATS
from .server.limits import ServerLimits
from .settings import SettingsReader, expand_env

_SECRET_WORDS = ("password", "secret", "token", "key", "credential", "url", "dsn")
_SECRET_URL = re.compile(r"(://[^:/@]*:)([^@]*)(@)")

_TOP_KEYS = {
    "app", "host", "port", "workers", "development", "plugins", "disabled", "server_header",
    "global_headers", "access_log", "access_log_format", "access_log_file", "log_level", "log_file",
    "log_format", "log_config", "sync_handlers", "thread_pool_size", "static_dir", "static_prefix", "root_path",
    "limits", "tls", "reload", "hook_timeout", "forwarded_allow_ips",
}
#: Seconds an async plugin hook may run before it is cancelled (see ``hook_timeout``): as
#: long as a client may take to send its headers (``limits.header_timeout``), far above
#: what a working remote store or service needs, and below the 30-60 s after which proxies
#: and load balancers give up, so the client gets our 500 rather than their 504.
DEFAULT_HOOK_TIMEOUT = 10.0


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = dict(v) if isinstance(v, Mapping) else v
    return out


def _as_plugin_table(layer: Mapping[str, Any]) -> dict[str, Any]:
    """Write a top-level ``plugins = [...]`` list as ``plugins.enabled`` so layers merge by key."""
    out = dict(layer)
    if isinstance(out.get("plugins"), (list, str)):
        out["plugins"] = {"enabled": out["plugins"]}
    return out


def _split_plugins(raw: dict[str, Any]) -> dict[str, Any]:
    """Normalise ``plugins`` into ``enabled`` (list or None), ``disabled`` and ``sections``.

    ``enabled``, ``disabled`` and a top-level ``plugins`` list are expanded here (each may be
    one ``${VAR}`` of comma-separated names); the sections are expanded by ``section()``.
    """
    out = dict(raw)
    plugins = out.pop("plugins", None)
    sections: dict[str, Any] = {}
    enabled: list[str] | None = None
    disabled = _plugin_names("disabled", out.pop("disabled", None) or [])
    if isinstance(plugins, (list, str)):
        enabled = _plugin_names("plugins", expand_env(plugins, "plugins"))
    elif isinstance(plugins, Mapping):
        for k, v in plugins.items():
            if k == "enabled":
                enabled = _plugin_names("plugins", expand_env(v, "plugins.enabled"))
            elif k == "disabled":
                disabled += _plugin_names("disabled", expand_env(v, "plugins.disabled"))
            elif isinstance(v, Mapping):
                sections[k] = dict(v)
            else:
                raise ConfigError(f"plugins.{k}", v, "a table [plugins.<name>] or the lists enabled/disabled")
    elif plugins is not None:
        raise ConfigError("plugins", plugins, "a list of plugin names or a table")
    out["_enabled"] = enabled
    out["_disabled"] = disabled
    out["_sections"] = sections
    return out


def _plugin_names(key: str, value: Any) -> list[str]:
    """A list of plugin names: an array, or one ``${VAR}`` of comma-separated names."""
    expected = "a list of plugin names"
    return _CORE.as_items(key, value, expected=expected,
                          item=lambda k, v: _CORE.as_text(k, v, expected=expected))


def find_config_file(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """areion.toml, else pyproject.toml with [tool.areion], in ``start`` (default: the cwd)."""
    base = start or Path.cwd()
    toml = base / "areion.toml"
    if toml.is_file():
        return toml, _load_toml(toml)
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        data = _load_toml(pyproject)
        section = data.get("tool", {}).get("areion")
        if isinstance(section, dict):
            return pyproject, section
    return None


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(file)", f"valid TOML ({exc})") from None


def _env_config(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    simple = {
        "AREION_APP": "app", "AREION_HOST": "host", "AREION_PORT": "port",
        "AREION_WORKERS": "workers", "AREION_DEVELOPMENT": "development",
        "AREION_LOG_LEVEL": "log_level", "AREION_LOG_FILE": "log_file",
        "AREION_LOG_FORMAT": "log_format", "AREION_LOG_CONFIG": "log_config",
        "AREION_ACCESS_LOG": "access_log", "AREION_ACCESS_LOG_FORMAT": "access_log_format",
        "AREION_ACCESS_LOG_FILE": "access_log_file",
        "AREION_STATIC_DIR": "static_dir",
        "AREION_SERVER_HEADER": "server_header", "AREION_ROOT_PATH": "root_path",
        "AREION_SYNC_HANDLERS": "sync_handlers", "AREION_HOOK_TIMEOUT": "hook_timeout",
    }
    for var, key in simple.items():
        if var in environ:
            out[key] = environ[var]
    if "AREION_PLUGINS" in environ:
        out["plugins"] = [p.strip() for p in environ["AREION_PLUGINS"].split(",") if p.strip()]
    if "AREION_DISABLE_PLUGINS" in environ:
        out["disabled"] = [p.strip() for p in environ["AREION_DISABLE_PLUGINS"].split(",") if p.strip()]
    if "AREION_FORWARDED_ALLOW_IPS" in environ:
        out["forwarded_allow_ips"] = environ["AREION_FORWARDED_ALLOW_IPS"].split(",")
    limits = {}
    for var, value in environ.items():
        if var.startswith("AREION_LIMITS_"):
            limits[var[len("AREION_LIMITS_"):].lower()] = _number(value, var)
    if limits:
        out["limits"] = limits
    return out


def _number(text: str, key: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(key, text, "a number") from None


#: Reads the core's own keys: their values may also come from AREION_* variables, so a
#: literal string is read as a number or a boolean too.
_CORE = SettingsReader("", None, strings=True)
_TRUE_WORDS, _FALSE_WORDS = ("1", "yes", "on"), ("0", "no", "off", "")


def _as_bool(key: str, value: Any) -> bool:
    # AREION_DEVELOPMENT=1 and friends: the core's switches also take 1/0, yes/no, on/off.
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE_WORDS:
        return False
    return _CORE.as_boolean(key, value)


def _as_int(key: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    rng = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
    return _CORE.as_integer(key, value, minimum=minimum, maximum=maximum, expected=f"a whole number {rng}")


def _as_seconds(key: str, value: Any) -> float:
    return _CORE.as_seconds(key, value)


def _limits(value: Any) -> ServerLimits:
    """The ``[limits]`` table as ServerLimits; an unknown key or a bad value raises ``ConfigError``."""
    if not isinstance(value, Mapping):
        raise ConfigError("limits", value, "a table of limits")
    known = {f.name: f for f in fields(ServerLimits)}
    values: dict[str, Any] = {}
    for key, given in value.items():
        if key not in known:
            raise ConfigError(f"limits.{key}", given, f"one of {', '.join(sorted(known))}")
        # Numbers given as text (${VAR}, AREION_LIMITS_*) are read as numbers.
        number = _number(given, f"limits.{key}") if isinstance(given, str) else given
        kind: type[int] | type[float] = int if isinstance(known[key].default, int) else float
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ConfigError(f"limits.{key}", given, f"a positive {kind.__name__}")
        if number <= 0:
            raise ConfigError(f"limits.{key}", given, "a value greater than 0")
        if kind is int and not float(number).is_integer():
            raise ConfigError(f"limits.{key}", given, "a whole number")
        values[key] = kind(number)
    return ServerLimits(**values)


@dataclass
class AreionConfig:
    """The merged, validated configuration of one app."""

    app: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    development: bool = False
    enabled_plugins: list[str] | None = None
    disabled_plugins: list[str] = field(default_factory=list)
    server_header: str | None = "areion"
    global_headers: dict[str, str] = field(default_factory=dict)
    access_log: bool = True
    access_log_format: str = "text"
    access_log_file: str | None = None
    log_level: str = "INFO"
    log_file: str | None = None
    log_format: str = "text"
    log_config: str | None = None
    sync_handlers: str = "thread"
    thread_pool_size: int | None = None
    static_dir: str | None = None
    static_prefix: str = "/static"
    root_path: str = ""
    limits: ServerLimits = field(default_factory=ServerLimits)
    tls: dict[str, str] | None = None
    reload: bool = False
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    #: Peers whose Forwarded / X-Forwarded-* headers are believed (None: nobody; see _forwarded.py).
    forwarded_allow_ips: TrustedProxies | None = None
    source: str | None = None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """The ``[plugins.<name>]`` table with ``${VAR}`` expanded ({} when absent).

        Expanded values are ``EnvText``; read the section with a ``SettingsReader`` to get
        them as the types the keys expect.
        """
        return expand_env(self.sections.get(name, {}), f"plugins.{name}")  # type: ignore[no-any-return]

    def masked(self) -> dict[str, Any]:
        """The merged configuration with secrets masked, for ``areion config``."""
        masked: dict[str, Any] = _mask(self.raw)
        return masked

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        *,
        file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        search: bool = True,
    ) -> AreionConfig:
        """Merge file, environment and ``overrides`` and validate the result."""
        merged: dict[str, Any] = {}
        source = None
        if file is not None:
            path = Path(file)
            data = _load_toml(path)
            if path.name == "pyproject.toml":
                data = data.get("tool", {}).get("areion", {})
            merged = _merge(merged, data)
            source = str(path)
        elif search:
            found = find_config_file()
            if found is not None:
                merged = _merge(merged, found[1])
                source = str(found[0])
        env = _env_config(os.environ if environ is None else environ)
        for layer in (env, dict(overrides or {})):
            merged = _merge(_as_plugin_table(merged), _as_plugin_table(layer))
        return cls.from_mapping(merged, source=source)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str | None = None) -> AreionConfig:
        unknown = set(data) - _TOP_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(key, data[key], f"a known key ({', '.join(sorted(_TOP_KEYS))})")
        raw = dict(data)
        # ${VAR} in plugin sections is read when the plugin asks (section()), not here.
        d = _split_plugins(expand_env({k: v for k, v in raw.items() if k != "plugins"})
                           | {"plugins": raw.get("plugins")})
        cfg = cls(source=source, raw=raw)
        cfg.enabled_plugins = d["_enabled"]
        cfg.disabled_plugins = d["_disabled"]
        cfg.sections = d["_sections"]
        for read in (_read_serving, _read_headers, _read_logging, _read_paths, _read_proxies):
            read(cfg, d)
        return cfg


def _read_serving(cfg: AreionConfig, d: dict[str, Any]) -> None:
    """app, host, port, workers, development, limits, tls, reload, hook_timeout, sync handlers."""
    if d.get("app") is not None:
        cfg.app = str(d["app"])
    if "host" in d:
        if not isinstance(d["host"], str) or not d["host"]:
            raise ConfigError("host", d["host"], "a host name or address")
        cfg.host = d["host"]
    if "port" in d:
        cfg.port = _as_int("port", d["port"], 0, 65535)
    if "workers" in d:
        cfg.workers = _as_int("workers", d["workers"], 1, 512)
    if "development" in d:
        cfg.development = _as_bool("development", d["development"])
    if "limits" in d:
        cfg.limits = _limits(d["limits"])
    if d.get("tls") is not None:
        tls = d["tls"]
        if not isinstance(tls, Mapping) or "certfile" not in tls:
            raise ConfigError("tls", tls, "a table with certfile (and keyfile)")
        cfg.tls = {str(k): str(v) for k, v in tls.items()}
    if "reload" in d:
        cfg.reload = _as_bool("reload", d["reload"])
    if "hook_timeout" in d:
        cfg.hook_timeout = _as_seconds("hook_timeout", d["hook_timeout"])
    if "sync_handlers" in d:
        if d["sync_handlers"] not in ("thread", "inline"):
            raise ConfigError("sync_handlers", d["sync_handlers"], "'thread' or 'inline'")
        cfg.sync_handlers = d["sync_handlers"]
    if d.get("thread_pool_size") is not None:
        cfg.thread_pool_size = _as_int("thread_pool_size", d["thread_pool_size"], 1, 1024)


def _read_headers(cfg: AreionConfig, d: dict[str, Any]) -> None:
    """server_header and global_headers."""
    if "server_header" in d:
        sh = d["server_header"]
        if isinstance(sh, str) and sh.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off", ""):
            cfg.server_header = sh
        else:
            cfg.server_header = "areion" if _as_bool("server_header", sh) else None
    if "global_headers" in d:
        gh = d["global_headers"]
        if not isinstance(gh, Mapping):
            raise ConfigError("global_headers", gh, "a table of header names to values")
        from .headers import check_header

        for k, v in gh.items():
            try:
                check_header(str(k), str(v))
            except ValueError as exc:
                raise ConfigError(f"global_headers.{k}", v, f"a valid header ({exc})") from None
        cfg.global_headers = {str(k): str(v) for k, v in gh.items()}


def _read_logging(cfg: AreionConfig, d: dict[str, Any]) -> None:
    """log_level, log_file, log_format, log_config, then the access log's keys."""
    if "log_level" in d:
        lvl = str(d["log_level"]).upper()
        if lvl not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError("log_level", d["log_level"], "DEBUG, INFO, WARNING, ERROR or CRITICAL")
        cfg.log_level = lvl
    if d.get("log_file") is not None:
        cfg.log_file = str(d["log_file"])
    if "log_format" in d:
        if d["log_format"] not in LOG_FORMATS:
            raise ConfigError("log_format", d["log_format"], "'text' or 'json'")
        cfg.log_format = str(d["log_format"])
    if d.get("log_config"):
        path = str(d["log_config"])
        if Path(path).suffix.lower() not in SUFFIXES or not Path(path).is_file():
            raise ConfigError("log_config", path, "an existing .toml, .json, .yaml or .yml file "
                              "(a logging.config.dictConfig dictionary)")
        cfg.log_config = path
    _read_access_log(cfg, d)


def _read_access_log(cfg: AreionConfig, d: dict[str, Any]) -> None:
    """access_log, access_log_format (log_format's unless given), access_log_file."""
    if "access_log" in d:
        cfg.access_log = _as_bool("access_log", d["access_log"])
    if "access_log_format" in d:
        if d["access_log_format"] not in ("text", "json"):
            raise ConfigError("access_log_format", d["access_log_format"], "'text' or 'json'")
        cfg.access_log_format = d["access_log_format"]
    else:
        cfg.access_log_format = cfg.log_format
    if d.get("access_log_file"):
        cfg.access_log_file = str(d["access_log_file"])


def _read_paths(cfg: AreionConfig, d: dict[str, Any]) -> None:
    """static_dir, static_prefix, root_path."""
    if d.get("static_dir") is not None:
        cfg.static_dir = str(d["static_dir"])
    if "static_prefix" in d:
        sp = str(d["static_prefix"])
        if not sp.startswith("/") or sp == "/":
            raise ConfigError("static_prefix", sp, "a path such as '/static'")
        cfg.static_prefix = sp.rstrip("/")
    if "root_path" in d:
        rp = str(d["root_path"])
        if rp and not rp.startswith("/"):
            raise ConfigError("root_path", rp, "'' or a path starting with '/'")
        cfg.root_path = rp.rstrip("/")


def _read_proxies(cfg: AreionConfig, d: dict[str, Any]) -> None:
    """forwarded_allow_ips: a list, or one string of comma-separated entries (env, ``${VAR}``)."""
    value = d.get("forwarded_allow_ips")
    if value is None:
        return
    entries = value.split(",") if isinstance(value, str) else value
    if not isinstance(entries, (list, tuple)) or not all(isinstance(e, str) for e in entries):
        raise ConfigError("forwarded_allow_ips", value, f"a list of entries, each {EXPECTED_ENTRY}")
    try:
        # An item may itself be a comma-separated ${VAR} (["${PROXIES}"]).
        cfg.forwarded_allow_ips = TrustedProxies.parse(part for entry in entries for part in entry.split(","))
    except ValueError as exc:
        raise ConfigError("forwarded_allow_ips", exc.args[0], EXPECTED_ENTRY) from None


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str):
        if "${" in value:
            return value  # a reference to the environment is not itself a secret
        if any(w in key.lower() for w in _SECRET_WORDS):
            masked = _SECRET_URL.sub(r"\1***\3", value)
            return masked if masked != value or "url" in key.lower() else "***"
    return value
