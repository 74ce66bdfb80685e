#!/usr/bin/env bash
# A reliability pass in flight, by its scheduling priority (docs/benchmarks.md, "Forty-fifth
# session"): a server on a fresh copy of STORE, whose kept table another build made, so that its
# first pass (a whole one) runs from its start; the load starts a second after the server
# answers. PRIORITY: idle or normal (--reliability-pass-priority); nopass: STORE's kept table
# was made by this same build over its whole log, so the start makes no pass. LOAD: the
# load-test arguments (default: single writes at 64 connections for 15 s). Prints the rate,
# the latencies, the server's CPU and the pass thread's CPU inside the run (0 when the pass
# ended inside it: its log line, printed after, has its whole CPU). Needs a release
# build and a store made by scripts/bench-pg.sh (DIR/stemedb).
#   scripts/bench-pass-priority.sh STORE PRIORITY
set -euo pipefail
store=$1 prio=$2
BIN=${STEMEDB_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/stemedb}
LOAD=${LOAD:---mode single --clients 64 --count 600000 --duration-secs 15 --agents 300 --groups 300000 --tag pp}
K=bench-root-key-not-secret-0123456789abcdef
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/passprio.XXXX)
cp -r "$store" "$dir/data"
priority=$prio; [ "$prio" = nopass ] && priority=idle
STEMEDB_RELIABILITY_PASS_PRIORITY=$priority STEMEDB_ROOT_API_KEY=$K \
  "$BIN" serve --data-dir "$dir/data" --bind "127.0.0.1:$port" >"$dir/log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
until curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; exit 1; }
  sleep 0.05
done
sleep 1
if [ "$prio" = nopass ] && ! grep -q "in use without a pass" "$dir/log"; then
  echo "nopass: the store's kept table was not made by this build over its whole log" >&2
  exit 1
fi
pass_ticks() { # the pass thread's CPU ticks (0 when none runs)
  local t n=0
  for t in /proc/"$pid"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = reliability ] && n=$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)
  done
  echo "$n"
}
c0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); p0=$(pass_ticks)
# shellcheck disable=SC2086 # LOAD is a list of arguments
STEMEDB_API_KEY=$K "$BIN" load-test --server "http://127.0.0.1:$port" --json $LOAD >"$dir/out.json"
c1=$(awk '{print $14 + $15}' "/proc/$pid/stat"); p1=$(pass_ticks)
[ "$p1" -ge "$p0" ] || p1=$p0 # the pass ended: its thread is gone
python3 - "$dir/out.json" "$prio" $((c1 - c0)) $((p1 - p0)) "$(getconf CLK_TCK)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
prio, cpu, pass_cpu, hz = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
# Requests a second for queries and mixed loads, records a second for writes alone.
rate = d["requests_ok"] / d["elapsed_secs"] if d["mode"] in ("query", "mixed") else d["assertions_per_sec"]
l = d["latency_ms"]
print(f"{prio}: {rate:,.0f}/s p50 {l['p50']:.2f} p99 {l['p99']:.2f} p99.9 {l['p999']:.2f} "
      f"max {l['max']:.2f} ms; server CPU {cpu / hz:.2f} s, the pass thread's {pass_cpu / hz:.2f} s")
PY
grep -o 'reliability table refreshed.*' "$dir/log" || true
