#!/usr/bin/env bash
# How long `make run` takes on a fresh clone, from the command to the first 200 on /json.
#
# Clones the repository this script lives in (its committed HEAD) into a temporary
# directory, runs `make run PORT=<free port>` there in the background (its own process
# group), polls http://127.0.0.1:<port>/json until it answers 200, prints the seconds from
# the start of `make run` to that first 200, then stops the server (SIGTERM to the process
# group, SIGKILL after 10 s) and deletes the clone. A measuring script, not a test: it exits
# non-zero only when `make run` fails or never answers. Target: 60 s or less.
#
#   scripts/measure_make_run.sh [--makefile PATH] [--cold-cache] [--keep]
#
#   --makefile PATH  copy PATH over the clone's Makefile first (time an uncommitted change)
#   --cold-cache     give pip an empty cache (PIP_CACHE_DIR inside the temporary directory),
#                    so every download is timed; by default pip's usual cache is used, as a
#                    developer's would be
#   --keep           keep the clone and make's output (the path is printed)
#
# Environment: MEASURE_PORT (default: the first free port from 9100 up), MEASURE_TIMEOUT
# (seconds before giving up, default 600), PYTHON (passed to make; default make's python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TIMEOUT="${MEASURE_TIMEOUT:-600}"
MAKEFILE_OVERRIDE=""
COLD=0
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --makefile) MAKEFILE_OVERRIDE="$(realpath "$2")"; shift 2 ;;
        --cold-cache) COLD=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "measure_make_run: unknown argument $1" >&2; exit 2 ;;
    esac
done

say() { printf 'measure_make_run: %s\n' "$*" >&2; }

port_is_free() {
    python3 - "$1" <<'EOF'
import socket, sys
with socket.socket() as s:
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
EOF
}

PORT="${MEASURE_PORT:-}"
if [ -z "$PORT" ]; then
    for candidate in $(seq 9100 9299); do
        if port_is_free "$candidate"; then PORT="$candidate"; break; fi
    done
    [ -n "$PORT" ] || { say "no free port in 9100-9299; set MEASURE_PORT"; exit 2; }
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/areion-make-run.XXXXXX")"
CLONE="$WORK/areion"
LOG="$WORK/make-run.log"
MAKE_PID=""

cleanup() {
    if [ -n "$MAKE_PID" ] && kill -0 "$MAKE_PID" 2>/dev/null; then
        # make was started with setsid: its pid is the process group's id.
        kill -TERM -- "-$MAKE_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 -- "-$MAKE_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$MAKE_PID" 2>/dev/null || true
        wait "$MAKE_PID" 2>/dev/null || true
    fi
    if [ "$KEEP" = 1 ]; then
        say "kept $WORK (make's output: $LOG)"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

git clone --quiet "$ROOT" "$CLONE"
say "cloned $(git -C "$CLONE" rev-parse --short HEAD) into $CLONE"
if [ -n "$MAKEFILE_OVERRIDE" ]; then
    cp "$MAKEFILE_OVERRIDE" "$CLONE/Makefile"
    say "using the Makefile from $MAKEFILE_OVERRIDE"
fi
if [ "$COLD" = 1 ]; then
    export PIP_CACHE_DIR="$WORK/pip-cache"
    say "pip cache: empty ($PIP_CACHE_DIR)"
fi

MAKE_ARGS=(run "PORT=$PORT")
[ -n "${PYTHON:-}" ] && MAKE_ARGS+=("PYTHON=$PYTHON")
URL="http://127.0.0.1:$PORT/json"
say "make ${MAKE_ARGS[*]} (polling $URL)"
START="$(date +%s.%N)"
setsid make -C "$CLONE" "${MAKE_ARGS[@]}" >"$LOG" 2>&1 </dev/null &
MAKE_PID=$!

while :; do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL" 2>/dev/null || true)"
    NOW="$(date +%s.%N)"
    if [ "$code" = 200 ]; then
        break
    fi
    if ! kill -0 "$MAKE_PID" 2>/dev/null; then
        say "make run exited before answering; the end of its output:"
        tail -n 30 "$LOG" >&2
        KEEP=1
        exit 1
    fi
    if awk -v a="$START" -v b="$NOW" -v t="$TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
        say "no 200 from $URL after $TIMEOUT s; the end of make's output:"
        tail -n 30 "$LOG" >&2
        exit 1
    fi
    sleep 0.2
done

ELAPSED="$(awk -v a="$START" -v b="$NOW" 'BEGIN { printf "%.1f", b - a }')"
echo "make run: first 200 on /json after $ELAPSED s (fresh clone, port $PORT; target <= 60 s)"
