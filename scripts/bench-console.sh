#!/usr/bin/env bash
# The web console on a large store: time from logging in to a usable overview (first read of a
# freshly started server, then warm), and the size of the assets the binary ships.
# Usage: scripts/bench-console.sh DATA_DIR [ROUNDS]   (STEMEDB_BIN: default target/release/stemedb)
# The store is opened as it is (the server may write to it: keys, audit log); use a copy if
# it matters. Figures go in docs/benchmarks.md by hand.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
console="$root/crates/stemedb-server/console"
export STEMEDB_BIN=$(realpath "${STEMEDB_BIN:-$root/target/release/stemedb}")
[ -x "$STEMEDB_BIN" ] || (cd "$root" && cargo build -q --release -p stemedb-cli)
[ -d "$console/node_modules/playwright-core" ] || (cd "$console" && npm ci --no-audit --no-fund --loglevel=error)
echo "assets (bytes, raw / gzip -9):"
for f in index.html app.css dist/app.js; do
  printf '  %-12s %7d / %6d\n' "$f" "$(wc -c <"$console/$f")" "$(gzip -9c "$console/$f" | wc -c)"
done
cd "$console" && node test/bench-overview.mjs "$1" "${2:-5}"
