"""Find the ``HttpError`` subclasses a handler raises, by reading its source.

``raise NotFoundError("no such user")`` in a handler's body becomes a documented 404. The
names are resolved in the handler's globals and closure, so an alias or a re-export works;
an error raised in a helper the handler calls is not seen (document it with ``@responses``).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from areion_core import HttpError


@dataclass(frozen=True)
class RaisedError:
    """One ``raise`` of an ``HttpError`` subclass found in a handler."""

    error: type[HttpError]
    status_code: int
    #: The message when it is a literal string (``raise NotFoundError("no such user")``).
    message: str | None


def raised_errors(handler: Callable[..., Any]) -> list[RaisedError]:
    """Every ``HttpError`` raise in ``handler``'s own source, in source order (may be empty)."""
    func = inspect.unwrap(handler)
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return []  # built-ins, lambdas typed in a REPL, code without source on disk
    namespace = _namespace(func)
    found: list[RaisedError] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        exc = node.exc
        call = exc if isinstance(exc, ast.Call) else None
        target = call.func if call is not None else exc
        cls = _resolve(target, namespace)
        if not (isinstance(cls, type) and issubclass(cls, HttpError)):
            continue
        status = _status(call, cls)
        message = _literal_message(call)
        found.append(RaisedError(cls, status, message))
    found.sort(key=lambda r: r.status_code)
    return found


def _namespace(func: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = dict(getattr(func, "__globals__", {}))
    try:
        closure = inspect.getclosurevars(func)
        namespace.update(closure.nonlocals)
    except (TypeError, ValueError):
        pass
    return namespace


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """``Name`` or ``a.b.Name`` → the object it names, or None."""
    if isinstance(node, ast.Name):
        if node.id in namespace:
            return namespace[node.id]
        import builtins

        return getattr(builtins, node.id, None)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _status(call: ast.Call | None, cls: type[HttpError]) -> int:
    """The status: the class's, unless the call passes a literal ``status_code``."""
    if call is not None:
        for kw in call.keywords:
            if kw.arg == "status_code" and isinstance(kw.value, ast.Constant) and isinstance(
                    kw.value.value, int):
                return kw.value.value
        if len(call.args) >= 2 and isinstance(call.args[1], ast.Constant) and isinstance(
                call.args[1].value, int) and _takes_status_second(cls):
            return call.args[1].value
    return int(cls.status_code)


def _takes_status_second(cls: type[HttpError]) -> bool:
    try:
        params = list(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 and params[1] == "status_code"


def _literal_message(call: ast.Call | None) -> str | None:
    if call is None:
        return None
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    for kw in call.keywords:
        if kw.arg == "message" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    return None
