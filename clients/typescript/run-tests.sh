#!/usr/bin/env bash
# The TypeScript SDK's tests against a real server (this build's `stemedb serve`, started by
# the tests themselves): the locked packages (npm ci), the build (tsc), Node's test runner,
# then the same SDK bundled and run in headless Chromium (browser-test.sh).
# Usage: clients/typescript/run-tests.sh   (STEMEDB_BIN: default target/debug/stemedb)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export STEMEDB_BIN=${STEMEDB_BIN:-$root/target/debug/stemedb}
[ -x "$STEMEDB_BIN" ] || (cd "$root" && cargo build -q -p stemedb-cli)
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 20 ] || { echo "run-tests: ERROR: Node.js 20 or later is needed (found: ${major})" >&2; exit 1; }
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
node --test test/*.test.mjs
bash "$here/browser-test.sh"
