"""Which modules may run compiled, and ``AREION_PURE=1``: run them from their ``.py`` sources.

When the package is built with Cython (``setup.py``: Cython importable and ``AREION_PURE``
not 1 at build time), each module named in ``MODULES`` is also an extension module built from
its own ``.py`` file (Cython's pure-Python mode: the ``.py`` is the only source), installed
beside it; Python's import system prefers the extension. ``AREION_PURE=1`` in the environment
when ``areion_core`` is first imported puts a finder ahead of the import system's that loads
these modules from their ``.py`` files instead, so the same installation runs either build.
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec, SourceFileLoader
from importlib.util import spec_from_file_location
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

#: The modules of areion_core built as extension modules (setup.py reads this tuple).
MODULES = ("_first_step", "_forwarded", "_header_section", "access_log", "headers")
_PACKAGE = __name__.rpartition(".")[0]
_HERE = os.path.dirname(os.path.abspath(__file__))


class SourceFinder:
    """Finds the modules of ``names`` (all of ``MODULES`` by default) as their ``.py`` files,
    never as extension modules."""

    def __init__(self, names: Collection[str] = MODULES) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != _PACKAGE or name not in self.names:
            return None
        source = os.path.join(_HERE, name + ".py")
        return spec_from_file_location(fullname, source, loader=SourceFileLoader(fullname, source))


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was loaded from an extension module (not from its ``.py`` file)."""
    return (module.__file__ or "").endswith(tuple(EXTENSION_SUFFIXES))


def stale_modules() -> list[str]:
    """The modules of ``MODULES`` whose ``.py`` file changed after their extension module was
    built (an edit not compiled yet: ``make setup`` compiles it again). Their ``.py`` runs, so an
    edit always takes effect; a second's grace keeps files unpacked together from looking stale."""
    stale = []
    for name in MODULES:
        try:
            source = os.stat(os.path.join(_HERE, name + ".py")).st_mtime
        except OSError:
            continue
        for suffix in EXTENSION_SUFFIXES:
            try:
                built = os.stat(os.path.join(_HERE, name + suffix)).st_mtime
            except OSError:
                continue
            if source > built + 1.0:
                stale.append(name)
            break
    return stale


if os.environ.get("AREION_PURE") == "1":
    sys.meta_path.insert(0, SourceFinder())
elif _stale := stale_modules():
    warnings.warn(f"areion_core: {', '.join(m + '.py' for m in _stale)} changed after being compiled: running "
                  "the .py (make setup compiles it again)", RuntimeWarning, stacklevel=2)
    sys.meta_path.insert(0, SourceFinder(_stale))
