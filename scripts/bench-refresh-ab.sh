#!/usr/bin/env bash
# The reliability refresher's cost on ingest (docs/benchmarks.md, seventh session): 300k realistic
# records into a fresh store, with the refresher at its default and pushed out of the run,
# alternating, two rounds. Needs a release build (cargo build --release -p stemedb-cli).
set -euo pipefail
BIN=${STEMEDB_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/stemedb}
K=bench-root-key-not-secret-0123456789abcdef
run() { # $1 label $2 refresh_ms
  dir=$(mktemp -d /tmp/ingab.XXXX)
  STEMEDB_ROOT_API_KEY=$K "$BIN" serve --data-dir "$dir" --bind 127.0.0.1:7440 --reliability-refresh-ms "$2" > "$dir.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do grep -q "listening on" "$dir.log" && break; sleep 0.1; done
  t0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$("$BIN" load-test --server http://127.0.0.1:7440 --api-key $K --json --mode batch --batch-size 1000 --clients 8 --count 300000 --groups 90000 --agents 300 --sources-percent 33 --tag pg 2>/dev/null | tail -1)
  t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  refreshes=$(grep -c "reliability table refreshed" "$dir.log" || true)
  kill $pid; wait $pid 2>/dev/null || true
  rate=$(echo "$out" | python3 -c "import json,sys; print(round(json.load(sys.stdin)['assertions_per_sec']))")
  echo "$1 rate=$rate/s server_cpu_us_per_assertion=$(( (t1-t0)*10000*1000/300000 / 1000 )) refreshes=$refreshes"
  rm -rf "$dir" "$dir.log"
}
for r in 1 2; do run on 1000; run off 1000000000; done
