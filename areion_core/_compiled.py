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
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec, SourceFileLoader
from importlib.util import spec_from_file_location
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The modules of areion_core built as extension modules (setup.py reads this tuple).
MODULES = ("_forwarded", "access_log", "headers")
_PACKAGE = __name__.rpartition(".")[0]
_HERE = os.path.dirname(os.path.abspath(__file__))


class SourceFinder:
    """Finds the modules of ``MODULES`` as their ``.py`` files, never as extension modules."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != _PACKAGE or name not in MODULES:
            return None
        source = os.path.join(_HERE, name + ".py")
        return spec_from_file_location(fullname, source, loader=SourceFileLoader(fullname, source))


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was loaded from an extension module (not from its ``.py`` file)."""
    return (module.__file__ or "").endswith(tuple(EXTENSION_SUFFIXES))


if os.environ.get("AREION_PURE") == "1":
    sys.meta_path.insert(0, SourceFinder())
