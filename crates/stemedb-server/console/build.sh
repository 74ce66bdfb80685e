#!/usr/bin/env bash
# Builds the console's script, dist/app.js, from src/ with the locked esbuild (build.mjs): one
# minified ES module, the same bytes on every machine, whatever else is installed (the test
# script rebuilds it and fails if the committed file differs). The server embeds dist/app.js,
# index.html and app.css, so building the server needs no Node.js.
# Usage: crates/stemedb-server/console/build.sh [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:-$here/dist/app.js}")
cd "$here"
[ -x node_modules/.bin/esbuild ] || npm ci --no-audit --no-fund --loglevel=error
node build.mjs "$out"
