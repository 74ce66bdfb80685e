#!/usr/bin/env bash
# Winner queries of two builds, each on its own data directory (or the same one), run
# alternately on this machine with the same load; prints each run's rate, latency and the
# server's CPU time per query (user + system, from /proc), the steadier figure on a shared
# machine. The directories must hold `load-test --tag pg` data, e.g. the store that
# scripts/bench-pg.sh leaves in DIR/stemedb (1,000,000 records over 300,000 groups).
# Usage: scripts/bench-query-ab.sh STORE_A BIN_A STORE_B BIN_B [ROUNDS]
# Environment: LENS (recency), CLIENTS (4), SECS (15), WARM_SECS (3, unmeasured queries first),
# GROUP_COUNT (300000), SERVE_ARGS (more `stemedb serve` flags for both, e.g. --cache-bytes N).
set -euo pipefail
store_a=$1 bin_a=$2 store_b=$3 bin_b=$4 rounds=${5:-3}
lens=${LENS:-recency} clients=${CLIENTS:-4} secs=${SECS:-15} groups=${GROUP_COUNT:-300000}
export STEMEDB_API_KEY="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ticks=$(getconf CLK_TCK)

run() { # label store bin
  local label=$1 store=$2 bin=$3 port pid cpu0 cpu1 out
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # The wait below covers the start's pass, which warms the caches (with a kept table it
  # would return at once, before the pass ends).
  rm -f "$store/RELIABILITY"
  STEMEDB_ROOT_API_KEY=$STEMEDB_API_KEY "$bin" serve --data-dir "$store" --bind "127.0.0.1:$port" \
    --reliability-refresh-ms 1000000000 ${SERVE_ARGS:-} >"$store.ab-serve.log" 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "server exited: $(tail -3 "$store.ab-serve.log")" >&2; exit 1; }
    sleep 0.05
  done
  # The first reliability table is made at start (21 s of one core at 1 million): wait for
  # it, or its computation counts as query cost (docs/benchmarks.md, "Ninth session").
  "$(dirname "$0")/wait-reliability.sh" "http://127.0.0.1:$port" "$STEMEDB_API_KEY" "$pid" >/dev/null ||
    { echo "$(tail -3 "$store.ab-serve.log")" >&2; kill "$pid" 2>/dev/null; exit 1; }
  local query=(load-test --server "http://127.0.0.1:$port" --mode query --winner-only --lens "$lens"
    --clients "$clients" --groups "$groups" --tag pg --json)
  "$bin" "${query[@]}" --duration-secs "${WARM_SECS:-3}" >/dev/null # warm-up: the caches, the trust map
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$("$bin" "${query[@]}" --duration-secs "$secs")
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" || true
  python3 - "$label" "$out" "$((cpu1 - cpu0))" "$ticks" <<'PY'
import json, sys
label, out, cpu, ticks = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ok = out["requests_ok"]
assert out["errors"] == 0 and ok > 0, f"{label}: {out['errors']} errors: {out['first_error']}"
lat = out["latency_ms"]
print(f"{label}  {out['requests_per_sec']:8.0f} queries/s  server CPU {1e6 * cpu / ticks / ok:6.1f} us/query"
      f"  p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms")
PY
}

for _ in $(seq 1 "$rounds"); do
  run A "$store_a" "$bin_a"
  run B "$store_b" "$bin_b"
done
