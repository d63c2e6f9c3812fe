"""``DefaultEngine`` and ``DefaultOrchestrator`` live in their plugins; re-exported when installed.

Without the plugin, the name is a stand-in whose construction raises an error naming the
package to install (``from areion_core import *`` still works either way).
"""

from __future__ import annotations

from typing import Any


def _missing(name: str, package: str, extra: str) -> type:
    class Missing:
        __qualname__ = name

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError(f"{name} needs {package}: pip install {package} (or areion-core[{extra}])")

    Missing.__name__ = name
    return Missing


try:
    from areion_templates import DefaultEngine
except ImportError:
    DefaultEngine = _missing("DefaultEngine", "areion-templates", "templates")

try:
    from areion_scheduling import DefaultOrchestrator
except ImportError:
    DefaultOrchestrator = _missing("DefaultOrchestrator", "areion-scheduling", "scheduling")

__all__ = ["DefaultEngine", "DefaultOrchestrator"]
