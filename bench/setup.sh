#!/usr/bin/env bash
# Prepares everything bench/run.py needs, idempotently:
#   - wrk (from Debian's package when root, otherwise stops with the command to run);
#   - redis-server for the Redis cache scenarios (Debian's package when root, otherwise a
#     warning: those scenarios then fail and the rest runs);
#   - libuv (Debian's libuv1) for socketify, whose bundled native library links against it;
#   - .venv-bench at the repository root, on Python 3.11, with the peer frameworks from
#     bench/requirements.txt, the core (-e .), libs/* (areion-redis), every plugin that has a pyproject.toml
#     (-e plugins/<name>) and the example plugin (-e examples/plugin_example): what
#     `make run` serves, for the areion-default row.
# A second run with nothing changed does nothing: the hash of the inputs (requirements,
# every pyproject.toml, the interpreter's version) is kept in .venv-bench/.bench-stamp.
#
# Environment: PYTHON (default python3.11) picks the interpreter; BENCH_VENV the venv path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_VENV:-$ROOT/.venv-bench}"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.bench-stamp"

say() { printf 'bench/setup: %s\n' "$*"; }
die() { printf 'bench/setup: %s\n' "$*" >&2; exit 1; }

# wrk and taskset (util-linux) drive and pin the load.
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing wrk from Debian's package"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        die "wrk is missing: install it (Debian/Ubuntu: sudo apt-get install wrk) and run again"
    fi
fi
command -v taskset >/dev/null 2>&1 || die "taskset is missing: install util-linux and run again"
# The runner starts its own redis-server on a free port; it never uses a running one.
if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing redis-server from Debian's package"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
        say "warning: redis-server is missing, the Redis cache scenarios will fail" \
            "(Debian/Ubuntu: sudo apt-get install redis-server)"
    fi
fi

# socketify ships a prebuilt libsocketify that needs libuv.so.1 at run time.
if ! ldconfig -p 2>/dev/null | grep -q 'libuv\.so\.1'; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing libuv1 from Debian's package (for socketify)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libuv1 >/dev/null
    else
        say "warning: libuv.so.1 is missing, the socketify rows will fail" \
            "(Debian/Ubuntu: sudo apt-get install libuv1)"
    fi
fi

command -v "$PYTHON" >/dev/null 2>&1 \
    || die "$PYTHON not found: install Python 3.11 or set PYTHON=/path/to/python3.11"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$PYTHON is not Python 3.11 (the benchmark's reference interpreter); set PYTHON"

# The editable installs: the core, the shared libraries (libs/: areion-redis, which plugins
# depend on), each plugin that already has a pyproject.toml, and the example plugin (`make run`
# serves the showcase with it; so does areion-default).
EDITABLES=("$ROOT")
for dir in "$ROOT"/libs/*/ "$ROOT"/plugins/*/ "$ROOT"/examples/plugin_example/; do
    [ -f "$dir/pyproject.toml" ] && EDITABLES+=("${dir%/}")
done

inputs_hash() {
    {
        "$PYTHON" --version 2>&1
        cat "$ROOT/bench/requirements.txt"
        for dir in "${EDITABLES[@]}"; do
            printf '%s\n' "$dir"
            cat "$dir/pyproject.toml"
        done
    } | sha256sum | cut -d' ' -f1
}
HASH="$(inputs_hash)"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
    say "$VENV is up to date"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
rm -f "$STAMP"

say "installing the peer frameworks"
"${PIP[@]}" install -r "$ROOT/bench/requirements.txt"

say "installing Areion (editable): ${EDITABLES[*]#"$ROOT/"}"
EDITABLE_ARGS=()
for dir in "${EDITABLES[@]}"; do EDITABLE_ARGS+=(-e "$dir"); done
# As the Makefile does: the build backend once, then every editable without an isolated
# build environment each.
"${PIP[@]}" install 'setuptools>=77'
"${PIP[@]}" install --no-build-isolation "${EDITABLE_ARGS[@]}"

printf '%s\n' "$HASH" > "$STAMP"
say "ready: $VENV"
