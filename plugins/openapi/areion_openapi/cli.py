"""``areion openapi [--yaml] [--output FILE]``: write the document without serving the app."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .document import build_document
from .settings import OpenAPISettings


def add_openapi_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``openapi`` subcommand to the ``areion`` CLI."""
    parser = subparsers.add_parser(
        "openapi", help="write the app's OpenAPI 3.1 document (JSON, or YAML with --yaml)",
        description="Build the app's OpenAPI document from its routes and write it to stdout or "
                    "a file. The app is loaded, not served; the document is written whether or "
                    "not the docs pages are enabled.")
    parser.add_argument("--yaml", action="store_true", help="write YAML (needs PyYAML) instead of JSON")
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--app", help="module:attr of the app (default: `app` in areion.toml or AREION_APP)")
    parser.set_defaults(func=run_openapi_command)


def render(doc: dict[str, Any], as_yaml: bool) -> str:
    """The document as JSON (indented) or YAML; YAML without PyYAML raises ``RuntimeError``."""
    if as_yaml:
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise RuntimeError(
                "--yaml needs the PyYAML package: pip install PyYAML (or areion-openapi[yaml])"
            ) from None
        return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False))
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def run_openapi_command(args: argparse.Namespace) -> int:
    """Load the app, build its document and write it; returns the exit status."""
    app = args.load_app()
    build = getattr(app, "build", None)
    if callable(build):
        app = build() or app
    plugin = app.get_plugin("openapi") if hasattr(app, "get_plugin") else None
    service = getattr(plugin, "service", None)
    if service is not None and service.app is app:
        doc = service.document()
    else:  # the plugin is not enabled for this app: build from its config section anyway
        settings = OpenAPISettings.from_section(app.config.section("openapi"))
        doc = build_document(app.routes, settings, str(getattr(app, "root_path", "") or ""))
    try:
        text = render(doc, args.yaml)
    except RuntimeError as exc:
        print(f"areion openapi: {exc}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
