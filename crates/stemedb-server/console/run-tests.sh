#!/usr/bin/env bash
# The web console's tests in a real browser: installs the locked packages (npm ci) and
# Debian's chromium if missing, checks that the committed dist/app.js is what build.sh makes
# from src/, then runs test/*.test.mjs (Node's test runner, playwright-core driving
# /usr/bin/chromium) against this build's `stemedb serve`. Screenshots of every panel go to
# SCREENSHOTS (default: target/console-screenshots).
# Usage: crates/stemedb-server/console/run-tests.sh   (STEMEDB_BIN: default target/debug/stemedb)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
say() { echo "console-tests: $*" >&2; }
[ -n "${STEMEDB_BIN:-}" ] && STEMEDB_BIN_GIVEN=1
export STEMEDB_BIN=${STEMEDB_BIN:-$root/target/debug/stemedb}
export SCREENSHOTS=${SCREENSHOTS:-$root/target/console-screenshots}
# The build in target/ may be older than the sources: build it (quick when it is current).
[ -n "${STEMEDB_BIN_GIVEN:-}" ] || (cd "$root" && cargo build -q -p stemedb-cli)
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 20 ] || { say "ERROR: Node.js 20 or later is needed (found: ${major})"; exit 1; }
if ! command -v chromium >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { say "ERROR: chromium is missing; install it (apt-get install chromium) or run as root"; exit 1; }
  say "installing Debian's chromium (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
fi
export CHROMIUM=$(command -v chromium)
cd "$here"
# The console's one rule against injection: no HTML is ever built from strings (src/dom.js).
if grep -rnE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|srcdoc' src/; then
  say "ERROR: a markup sink in src/ (above); build elements with src/dom.js instead"
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
bash "$here/build.sh" "$fresh"
cmp -s "$fresh" "$here/dist/app.js" || {
  say "ERROR: dist/app.js is not what build.sh makes from src/; run crates/stemedb-server/console/build.sh and commit it"
  exit 1
}
node --test --test-concurrency=1 test/*.test.mjs
say "screenshots in $SCREENSHOTS"
