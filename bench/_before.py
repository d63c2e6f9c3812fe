"""``--before REV``: Areion rows that run an earlier revision's code beside the current ones.

The revision's tree is written once to ``bench/.work/before-<short sha>/`` (``git archive REV
| tar -x``; reused when it is there). Each before-row is a copy of its current counterpart
(the same command, the same environment, the same checks) with two differences, so that
every Areion module it imports comes from the old tree:

- its server runs with the old tree as working directory: ``python -m areion_core`` and
  ``examples.showcase.app`` resolve there (``-m`` puts the working directory first on
  ``sys.path``);
- ``PYTHONPATH`` holds the old tree, its ``libs/<name>`` and ``plugins/<name>`` folders and
  ``examples/plugin_example``: the plugins (and the example plugin) that the bench venv's
  entry points name are imported from the old tree too. The venv's editable installs of the
  current tree come after ``sys.path`` (setuptools appends their finders to
  ``sys.meta_path``), so they are only reached for a module the old tree lacks — which the
  import check below catches.

Before the first measurement the runner checks each before-row (``check_imports``): the bench
Python, with the row's working directory and environment, imports ``areion_core``, the
showcase app, the caching plugin, the example plugin and every plugin the row selects
(through the installed entry points, as the server does), and every ``areion*`` or
``examples`` module it loaded must be a file inside the old tree.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from _frameworks import Framework

#: The before-rows: name → the current row they are a copy of.
BEFORE_ROWS: dict[str, str] = {
    "areion-before": "areion",
    "areion-default-before": "areion-default",
    "areion-bare-before": "areion-bare",
}
COUNTERPARTS: dict[str, str] = {current: before for before, current in BEFORE_ROWS.items()}
#: Written into a tree this runner materialised: the full sha it holds.
STAMP = ".bench-before-sha"
#: Imported by every check, whatever the row selects (the brief's minimum).
CHECKED_MODULES = ("areion_core", "areion_caching", "areion_request_id", "examples.showcase.app")


class BeforeFailed(Exception):
    """The revision does not resolve, its tree cannot be written, or a before-row would
    import code from outside the old tree."""


@dataclass
class BeforeTree:
    """The earlier revision the before-rows run, and where its tree is."""

    rev: str
    sha: str
    short: str
    subject: str
    path: Path
    #: Whether this run wrote the tree (``False``: an existing one was reused).
    created: bool = False
    #: Per before-row, what the import check found: module → file.
    checked: dict[str, dict[str, str]] = field(default_factory=dict)


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BeforeFailed(f"git {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()


def materialise(rev: str, root: Path, work_dir: Path) -> BeforeTree:
    """Resolve ``rev`` and write its tree to ``work_dir/before-<short sha>`` (once: an
    existing tree is reused). The tree is extracted beside its place and renamed into it,
    so an interrupted extraction is never taken for a tree."""
    try:
        sha = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except BeforeFailed:
        raise BeforeFailed(f"{rev!r} is not a commit of {root}") from None
    short = _git(root, "rev-parse", "--short", sha)
    subject = _git(root, "log", "-1", "--format=%s", sha)
    path = work_dir / f"before-{short}"
    tree = BeforeTree(rev=rev, sha=sha, short=short, subject=subject, path=path)
    if path.is_dir():
        stamp = path / STAMP
        if stamp.is_file() and stamp.read_text().strip() != sha:
            raise BeforeFailed(
                f"{path} holds {stamp.read_text().strip()}, not {sha}: remove it and run again"
            )
    else:
        partial = work_dir / f".before-{short}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.Popen(
            ["git", "-C", str(root), "archive", "--format=tar", sha],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert archive.stdout is not None
        tar = subprocess.run(
            ["tar", "-x", "-C", str(partial)],
            stdin=archive.stdout,
            capture_output=True,
            check=False,
        )
        archive.stdout.close()
        archive_error = archive.stderr.read().decode(errors="replace") if archive.stderr else ""
        if archive.wait() != 0 or tar.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise BeforeFailed(
                f"git archive {sha} | tar -x failed: "
                f"{archive_error.strip() or tar.stderr.decode(errors='replace').strip()}"
            )
        (partial / STAMP).write_text(sha + "\n")
        partial.rename(path)
        tree.created = True
    if not (path / "areion_core").is_dir():
        raise BeforeFailed(f"{path} has no areion_core/: not an Areion tree")
    return tree


def python_path(tree: Path) -> str:
    """The old tree, each of its ``libs/<name>`` and ``plugins/<name>`` folders (the shared
    libraries, ``areion_redis``, came after the plugins) and the example plugin."""
    entries = [tree]
    for folder in ("libs", "plugins"):
        if (tree / folder).is_dir():
            entries += sorted(p for p in (tree / folder).iterdir() if p.is_dir())
    example = tree / "examples" / "plugin_example"
    if example.is_dir():
        entries.append(example)
    return os.pathsep.join(str(entry) for entry in entries)


def old_plugins(tree: Path) -> list[str]:
    """The plugins the old tree has: its ``plugins/<name>`` folders (the folder's name is the
    entry point's) and the example plugin's ``request_id``."""
    names = sorted(p.name for p in (tree / "plugins").iterdir() if (p / "pyproject.toml").is_file())
    if (tree / "examples" / "plugin_example").is_dir():
        names.append("request_id")
    return names


def before_plugins(env: Mapping[str, str], tree: Path) -> str:
    """``AREION_PLUGINS`` for a before-row: the row's selection (every installed plugin when it
    sets none), less the plugins the old tree does not have. The bench venv also holds plugins
    written after REV; they import names REV's core does not export, and REV's ``make run``
    did not serve them."""
    have = old_plugins(tree)
    selected = env.get("AREION_PLUGINS")
    if selected is None:
        return ",".join(have)
    return ",".join(p.strip() for p in selected.split(",") if p.strip() in have)


def before_framework(current: Framework, tree: BeforeTree) -> Framework:
    """``current``, running the old tree's code: the same command and environment, the old
    tree as working directory and its folders on ``PYTHONPATH``, and only the plugins the old
    tree has (:func:`before_plugins`)."""
    return dataclasses.replace(
        current,
        name=COUNTERPARTS[current.name],
        env={
            **current.env,
            "PYTHONPATH": python_path(tree.path),
            "AREION_PLUGINS": before_plugins(current.env, tree.path),
        },
        cwd=tree.path,
        before_of=current.name,
        description=f"`{current.name}` running {tree.short}'s code "
        f"(`bench/.work/{tree.path.name}/`): {current.description}",
    )


#: Run by the bench Python with a before-row's working directory and environment: imports
#: what the server imports and prints every Areion module's file as JSON.
_CHECK = """
import importlib, json, os, sys
from importlib import metadata
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
selected = os.environ.get("AREION_PLUGINS")
wanted = None if selected is None else {p.strip() for p in selected.split(",") if p.strip()}
plugins = {}
for ep in metadata.entry_points(group="areion.plugins"):
    if wanted is None or ep.name in wanted:
        ep.load()
        plugins[ep.name] = ep.value
files = {
    name: getattr(module, "__file__", None)
    for name, module in sorted(sys.modules.items())
    if name.split(".")[0].startswith("areion") or name.split(".")[0] == "examples"
}
print(json.dumps({"files": files, "plugins": plugins, "path": sys.path}))
"""


def check_imports(
    framework: Framework, env: Mapping[str, str], python: str, tree: BeforeTree
) -> dict[str, str]:
    """Import, as ``framework``'s server would, what it runs; raise ``BeforeFailed`` unless
    every Areion module (core, plugins, the example plugin, the showcase) is a file of the
    old tree. Returns module → file."""
    assert framework.cwd is not None
    done = subprocess.run(
        [python, "-c", _CHECK, json.dumps(CHECKED_MODULES)],
        cwd=framework.cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BeforeFailed(
            f"{framework.name}: importing {tree.short}'s code failed:\n{done.stderr.strip()}"
        )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # A file relative to the working directory (``sys.path[0]`` is "" under ``-c``) is
    # taken from there.
    files: dict[str, str | None] = {
        name: None if file is None else str((framework.cwd / file).resolve())
        for name, file in report["files"].items()
    }
    root = tree.path.resolve()
    outside = {
        name: file for name, file in files.items()
        if file is None or not Path(file).is_relative_to(root)
    }  # fmt: skip
    # Packages without a file (namespace packages) are outside by definition: an Areion
    # module that is not a file of the old tree is not the old code.
    if outside:
        shown = sorted(outside.items())[:12]
        listed = "\n".join(f"  {name}: {file}" for name, file in shown)
        if len(outside) > len(shown):
            listed += f"\n  … and {len(outside) - len(shown)} more"
        raise BeforeFailed(
            f"{framework.name}: modules imported from outside {root} (not {tree.short}'s "
            f"code):\n{listed}"
        )
    missing = [name for name in CHECKED_MODULES if name not in files]
    if missing:
        raise BeforeFailed(f"{framework.name}: {', '.join(missing)} not imported")
    checked = {name: str(file) for name, file in files.items()}
    tree.checked[framework.name] = checked
    return checked


def with_before_rows(
    frameworks: Iterable[Framework], tree: BeforeTree, wanted: Iterable[str] | None
) -> list[Framework]:
    """``frameworks`` with a before-row right after each counterpart: the named ones
    (``wanted``), or every counterpart selected when none is named."""
    selected = list(frameworks)
    names = {f.name for f in selected}
    chosen = (
        set(wanted) if wanted is not None
        else {COUNTERPARTS[name] for name in names if name in COUNTERPARTS}
    )  # fmt: skip
    out: list[Framework] = []
    added: set[str] = set()
    for framework in selected:
        out.append(framework)
        before = COUNTERPARTS.get(framework.name)
        if before in chosen and before not in added:
            out.append(before_framework(framework, tree))
            added.add(before)
    return out
