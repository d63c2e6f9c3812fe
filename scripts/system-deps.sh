#!/usr/bin/env bash
# Make sure the programs the test suite drives are installed: redis-server and redis-cli
# (Redis tests; redis-cli builds the test Cluster), redis-sentinel (the Sentinel tests),
# Chromium (documentation pages) and wrk (load in the reliability suite). Installs Debian's
# packages when run as root; otherwise says how.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
# The Sentinel tests fall back to `redis-server --sentinel` (the same binary) without it, so
# it is installed when we can and never a reason to fail.
optional=()
command -v redis-sentinel >/dev/null 2>&1 || optional+=(redis-sentinel)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)

if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} ${optional[*]} from Debian's packages..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" "${optional[@]}" >/dev/null
  exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "Note: ${optional[*]} is not installed; the Sentinel tests use \`redis-server --sentinel\` instead" >&2
  echo "(sudo apt-get install ${optional[*]} to test with Debian's package)" >&2
  exit 0
fi
echo "The test suite needs: ${missing[*]}" >&2
echo "Install them, e.g.: sudo apt-get install ${missing[*]}" >&2
echo "(or point AREION_TEST_REDIS_URL at a Redis you own for the Redis tests)" >&2
exit 1
