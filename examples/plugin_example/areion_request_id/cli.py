"""The ``areion request-id`` subcommand."""

from __future__ import annotations

import argparse
import sys

from .ids import new_request_id


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``areion request-id`` (settings and skipped routes of an app, or ``--new`` for an id)."""
    parser = subparsers.add_parser("request-id", help="show the request_id plugin's settings for an app")
    parser.add_argument("--new", action="store_true", help="print a fresh request id and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the app's request-id settings and the routes that skip ids; 1 if the plugin is off."""
    if args.new:
        print(new_request_id())
        return 0
    app = args.load_app()
    plugin = app.get_plugin("request_id")
    if plugin is None:
        print("areion: the request_id plugin is not enabled for this app", file=sys.stderr)
        return 1
    settings = plugin.settings
    print(f"header: {settings.header}")
    print(f"trust_incoming: {str(settings.trust_incoming).lower()}")
    print(f"max_length: {settings.max_length}")
    print(f"timing: {str(settings.timing).lower()}")
    print(f"skipped routes: {', '.join(plugin.skipped) or '-'}")
    return 0
