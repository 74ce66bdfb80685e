#!/usr/bin/env bash
# The floor under every benchmark figure: what a request costs the server and the client with
# nothing in it (GET /v1/health over loopback HTTP/1.1, the middleware, no store work), from
# `stemedb load-test --mode health` against a server on an empty data directory. Prints the
# rate, the server's CPU per request (user + system, from /proc) and the client's own, as
# load-test reports it. docs/benchmarks.md, "Sixteenth session".
# Usage: scripts/bench-floor.sh [BIN] [CLIENTS] [SECS] [ROUNDS]
#   (default: a release build, 64 clients, 15 s, 2 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${1:-}" ]; then cargo build --release -q -p stemedb-cli; fi
bin=$(realpath "${1:-target/release/stemedb}")
clients=${2:-64} secs=${3:-15} rounds=${4:-2}
dir=$(mktemp -d)
export STEMEDB_API_KEY="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; fi; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
STEMEDB_ROOT_API_KEY=$STEMEDB_API_KEY "$bin" serve --data-dir "$dir/data" --bind "127.0.0.1:$port" \
  >"$dir/serve.log" 2>&1 &
pid=$!
until curl -fs "$url/v1/health" >/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "server exited: $(tail -3 "$dir/serve.log")" >&2; exit 1; }
  sleep 0.05
done
for round in $(seq 1 "$rounds"); do
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  "$bin" load-test --server "$url" --mode health --clients "$clients" --duration-secs "$secs" \
    --json >"$dir/load.json"
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  python3 - "$dir/load.json" "$before" "$after" "$(getconf CLK_TCK)" "$round" <<'PY'
import json, sys
load = json.load(open(sys.argv[1]))
before, after, hz, rnd = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
n = load["requests_ok"]
server = 1e6 * (after - before) / hz / n
client = 1e6 * load["client_cpu_ticks"] / hz / n
lat = load["latency_ms"]
print(f"round {rnd}: {load['requests_per_sec']:.0f} requests/s, server CPU {server:.1f} us/request, "
      f"client CPU {client:.1f} us/request, p50 {lat['p50']} ms, p99 {lat['p99']} ms")
PY
done
