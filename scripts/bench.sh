#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: a release build, a fresh data directory on the real disk, and
# each load-test figure in turn. Usage: scripts/bench.sh [DATA_PARENT_DIR]  (default ./bench-data)
set -euo pipefail
cd "$(dirname "$0")/.."
parent=${1:-./bench-data}
port=18190
server="http://127.0.0.1:$port"
cargo build --release -p stemedb-cli
bin="${CARGO_TARGET_DIR:-target}/release/stemedb"
rm -rf "$parent/data" && mkdir -p "$parent"
# The root key is not rate limited, so the figures measure the database, not the limiter.
STEMEDB_ROOT_API_KEY="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export STEMEDB_ROOT_API_KEY STEMEDB_API_KEY="$STEMEDB_ROOT_API_KEY"

start() {
  if curl -fs "$server/v1/health" >/dev/null 2>&1; then echo "port $port is already serving; stop that server first"; exit 1; fi
  "$bin" serve --data-dir "$parent/data" --bind "127.0.0.1:$port" >"$parent/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || { echo "server exited:"; cat "$parent/serve.log"; exit 1; }
    curl -fs "$server/v1/health" >/dev/null 2>&1 && return
    sleep 0.05
  done
  echo "server did not start"; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; }
peak_rss() { grep VmHWM "/proc/$pid/status"; }

start
echo "== batch ingest: 1,000 per request, 4 clients"
"$bin" load-test --server "$server" --mode batch --clients 4 --batch-size 1000 --count 200000 --duration-secs 60 --tag b1
echo "== single POSTs, 64 clients"
"$bin" load-test --server "$server" --mode single --clients 64 --count 100000 --duration-secs 15 --tag s1
echo "== loading 1,000,000 more (batch)"
"$bin" load-test --server "$server" --mode batch --clients 4 --batch-size 1000 --count 1000000 --duration-secs 300 --tag q
peak_rss
stop
echo "== restart with $(du -sh "$parent/data" | cut -f1) on disk"
start_ns=$(date +%s%N); start; echo "ready in $(( ($(date +%s%N) - start_ns) / 1000000 )) ms (process start to first health answer)"
grep -o 'ready_ms[^ ]*' "$parent/serve.log" || true
for lens in recency authority consensus conflict; do
  echo "== queries by subject and predicate, lens $lens, 64 clients"
  "$bin" load-test --server "$server" --mode query --lens "$lens" --clients 64 --duration-secs 10 --count 1000000 --tag q
done
echo "== mixed: 10% single writes, 90% queries, 64 clients"
"$bin" load-test --server "$server" --mode mixed --write-percent 10 --clients 64 --count 100000 --duration-secs 10 --tag q
peak_rss
stop
