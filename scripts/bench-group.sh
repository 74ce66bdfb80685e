#!/usr/bin/env bash
# Reproduces docs/benchmarks.md §Large groups: a fresh data directory, one server, one group per
# size, every lens + skeptic + audit export timed against it with the server's RSS, then
# concurrent requests on the largest group.
# Usage: scripts/bench-group.sh [STEMEDB_BINARY] [DATA_PARENT_DIR] [SIZES] [CONCURRENT]
#   defaults: target/release/stemedb (built here), ./bench-data-group, 10000,20000,50000,100000, 12
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then cargo build --release -p stemedb-cli; bin="${CARGO_TARGET_DIR:-target}/release/stemedb"; fi
parent=${2:-./bench-data-group}
sizes=${3:-10000,20000,50000,100000}
concurrent=${4:-12}
port=18191
server="http://127.0.0.1:$port"
rm -rf "$parent/data" && mkdir -p "$parent"
STEMEDB_ROOT_API_KEY="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export STEMEDB_ROOT_API_KEY STEMEDB_API_KEY="$STEMEDB_ROOT_API_KEY"
if curl -fs "$server/v1/health" >/dev/null 2>&1; then echo "port $port is already serving"; exit 1; fi
"$bin" serve --data-dir "$parent/data" --bind "127.0.0.1:$port" >"$parent/serve.log" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  curl -fs "$server/v1/health" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "server exited:"; cat "$parent/serve.log"; exit 1; }
  sleep 0.05
done
echo "== $("$bin" --version 2>/dev/null || echo stemedb) ($bin); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n 5 "$bin" bench-group --server "$server" --sizes "$sizes" --server-pid "$pid" --concurrent "$concurrent"
