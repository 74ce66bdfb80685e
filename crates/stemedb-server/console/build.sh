#!/usr/bin/env bash
# Builds the console's script, dist/app.js, from src/ with the locked esbuild: one minified ES
# module, the same bytes on every machine (the test script rebuilds it and fails if the
# committed file differs). The server embeds dist/app.js, index.html and app.css, so building
# the server needs no Node.js. Usage: crates/stemedb-server/console/build.sh [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/dist/app.js}
cd "$here"
[ -x node_modules/.bin/esbuild ] || npm ci --no-audit --no-fund --loglevel=error
# The SDK's signing.ts is bundled from its source; its packages resolve from ours.
NODE_PATH="$here/node_modules" node_modules/.bin/esbuild src/main.js --bundle --format=esm \
  --minify --target=es2022 --legal-comments=none --charset=utf8 --log-level=warning --outfile="$out"
