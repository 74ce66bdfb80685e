#!/usr/bin/env bash
# Server CPU per winner query, by thread, once the server has settled: starts a release server
# on DIR, waits until the reliability table is made (GET /v1/overview says its sequence), checks
# that the server is idle for 10 s, then runs 4-client winner-only load for 10 s per lens and
# prints each thread group's CPU ticks (1/100 s) beside the queries served
# (docs/benchmarks.md, "Ninth session"). Measuring before the table is made counts its
# computation (minutes of one core at 10 million) as query cost.
# Usage: scripts/bench-query-settled.sh DIR TAG GROUPS [LENS...]   (default: recency consensus recency)
# Environment: WARM_SECS (0): winner queries run first, unmeasured, to fill the block cache;
# SERVE_ARGS: more `stemedb serve` flags.
set -euo pipefail
BIN=${STEMEDB_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/stemedb}
DIR=$1 TAG=$2 NGROUPS=$3; shift 3
LENSES=${*:-recency consensus recency}
PORT=${PORT:-18602}
K=sdb_$(python3 -c 'import secrets; print(secrets.token_hex(32))')
# The wait below covers the start's pass, which warms the caches these runs were measured
# with (with a kept table it would return at once, before the pass ends).
rm -f "$DIR/RELIABILITY"
STEMEDB_ROOT_API_KEY=$K $BIN serve --data-dir "$DIR" --bind 127.0.0.1:$PORT \
  --reliability-refresh-ms 1000000000 ${SERVE_ARGS:-} > /tmp/bench-settled.out 2> /tmp/bench-settled.log &
pid=$!
# Wait for the server to exit: the next run on the same directory finds its lock held
# otherwise, and would wait for a table from a server that never started.
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
waited=$("$(dirname "$0")/wait-reliability.sh" "http://127.0.0.1:$PORT" "$K" "$pid") ||
  { echo "$(tail -c 300 /tmp/bench-settled.log)" >&2; exit 1; }
echo "reliability table made after $waited s"
ticks() { python3 - "$pid" <<'PY'
import collections, json, os, re, sys
pid = sys.argv[1]
c = collections.Counter()
for t in os.listdir(f"/proc/{pid}/task"):
    try:
        name = open(f"/proc/{pid}/task/{t}/comm").read().strip()
        f = open(f"/proc/{pid}/task/{t}/stat").read().rsplit(")", 1)[1].split()
        c[re.sub(r"[0-9]+$", "", name)] += int(f[11]) + int(f[12])
    except OSError:
        pass
print(json.dumps(c))
PY
}
diff() { python3 -c "import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print(sorted(((b[k]-a.get(k,0),k) for k in b if b[k]-a.get(k,0)>0), reverse=True))" "$1" "$2"; }
a=$(ticks); sleep 10; b=$(ticks)
echo "idle 10 s, ticks by thread: $(diff "$a" "$b")"
if [ "${WARM_SECS:-0}" -gt 0 ]; then
  # Fill the block cache first: a new server's cache is empty, and at 10 million the first
  # minutes of random groups read their blocks from the kernel's page cache.
  $BIN load-test --server http://127.0.0.1:$PORT --api-key "$K" --mode query --winner-only --lens recency \
    --clients 4 --duration-secs "$WARM_SECS" --groups "$NGROUPS" --tag "$TAG" --json >/dev/null 2>&1
  echo "warmed for $WARM_SECS s; resident set $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
fi
for lens in $LENSES; do
  a=$(ticks)
  out=$($BIN load-test --server http://127.0.0.1:$PORT --api-key "$K" --mode query --winner-only --lens "$lens" \
    --clients 4 --duration-secs 10 --groups "$NGROUPS" --tag "$TAG" --json 2>/dev/null | tail -1)
  b=$(ticks)
  echo "$out" | python3 -c "
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
d = json.loads(sys.stdin.read())
n = d['requests_ok'] + d['errors']
used = sum(b.values()) - sum(a.values())
print('$lens', 'queries', n, 'p50', d['latency_ms']['p50'], 'p99', d['latency_ms']['p99'],
      'server cpu_us/query', round(used * 10000 / max(n, 1), 1))" "$a" "$b"
done
