"""``areion templates list|compile``: see what the engine finds; compile everything ahead of time.

``compile`` reports every syntax error with its line (exit status 1 if any) and, in production
mode, fills the bytecode cache so the workers that start next load compiled templates.
"""

from __future__ import annotations

import argparse
import sys


def add_templates_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "templates", help="list the templates the engine finds, or compile them all (syntax check, bytecode cache)")
    parser.add_argument("action", choices=("list", "compile"))
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .engine import DefaultEngine

    app = args.load_app()
    engine = app.template_engine
    if not isinstance(engine, DefaultEngine):
        print("areion templates: the app's template engine is not areion-templates' DefaultEngine",
              file=sys.stderr)
        return 1
    engine.bind(app)
    assert engine.loader is not None
    if args.action == "list":
        for name in engine.loader.list_templates():
            print(name)
        return 0
    compiled, errors = engine.compile_all()
    for name, message in errors:
        print(f"{name}: {message}", file=sys.stderr)
    cache = "bytecode cache on" if engine.settings.bytecode_cache else "bytecode cache off"
    print(f"compiled {len(compiled)} template(s), {len(errors)} error(s); {cache}")
    return 1 if errors else 0
