"""``areion cache clear [--key K] [--prefix P] [--tag T]``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .response_cache import get_cache
from .stores import StoreError


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``areion cache ...`` to the CLI."""
    parser = subparsers.add_parser("cache", help="manage the server-side response cache")
    app_help = "module:attr of the app (default: `app` in areion.toml or AREION_APP)"
    parser.add_argument("--app", help=app_help)
    commands = parser.add_subparsers(dest="cache_command", metavar="COMMAND")
    commands.required = True
    clear = commands.add_parser(
        "clear", help="remove cached responses (all of them unless --key/--prefix/--tag is given)"
    )
    # SUPPRESS: an unset --app here must not hide one given before "clear".
    clear.add_argument("--app", default=argparse.SUPPRESS, help=app_help)
    clear.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="K",
        help="an exact key such as '/users?page=2' (repeatable)",
    )
    clear.add_argument(
        "--prefix",
        action="append",
        default=[],
        metavar="P",
        help="every key starting with P, such as '/users' (repeatable)",
    )
    clear.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="T",
        help="every entry stored with tag T (repeatable)",
    )
    clear.set_defaults(func=clear_command)


def clear_command(args: argparse.Namespace) -> int:
    """Clear the configured store; exit 1 if it cannot be reached or lives in server memory."""
    app = args.load_app()
    cache = get_cache(app)
    if cache.settings.store == "memory":
        print(
            "areion cache clear: the memory store lives inside each server process and cannot be "
            "cleared from outside; use the filesystem or redis store, or call "
            "get_cache(app).clear() from the app",
            file=sys.stderr,
        )
        return 1

    async def run() -> int:
        try:
            if not (args.key or args.prefix or args.tag):
                await cache.clear(raise_errors=True)
                return -1
            removed = 0
            for key in args.key:
                removed += await cache.invalidate(key, raise_errors=True)
            for prefix in args.prefix:
                removed += await cache.invalidate(prefix=prefix, raise_errors=True)
            for tag in args.tag:
                removed += await cache.invalidate(tag=tag, raise_errors=True)
            return removed
        finally:
            await cache.store.close()

    try:
        removed = asyncio.run(run())
    except StoreError as exc:
        print(f"areion cache clear: {exc}", file=sys.stderr)
        return 1
    print(
        "cleared the cache"
        if removed < 0
        else f"removed {removed} cached entr{'y' if removed == 1 else 'ies'}"
    )
    return 0
