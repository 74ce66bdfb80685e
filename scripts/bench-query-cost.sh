#!/usr/bin/env bash
# Server CPU per query (user+system of the server process PID, per request) and latency of
# winner-only queries, 4 clients, 10 s per lens, over data a load-test write run left under TAG.
# Usage: scripts/bench-query-cost.sh PID URL TAG GROUPS LENS... (docs/benchmarks.md).
set -euo pipefail
K=${STEMEDB_API_KEY:?set STEMEDB_API_KEY to a key of the server}
BIN=${STEMEDB_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/stemedb}
pid=$1 url=$2 tag=$3 groups=$4; shift 4
for lens in "$@"; do
  t0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$($BIN load-test --server $url --api-key $K --mode query --winner-only --lens $lens --clients 4 --duration-secs 10 --groups $groups --tag $tag --json 2>/dev/null | tail -1 || true)
  t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  echo "$out" | python3 -c "
import json,sys; d=json.loads(sys.stdin.read()); n=d['requests_ok']+d['errors']
print('$lens', 'q/s', round(d['requests_per_sec']), 'p50', d['latency_ms']['p50'], 'p99', d['latency_ms']['p99'], 'cpu_us/query', round(($t1-$t0)*10000/max(n,1),1), 'errors', d['errors'])"
done
