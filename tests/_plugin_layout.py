"""Where the plugins are: every folder in ``plugins/``, and the example plugin.

The skeleton and plugin-API tests are parametrised over ``plugin_dirs()``, so a plugin added
to ``plugins/`` is checked without anyone editing a list.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINT_GROUP = "areion.plugins"


@dataclass(frozen=True)
class PluginDir:
    """One plugin distribution in the repository, as its ``pyproject.toml`` describes it."""

    root: Path
    #: The ``areion.plugins`` entry points: name -> "module:attr".
    entry_points: dict[str, str]

    @property
    def label(self) -> str:
        return str(self.root.relative_to(ROOT))

    @property
    def name(self) -> str:
        """The plugin's name: its one entry point's name."""
        return next(iter(self.entry_points))

    @property
    def target(self) -> tuple[str, str]:
        """``(module, attribute)`` of the entry point."""
        module, _, attr = self.entry_points[self.name].partition(":")
        return module.strip(), attr.strip()

    @property
    def package_name(self) -> str:
        return self.target[0].split(".")[0]

    @property
    def package(self) -> Path:
        return self.root / self.package_name

    def modules(self) -> Iterator[Path]:
        """Every Python module of the plugin's package, sub-packages included."""
        yield from sorted(self.package.rglob("*.py"))


def plugin_dirs() -> list[PluginDir]:
    """Every folder in ``plugins/`` (one without a ``pyproject.toml`` has no entry points), and the example."""
    roots = sorted(d for d in (ROOT / "plugins").iterdir() if d.is_dir() and not d.name.startswith((".", "_")))
    roots.append(ROOT / "examples" / "plugin_example")
    found = []
    for root in roots:
        project = {}
        if (root / "pyproject.toml").is_file():
            with (root / "pyproject.toml").open("rb") as fh:
                project = tomllib.load(fh).get("project", {})
        found.append(PluginDir(root, dict(project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {}))))
    return found
