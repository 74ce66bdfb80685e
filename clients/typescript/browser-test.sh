#!/usr/bin/env bash
# The TypeScript SDK in a real browser (headless Chromium): bundled as an app would bundle it
# (esbuild), it reproduces the published signing vectors and does a round trip through a
# StemeDB server that allows the page's origin (--cors-origins). Installs Debian's chromium if
# it is missing. Needs the build (`npm run build`) and STEMEDB_BIN; run by run-tests.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
say() { echo "browser-test: $*" >&2; }
browser=$(command -v chromium || true)
if [ -z "$browser" ]; then
  [ "$(id -u)" -eq 0 ] || { say "ERROR: chromium is missing; install it (apt-get install chromium) or run as root"; exit 1; }
  say "installing Debian's chromium (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
  browser=$(command -v chromium) || { say "ERROR: no chromium after installing it"; exit 1; }
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$here/node_modules/.bin/esbuild" "$here/test/browser/entry.mjs" --bundle --format=esm \
  --log-level=warning --outfile="$work/page/bundle.js"
cp "$here/test/browser/index.html" "$work/page/"
cp "$root/tests/vectors/signing.json" "$work/page/vectors.json"
page_port=$(free_port)
(cd "$work/page" && exec python3 -m http.server "$page_port" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
key="browser-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
STEMEDB_ROOT_API_KEY=$key "$STEMEDB_BIN" serve --data-dir "$work/db" --bind 127.0.0.1:0 \
  --cors-origins "http://127.0.0.1:$page_port" >"$work/serve.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
server=$(sed -n 's/^stemedb listening on //p' "$work/serve.out")
[ -n "$server" ] || { say "ERROR: the server did not start"; exit 1; }
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$page_port/index.html" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$page_port/index.html?server=$server&key=$key"
dom=$(timeout 60 "$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$work/profile" \
  --virtual-time-budget=20000 --dump-dom "$url" 2>/dev/null || true)
result=$(printf '%s' "$dom" | sed -n 's/.*<pre id="result">\(.*\)<\/pre>.*/\1/p')
say "${result:-no result in the page}"
case "$result" in PASSED*) ;; *) exit 1 ;; esac
