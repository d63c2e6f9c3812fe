#!/usr/bin/env bash
# Coverage-guided fuzzing of the HTTP/1.1 protocol with atheris for $1 seconds (default 300).
# atheris is not a project dependency: it is installed into .venv here when it can be (a
# prebuilt wheel exists for CPython 3.11 on x86_64 Linux); where it cannot, this says so
# and exits 0, since `make fuzz` has already run the Hypothesis fuzzers by then.
set -euo pipefail

seconds="${1:-300}"
python=".venv/bin/python"
corpus=".fuzz/atheris"

if ! "$python" -c 'import atheris' >/dev/null 2>&1; then
  echo "fuzz: installing atheris into .venv"
  if ! "$python" -m pip install -q atheris; then
    echo "fuzz: atheris does not install here; skipped the coverage-guided run" >&2
    echo "      (it needs a prebuilt wheel or clang with libFuzzer: see tests/reliability/fuzz_atheris.py)" >&2
    exit 0
  fi
fi
mkdir -p "$corpus"
echo "fuzz: atheris for ${seconds}s, corpus in $corpus (crash inputs are written to the current directory)"
exec "$python" tests/reliability/fuzz_atheris.py -max_total_time="$seconds" "$corpus"
