#!/usr/bin/env bash
# The core's smoke suite (pytest -m smoke) where the full suite does not run:
#   - on this venv's Python with the eager request driver off (AREION_EAGER=0: a plain Task
#     per request, the fallback for Python versions whose private asyncio helpers are unknown);
#   - the compiled modules' tests on this venv's Python with their pure-Python build (AREION_PURE=1);
#   - on Python 3.12 and 3.13, each in a venv of its own with the core, the example plugin and
#     the test tools, where that interpreter is installed (said, and skipped, where it is not).
set -euo pipefail
cd "$(dirname "$0")/.."

# The modules marked `pytestmark = pytest.mark.smoke`: core only, no plugin or dev-tool imports.
mapfile -t SMOKE_FILES < <(grep -rl --include='test_*.py' '^pytestmark = pytest.mark.smoke' tests | sort)
PYTEST_ARGS=(-q -m smoke -p no:cacheprovider "${SMOKE_FILES[@]}")

echo "smoke: Python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])') with AREION_EAGER=0"
AREION_EAGER=0 .venv/bin/python -m pytest "${PYTEST_ARGS[@]}"

# The tests of the compiled modules (areion_core/_compiled.py: the access log, the header
# classes, proxy headers, a hook's first step) on their pure-Python build (AREION_PURE=1),
# where the full suite ran the compiled one; the smoke suite below on 3.12 and 3.13 runs pure
# too (no extension there).
# `AREION_PURE=1 .venv/bin/python -m pytest` runs the whole suite on it (passed: 3,292 tests).
PURE_FILES=(tests/core/test_access_log.py tests/core/test_first_step.py tests/core/test_header_blocks.py
            tests/core/test_header_stamps.py tests/core/test_forwarded.py tests/core/test_forwarded_server.py
            tests/core/test_compiled.py            tests/core/test_request_response.py tests/core/test_status_code.py tests/core/test_1x_compatibility.py
            tests/core/test_log.py)
echo "smoke: Python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])'), the compiled modules' tests with AREION_PURE=1"
AREION_PURE=1 .venv/bin/python -m pytest -q -p no:cacheprovider "${PURE_FILES[@]}"

# An interpreter for Python X.Y: on the PATH, else one pyenv installed (its shims only expose the
# versions selected), else the system's.
find_python() {
  local version=$1 candidate
  for candidate in "$(command -v "python$version" 2>/dev/null || true)" \
      "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$version".*/bin/"python$version" 2>/dev/null | sort -V | tail -n 1)" \
      "/usr/bin/python$version" "/usr/local/bin/python$version"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import sys' >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
}

for version in 3.12 3.13; do
  python="$(find_python "$version")"
  if [ -z "$python" ]; then
    echo "smoke: python$version is not installed here; skipped"
    continue
  fi
  venv=".venv-$version"
  stamp="$venv/.areion-smoke"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ examples/plugin_example/pyproject.toml -nt "$stamp" ]; then
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check 'setuptools>=77'
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation \
      -e . -e examples/plugin_example 'pytest>=8.3' 'pytest-asyncio>=0.24' 'pytest-timeout>=2.3' 'httpx>=0.27' 'uvicorn>=0.30' 'pydantic>=2.5'
    touch "$stamp"
  fi
  echo "smoke: Python $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"
  "$venv/bin/python" -m pytest "${PYTEST_ARGS[@]}"
done
