#!/usr/bin/env bash
# Packaging test (`make packaging-test`, run by CI).
#
# Proves that plugins are separate distributions, found through entry points and chosen by
# configuration, exactly as a user installs them:
#   1. build wheels of the core, of the shared libraries (libs/*) and of every plugin that has a
#      pyproject.toml, into one folder;
#   2. make a fresh virtualenv and `pip install --find-links <folder> "areion-core[caching]"`
#      (third-party dependencies come from the package index);
#   3. serve a small app there with `areion run` and show that only `caching` is discovered,
#      loaded and acting (`areion plugins`, the app's own view of sys.modules, real requests);
#   4. install `areion-compression` from the same folder: a config naming only `caching`
#      leaves `compression` unimported and inactive; naming both turns both on.
#
# Exits non-zero with a message saying which check failed. Knobs (environment variables):
#   PACKAGING_PRIMARY    plugin installed through the core's extra    (default: caching)
#   PACKAGING_SECONDARY  plugin installed afterwards on its own       (default: compression)
#   PACKAGING_PRIMARY_SPEC  what step 2 installs     (default: "areion-core[$PACKAGING_PRIMARY]")
#   PACKAGING_PYTHON     interpreter for the fresh virtualenv and the builds (default: .venv's)
#   PACKAGING_KEEP=1     keep the temporary folder (it is always kept when a check fails)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRIMARY="${PACKAGING_PRIMARY:-caching}"
SECONDARY="${PACKAGING_SECONDARY:-compression}"
PRIMARY_SPEC="${PACKAGING_PRIMARY_SPEC:-areion-core[$PRIMARY]}"
if [[ -n "${PACKAGING_PYTHON:-}" ]]; then
    PY="$PACKAGING_PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    PY="$ROOT/.venv/bin/python"
else
    PY="python3"
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/areion-packaging.XXXXXX")"
WHEELS="$WORK/wheels"
VENV="$WORK/venv"
APP="$WORK/app"
SERVER_PID=""
OK=0

step() { printf '\n==> %s\n' "$*"; }
fail() {
    printf '\npackaging-test: FAILED: %s\n' "$*" >&2
    if [[ -f "$WORK/server.log" ]]; then
        printf -- '--- last lines of the server log (%s) ---\n' "$WORK/server.log" >&2
        tail -n 30 "$WORK/server.log" >&2 || true
    fi
    exit 1
}
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    if [[ "$OK" == 1 && "${PACKAGING_KEEP:-0}" != 1 ]]; then
        rm -rf "$WORK"
    else
        echo "packaging-test: files kept in $WORK" >&2
    fi
}
trap cleanup EXIT

dist_of() { echo "areion-${1//_/-}"; }   # plugin name -> distribution name
where() { if [[ "$1" == "$ROOT" ]]; then echo "areion-core (.)"; else echo "${1#"$ROOT"/}"; fi; }

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || fail "$PY is older than Python 3.11"
mkdir -p "$WHEELS" "$APP"

# --- 1. wheels -------------------------------------------------------------------------
# Each project is copied to a clean folder first: building in the tree would leave build/
# behind, and a stale build/lib can smuggle deleted modules into the next wheel.
step "building wheels into $WHEELS"
projects=("$ROOT")
for pyproject in "$ROOT"/libs/*/pyproject.toml "$ROOT"/plugins/*/pyproject.toml \
        "$ROOT"/examples/plugin_example/pyproject.toml; do
    [[ -f "$pyproject" ]] && projects+=("$(dirname "$pyproject")")
done
for project in "${projects[@]}"; do
    stage="$WORK/src/$(basename "$project")"
    "$PY" - "$project" "$stage" "$ROOT" <<'PYTHON' || fail "cannot stage $(where "$project") (see above)"
import shutil, sys, tomllib
from pathlib import Path

project, stage, root = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
readme = meta.get("readme")
readme = readme.get("file") if isinstance(readme, dict) else readme
if readme and not (project / readme).is_file():
    sys.exit(f"{project.relative_to(root) / 'pyproject.toml'} names readme {readme!r}, which does not exist")
skip = [".venv*", ".git", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".mypy_cache",
        ".ruff_cache", ".pytest_cache", "node_modules", "test-artifacts"]
if project == root:  # the core: the other top-level folders are separate projects or not shipped
    skip += ["libs", "plugins", "examples", "tests", "bench", "docs", "scripts"]
shutil.copytree(project, stage, ignore=shutil.ignore_patterns(*skip))
PYTHON
    echo "    $(where "$project")"
    log="$WORK/build-$(basename "$project").log"
    if ! "$PY" -m pip wheel --disable-pip-version-check --no-deps --wheel-dir "$WHEELS" "$stage" > "$log" 2>&1; then
        tail -n 40 "$log" >&2
        fail "pip wheel failed for $(where "$project") (log: $log)"
    fi
done
ls -1 "$WHEELS"

# Pin every areion distribution to the wheel just built: with --find-links and an index both
# in play, pip takes the highest version from either, and an index may hold the same names.
"$PY" - "$WHEELS" > "$WORK/constraints.txt" <<'PYTHON'
import sys
from pathlib import Path

for wheel in sorted(Path(sys.argv[1]).glob("*.whl")):
    name, version = wheel.name.split("-")[:2]
    print(f"{name.replace('_', '-')}=={version}")
PYTHON

# --- helper scripts used inside the fresh virtualenv -----------------------------------
cat > "$APP/app.py" <<'PYTHON'
"""A small app that imports nothing but areion_core: plugins come from configuration."""

import itertools
import sys

from areion_core import AreionServerBuilder, HttpRequest, Router
from areion_core.plugins import discover

router = Router()
_hits = itertools.count(1)


@router.get("/counter")
async def counter(request: HttpRequest) -> dict[str, int]:
    """A new number on every call that reaches the handler (a cache hit does not)."""
    return {"count": next(_hits)}


@router.get("/text")
async def text(request: HttpRequest) -> str:
    """Big enough to be worth compressing."""
    return "Areion packaging test. " * 200


@router.get("/_plugins")
async def plugins(request: HttpRequest) -> dict[str, list[str]]:
    """This process's own view: installed, enabled and imported plugins."""
    installed = discover()
    infos = request.app.plugin_infos
    return {
        "installed": sorted(installed),
        "enabled": sorted(i.name for i in infos if i.enabled and i.source == "entry point"),
        "imported": sorted(n for n, ep in installed.items() if ep.module.split(".")[0] in sys.modules),
    }


server = AreionServerBuilder().with_router(router).with_access_log(False).build()
PYTHON

cat > "$WORK/verify.py" <<'PYTHON'
"""Check one phase: `areion plugins`, the app's /_plugins, and each active plugin's effect."""

import argparse
import json
import re
import subprocess
import sys
import urllib.request
import zipfile
from importlib import metadata
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--app-dir", required=True)
parser.add_argument("--wheels", required=True)
parser.add_argument("--installed", required=True, help="comma-separated plugin names")
parser.add_argument("--enabled", required=True, help="comma-separated plugin names")
args = parser.parse_args()
names = lambda text: sorted(n for n in text.split(",") if n)  # noqa: E731
installed, enabled = names(args.installed), names(args.enabled)
problems: list[str] = []


def expect(ok: bool, message: str) -> None:
    print(("    ok   " if ok else "    FAIL ") + message)
    if not ok:
        problems.append(message)


def get(path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{args.port}{path}", headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - our own server
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()


# The installed areion distributions are the wheels we built, not same-named ones from an index.
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if not name.startswith("areion-"):
        continue
    wheel = next(Path(args.wheels).glob(f"{name.replace('-', '_')}-{dist.version}-*.whl"), None)
    if wheel is None:
        expect(False, f"{name} {dist.version} is installed but no such wheel was built")
        continue
    with zipfile.ZipFile(wheel) as zf:
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        built = {line for line in zf.read(record).decode().splitlines() if ".dist-info/" not in line}
    ours = {line for line in (dist.read_text("RECORD") or "").splitlines() if ".dist-info/" not in line}
    expect(built <= ours, f"{name} {dist.version} was installed from {wheel.name}")

# `areion plugins`, as a user would run it in the app's folder.
result = subprocess.run([sys.executable, "-m", "areion_core", "plugins"], cwd=args.app_dir,
                        capture_output=True, text=True, timeout=120, check=False)
print("    $ areion plugins\n" + "".join(f"      {line}\n" for line in result.stdout.splitlines()), end="")
expect(result.returncode == 0, f"`areion plugins` exits 0 (stderr: {result.stderr.strip()[-300:]!r})")
rows = [re.split(r"\s{2,}", line.strip()) for line in result.stdout.strip().splitlines()[1:]]
listed = {r[0]: r for r in rows if len(r) >= 6 and r[3] == "entry point"}
expect(sorted(listed) == installed, f"`areion plugins` lists exactly {installed} (got {sorted(listed)})")
for name in installed:
    want = "yes" if name in enabled else "no"
    expect(name in listed and listed[name][4] == want, f"`areion plugins` shows {name} enabled={want}")

# The running app's own view of itself.
status, _, body = get("/_plugins")
view = json.loads(body)
print(f"    GET /_plugins -> {view}")
expect(view["installed"] == installed, f"the app discovers exactly {installed}")
expect(view["enabled"] == enabled, f"the app enables exactly {enabled}")
expect(view["imported"] == enabled, f"the app imported exactly the modules of {enabled} (sys.modules)")

# What each plugin visibly does, on and off.
if "caching" in installed:
    first, second = (json.loads(get("/counter")[2])["count"] for _ in range(2))
    cached = first == second
    expect(cached == ("caching" in enabled),
           f"caching {'answers' if 'caching' in enabled else 'does not answer'} a repeated GET /counter"
           f" from its cache (counts {first}, {second})")
if "compression" in installed:
    _, headers, body = get("/text", {"Accept-Encoding": "gzip"})
    encoding = headers.get("content-encoding")
    expect((encoding == "gzip") == ("compression" in enabled),
           f"compression {'gzips' if 'compression' in enabled else 'leaves alone'} GET /text"
           f" (Content-Encoding: {encoding}, {len(body)} bytes)")
if "request_id" in installed:
    _, headers, _ = get("/text")
    expect(("x-request-id" in headers) == ("request_id" in enabled),
           f"request_id {'adds' if 'request_id' in enabled else 'does not add'} X-Request-ID")

sys.exit(1 if problems else 0)
PYTHON

free_port() { "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# phase <title> <installed plugins> <enabled plugins> <areion.toml text>
phase() {
    local title="$1" installed="$2" enabled="$3" config="$4" port
    step "$title"
    printf '%s' "$config" > "$APP/areion.toml"
    sed 's/^/    areion.toml | /' "$APP/areion.toml"
    port="$(free_port)"
    (cd "$APP" && exec "$VENV/bin/areion" run app:server --host 127.0.0.1 --port "$port" --no-access-log) \
        > "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local waited=0
    until "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/_plugins', timeout=2)" 2>/dev/null; do
        kill -0 "$SERVER_PID" 2>/dev/null || fail "$title: the server exited before answering"
        (( waited++ < 60 )) || fail "$title: the server did not answer within 30 s"
        sleep 0.5
    done
    "$VENV/bin/python" "$WORK/verify.py" --port "$port" --app-dir "$APP" --wheels "$WHEELS" \
        --installed "$installed" --enabled "$enabled" || fail "$title"
    stop_server
}

# Caching is told which route to cache; compression needs nothing. Sections for plugins that
# are not installed or not selected are ignored.
SECTIONS='
[plugins.caching]
routes = { "/counter" = 60 }
'

# --- 2./3. a fresh virtualenv with the core and one plugin -----------------------------
step "fresh virtualenv: pip install --find-links <wheels> \"$PRIMARY_SPEC\""
"$PY" -m venv "$VENV" || fail "cannot create a virtualenv with $PY"
read -r -a primary_requirements <<< "$PRIMARY_SPEC"   # split on spaces; no glob on the [extra]
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --find-links "$WHEELS" -c "$WORK/constraints.txt" "${primary_requirements[@]}" \
    || fail "pip install $PRIMARY_SPEC failed"
"$VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -i '^areion' | sed 's/^/    /'
if "$VENV/bin/python" -m pip show --quiet "$(dist_of "$SECONDARY")" >/dev/null 2>&1; then
    fail "$(dist_of "$SECONDARY") was installed by \"$PRIMARY_SPEC\"; it must be separate"
fi

phase "only $PRIMARY installed, no plugins list: it alone is discovered and active" \
    "$PRIMARY" "$PRIMARY" "$SECTIONS"

# --- 4. a second plugin, selected or not by configuration ------------------------------
step "pip install --find-links <wheels> $(dist_of "$SECONDARY")"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --find-links "$WHEELS" -c "$WORK/constraints.txt" "$(dist_of "$SECONDARY")" \
    || fail "pip install $(dist_of "$SECONDARY") failed"

both="$(printf '%s\n' "$PRIMARY" "$SECONDARY" | sort | paste -sd, -)"
phase "$SECONDARY installed, config names only $PRIMARY: $SECONDARY stays unimported and inactive" \
    "$both" "$PRIMARY" "[plugins]
enabled = [\"$PRIMARY\"]
$SECTIONS"
phase "config names both: both are imported and active" \
    "$both" "$both" "[plugins]
enabled = [\"$PRIMARY\", \"$SECONDARY\"]
$SECTIONS"

OK=1
step "packaging test passed"
