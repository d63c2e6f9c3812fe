"""The ``areion`` command: run an app, and inspect plugins, routes and configuration.

``areion run module:attr`` serves an ``AreionServer`` (or an ``App``) found at ``attr`` in
``module`` (a dotted module or a ``path/to/file.py``). Plugins add subcommands through the
``cli_commands`` hook; they load the app with ``args.load_app()``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._log_config import load_log_config
from .app import App
from .config import AreionConfig
from .exceptions import ConfigError, PluginError, RouteError
from .plugins import PluginInfo, PluginRegistry, discover, load_entry_point, select
from .runner import AreionServer
from .server import ServerLimits, lifeline


def load_target(spec: str) -> AreionServer:
    """Import ``module:attr`` (or ``file.py:attr``) and return it as an ``AreionServer``."""
    module_name, sep, attr = spec.partition(":")
    if not sep:
        attr = "server"
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name).resolve()
        if not path.is_file():
            raise SystemExit(f"areion: no such file {module_name!r}")
        name = path.stem
        mod_spec = importlib.util.spec_from_file_location(name, path)
        assert mod_spec is not None and mod_spec.loader is not None
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        mod_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise SystemExit(f"areion: cannot import {module_name!r}: {exc}") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise SystemExit(f"areion: {module_name!r} has no attribute {attr!r}") from None
    if callable(obj) and not isinstance(obj, (AreionServer, App)):
        obj = obj()  # an app factory
    if isinstance(obj, App):
        obj = AreionServer(obj)
    if hasattr(obj, "build") and not isinstance(obj, AreionServer):
        obj = obj.build()  # an AreionServerBuilder
    if not isinstance(obj, AreionServer):
        raise SystemExit(f"areion: {spec} is a {type(obj).__name__}, not an AreionServer, App or builder")
    return obj


def _app_spec(args: argparse.Namespace) -> str:
    spec = getattr(args, "app", None) or os.environ.get("AREION_APP")
    if not spec:
        found = AreionConfig.load()
        spec = found.app
    if not spec:
        raise SystemExit("areion: name the app with --app module:attr or `app = \"module:attr\"` in areion.toml")
    return spec


def _cmd_run(args: argparse.Namespace) -> int:
    if args.reload:
        return _reload_loop(args)
    if args.log_config:
        load_log_config(args.log_config)  # a bad file: LogConfigError (a ConfigError), one line, exit 1
    server = load_target(args.target)
    app = server.app
    if args.host:
        server.host = args.host
    if args.port is not None:
        server.port = args.port
    if args.workers is not None:
        app.config.workers = args.workers
        app.worker_count = args.workers
    if args.no_access_log or args.access_log_format:
        app.set_access_log(not args.no_access_log, args.access_log_format)
    return server.run()


def _watched_files(root: Path) -> dict[Path, float]:
    out: dict[Path, float] = {}
    for path in root.rglob("*"):
        if path.suffix in (".py", ".toml", ".html", ".jinja", ".j2") and ".venv" not in path.parts \
                and "node_modules" not in path.parts:
            with contextlib.suppress(OSError):
                out[path] = path.stat().st_mtime
    return out


def _reload_loop(args: argparse.Namespace) -> int:
    """Run the app in a child process and restart it whenever a source file changes.

    The child gets a lifeline (it stops when this process is gone, even after ``kill -9``);
    SIGTERM, SIGINT or SIGHUP here stop the child (and, through it, its workers) first.
    """
    cmd = [sys.executable, "-m", "areion_core", "run", args.target]
    for flag, value in (("--host", args.host), ("--port", args.port), ("--workers", args.workers),
                        ("--access-log-format", args.access_log_format), ("--log-config", args.log_config)):
        if value is not None:
            cmd += [flag, str(value)]
    if args.no_access_log:
        cmd.append("--no-access-log")
    root = Path.cwd()
    stop: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stop.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    life_read, life_write = lifeline.make()
    try:
        while True:
            snapshot = _watched_files(root)
            child = subprocess.Popen(cmd, pass_fds=(life_read,), env={**os.environ, **lifeline.child_env(life_read)})
            while child.poll() is None and not stop:
                time.sleep(0.2)
                if _watched_files(root) != snapshot:
                    print("areion: change detected, restarting", file=sys.stderr, flush=True)
                    _stop_child(child)
                    break
            else:
                if stop:
                    _stop_child(child)
                    return 0
                return child.returncode or 0
    finally:
        os.close(life_read)
        os.close(life_write)


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then, if it has not drained in time, SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(ServerLimits().shutdown_grace + 5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _cmd_plugins(args: argparse.Namespace) -> int:
    spec = getattr(args, "app", None) or os.environ.get("AREION_APP") or AreionConfig.load().app
    if spec:
        infos = load_target(spec).app.plugin_infos
    else:
        infos, _ = _load_selected()
    rows = [("NAME", "VERSION", "DISTRIBUTION", "SOURCE", "ENABLED", "WHY", "HOOKS")]
    for i in infos:
        rows.append((i.name, i.version, i.distribution, i.source, "yes" if i.enabled else "no", i.reason,
                     ", ".join(i.hooks) or "-"))
    _table(rows)
    return 0


def _cmd_routes(args: argparse.Namespace) -> int:
    app = load_target(_app_spec(args)).app
    rows = [("METHODS", "PATH", "HANDLER", "NAME", "PLUGINS")]
    for route in app.routes:
        handler = route.handler
        where = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"
        plugins = set(route.wrapped_by)
        for chain in (route.request_chain, route.response_chain, route.exception_chain, route.sent_chain):
            plugins.update(name for name, _, _ in chain or () if not name.startswith("areion."))
        rows.append((",".join(sorted(route.methods)), route.path, where, route.name, ", ".join(sorted(plugins)) or "-"))
    _table(rows)
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    spec = getattr(args, "app", None)
    config = load_target(spec).app.config if spec else AreionConfig.load()
    print(f"# source: {config.source or '(defaults and environment only)'}")
    print(json.dumps(config.masked(), indent=2, default=str, sort_keys=True))
    return 0


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="areion", description="Areion web framework")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="serve an app: areion run module:attr")
    run.add_argument("target", help="module:attr (or path/to/file.py:attr) of an AreionServer, App or builder")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--workers", type=int)
    run.add_argument("--reload", action="store_true", help="restart when source files change (development)")
    run.add_argument("--no-access-log", action="store_true", help="do not write the access log")
    run.add_argument("--access-log-format", choices=("text", "json"),
                     help="the access log's format (default: access_log_format in the config, else text)")
    run.add_argument("--log-config", metavar="FILE",
                     help="configure logging from a logging.config.dictConfig file (TOML, JSON or YAML)")
    run.set_defaults(func=_cmd_run)
    for name, func, text in (("plugins", _cmd_plugins, "list installed plugins and whether they are enabled"),
                             ("routes", _cmd_routes, "list the app's routes and the plugins on each"),
                             ("config", _cmd_config, "print the merged configuration, secrets masked")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--app", help="module:attr of the app (default: `app` in areion.toml or AREION_APP)")
        p.set_defaults(func=func)
    _plugin_commands(sub)
    return parser


def _load_selected() -> tuple[list[PluginInfo], PluginRegistry]:
    """The plugins the configuration selects, loaded into a registry of their own (no app)."""
    installed = discover()
    infos = select(AreionConfig.load(), installed)
    registry = PluginRegistry()
    for info in infos:
        if info.enabled:
            info.hooks = registry.register(load_entry_point(info.name, installed[info.name]), info.name)
    return infos, registry


def _plugin_commands(sub: Any) -> None:
    """Let the selected plugins add their own subcommands."""
    try:
        _, registry = _load_selected()
    except (ConfigError, PluginError) as exc:
        print(f"areion: plugins not loaded for the CLI: {exc}", file=sys.stderr)
        return
    before = set(sub.choices)
    try:
        registry.call_each("cli_commands", subparsers=sub)
    except (ConfigError, PluginError) as exc:
        print(f"areion: {exc}", file=sys.stderr)
    for name in set(sub.choices) - before:
        parser = sub.choices[name]
        if not any(a.dest == "app" for a in parser._actions):
            parser.add_argument("--app", help="module:attr of the app (default: `app` in areion.toml)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args.load_app = lambda: load_target(_app_spec(args)).app
    try:
        return int(args.func(args) or 0)
    except (ConfigError, PluginError, RouteError) as exc:
        print(f"areion: {exc}", file=sys.stderr)
        return 1
