#!/usr/bin/env bash
# The cost of cluster mode on the single-node path (issue 12: it must be none): two builds of
# the single-node server, before and after cluster mode, run alternately on the same machine
# with the same load; prints each run's throughput and the server's CPU time per 1,000
# assertions (user + system, from /proc), the steadier figure on a shared machine.
# Usage: scripts/bench-single-path.sh BEFORE_BIN AFTER_BIN [ROUNDS] [DIR]
# Environment: MODES ("single batch"); LOAD_ARGS, extra load-test arguments for both modes, e.g.
# realistic data: LOAD_ARGS="--agents 300 --groups 100000 --sources-percent 33".
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1 after=$2 rounds=${3:-3} dir=${4:-./bench-data/single-path}
export STEMEDB_API_KEY="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ticks=$(getconf CLK_TCK)

run() { # label, bin, mode
  local label=$1 bin=$2 mode=$3 port pid cpu0 cpu1 out
  rm -rf "$dir/data"; mkdir -p "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  STEMEDB_ROOT_API_KEY=$STEMEDB_API_KEY "$bin" serve --data-dir "$dir/data" --bind "127.0.0.1:$port" \
    >"$dir/serve.log" 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null; do sleep 0.05; done
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  if [ "$mode" = single ]; then
    out=$("$after" load-test --server "http://127.0.0.1:$port" --mode single --clients 64 \
      --count 60000 --duration-secs 15 --tag s --json ${LOAD_ARGS:-})
  else
    out=$("$after" load-test --server "http://127.0.0.1:$port" --mode batch --batch-size 1000 \
      --clients 4 --count 300000 --duration-secs 15 --tag b --json ${LOAD_ARGS:-})
  fi
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" || true
  python3 - "$label" "$mode" "$out" "$((cpu1 - cpu0))" "$ticks" <<'PY'
import json, sys
label, mode, out, cpu, ticks = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
n = round(out["assertions_per_sec"] * out["elapsed_secs"])
print(f"{label:6} {mode:6} {out['assertions_per_sec']:9.0f} assertions/s  "
      f"server CPU {1000 * cpu / ticks / n * 1000:7.1f} ms per 1,000 assertions  ({n} assertions)")
PY
}

for round in $(seq 1 "$rounds"); do
  echo "== round $round"
  for mode in ${MODES:-single batch}; do
    run before "$before" "$mode"
    run after "$after" "$mode"
  done
done
