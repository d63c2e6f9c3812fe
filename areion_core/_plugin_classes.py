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


_HOMES = {
    "DefaultEngine": ("areion_templates", "areion-templates", "templates"),
    "DefaultOrchestrator": ("areion_scheduling", "areion-scheduling", "scheduling"),
}


def resolve(name: str) -> type:
    """The class from its plugin when installed, else a stand-in that explains what to install."""
    module_name, package, extra = _HOMES[name]
    try:
        module = __import__(module_name)
        return getattr(module, name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        return _missing(name, package, extra)
