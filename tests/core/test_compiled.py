"""areion_core/_compiled.py: which build of the compiled modules runs, and AREION_PURE=1.

`make test` runs the whole suite on the extension modules where they were built (Cython
installed) and `AREION_PURE=1` on the ``.py`` sources; these tests check that each run is the
build it says it is, and that both builds keep the behaviour a user sees of the classes that
become extension types.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Mapping
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from areion_core import _compiled
from areion_core.access_log import AccessLog, ProxiedAccessLog
from areion_core.headers import Headers, MutableHeaders

pytestmark = pytest.mark.smoke

PACKAGE = Path(_compiled.__file__).parent


def _built(name: str) -> bool:
    """Whether an extension module of ``name`` for this interpreter sits beside its source."""
    return any((PACKAGE / f"{name}{suffix}").is_file() for suffix in EXTENSION_SUFFIXES)


@pytest.mark.parametrize("name", _compiled.MODULES)
def test_a_built_module_runs_compiled_unless_areion_pure_is_1(name: str) -> None:
    module = importlib.import_module(f"areion_core.{name}")
    expected = _built(name) and os.environ.get("AREION_PURE") != "1"
    assert _compiled.is_compiled(module) is expected, module.__file__


@pytest.mark.skipif(os.environ.get("AREION_REQUIRE_COMPILED") != "1",
                    reason="make test sets AREION_REQUIRE_COMPILED=1 (unless AREION_PURE=1)")
def test_make_test_runs_every_module_compiled() -> None:
    # setup.py builds the pure-Python package where no C compiler works, and skips a module
    # whose compile fails (optional extensions): make test must not pass on such a build.
    pure = [name for name in _compiled.MODULES
            if not _compiled.is_compiled(importlib.import_module(f"areion_core.{name}"))]
    assert not pure, (f"make test runs the compiled build, but {pure} run from their .py sources: "
                      "see make setup's output (the C compiler probe, the compile), or run "
                      "AREION_PURE=1 make test for the pure-Python build")


def test_areion_pure_1_imports_every_compiled_module_from_its_source() -> None:
    names = ", ".join(_compiled.MODULES)
    code = (f"import areion_core; from areion_core import _compiled, {names}; "
            f"print([_compiled.is_compiled(m) for m in ({names},)], [m.__file__ for m in ({names},)])")
    env = {**os.environ, "AREION_PURE": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    compiled, files = result.stdout.strip().split("] [")
    assert compiled == "[" + ", ".join(["False"] * len(_compiled.MODULES))
    assert files.count(".py'") == len(_compiled.MODULES)


def test_response_headers_are_a_mapping_in_either_build() -> None:
    headers = MutableHeaders({"Content-Type": "text/plain", "X-A": "1"})
    assert isinstance(headers, Mapping)
    assert list(headers.keys()) == ["content-type", "x-a"]
    assert list(headers.items()) == [("content-type", "text/plain"), ("x-a", "1")]
    assert list(headers.values()) == ["text/plain", "1"]
    assert headers == {"content-type": "text/plain", "x-a": "1"} and headers != {"x-a": "1"}
    assert headers.get("X-A") == "1" and headers.get("x-b", "-") == "-" and "X-A" in headers
    copy = headers.copy()
    copy["X-B"] = "2"
    assert type(copy) is MutableHeaders and "x-b" not in headers and copy["x-b"] == "2"
    with pytest.raises(ValueError, match="invalid response header name"):
        headers[3] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(headers)


def test_request_headers_are_a_mapping_in_either_build() -> None:
    headers = Headers([(b"Accept", b"a"), (b"accept", b"b"), (b"Host", b"h")])
    assert isinstance(headers, Mapping)
    assert dict(headers) == {"accept": "a", "host": "h"} and headers.get_all("ACCEPT") == ["a", "b"]
    assert Headers({"X-A": "1"}) == {"x-a": "1"}


def test_the_access_logs_keep_their_attributes_in_either_build() -> None:
    log = ProxiedAccessLog(2, "json", max_pending=10, trusted=None)
    assert isinstance(log, AccessLog)
    assert (log.fd, log.format, log.max_pending, log.trusted, log.pending) == (2, "json", 10, None, 0)
    with pytest.raises(AttributeError):
        log.unknown = 1  # type: ignore[attr-defined]


def test_a_module_edited_after_it_was_compiled_is_found_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suffix = EXTENSION_SUFFIXES[0]
    for name in _compiled.MODULES:
        (tmp_path / f"{name}.py").write_text("")
        (tmp_path / f"{name}{suffix}").write_bytes(b"")
    edited, unpacked = _compiled.MODULES[0], _compiled.MODULES[1]
    os.utime(tmp_path / f"{edited}.py", (2_000_000_010, 2_000_000_010))  # edited 10 s after its build
    os.utime(tmp_path / f"{edited}{suffix}", (2_000_000_000, 2_000_000_000))
    os.utime(tmp_path / f"{unpacked}.py", (2_000_000_000.5, 2_000_000_000.5))  # within the grace second
    os.utime(tmp_path / f"{unpacked}{suffix}", (2_000_000_000, 2_000_000_000))
    monkeypatch.setattr(_compiled, "_HERE", str(tmp_path))
    assert _compiled.stale_modules() == [edited]
    (tmp_path / f"{edited}{suffix}").unlink()  # not compiled at all: nothing is stale
    assert _compiled.stale_modules() == []


def test_the_finder_of_stale_modules_loads_their_sources_only() -> None:
    finder = _compiled.SourceFinder(["headers"])
    spec = finder.find_spec("areion_core.headers", None)
    assert spec is not None and spec.origin is not None and spec.origin.endswith("headers.py")
    assert finder.find_spec("areion_core.access_log", None) is None
    assert finder.find_spec("other.headers", None) is None
