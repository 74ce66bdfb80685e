#!/usr/bin/env bash
# Waits until a server's storage engine has no flush outstanding and no compaction running,
# seen so for 3 seconds in a row (a compaction the engine owes but has not started does not
# show; three quiet seconds make a gap between two unlikely), and prints the seconds it waited. After a large ingest the engine
# compacts for a while; a timed run that overlaps it counts that work as the workload's CPU
# (docs/benchmarks.md, "Fifteenth session"). Used by bench-pg.sh, beside PostgreSQL's
# CHECKPOINT after its COPY.
# Usage: scripts/wait-engine.sh URL API_KEY SERVER_PID [SECS_MAX (600)]
# Exits 1, saying why, if the server exits or the engine is still busy after SECS_MAX.
set -euo pipefail
url=$1 key=$2 pid=$3 secs_max=${4:-600}
waited=0 quiet=0
busy() { # the engine's backlog from /metrics: exit 0 when busy or unknown
  local metrics
  metrics=$(curl -fs --max-time 5 -H "x-api-key: $key" "$url/metrics" 2>/dev/null) || return 0
  awk '
    /^stemedb_engine_(flushes_outstanding|compactions_active) / { seen++; if ($2 + 0 > 0) busy = 1 }
    END { exit (seen == 2 && !busy) ? 1 : 0 }' <<<"$metrics"
}
while [ "$quiet" -lt 3 ]; do
  kill -0 "$pid" 2>/dev/null || { echo "wait-engine: the server (pid $pid) exited" >&2; exit 1; }
  [ "$waited" -lt "$secs_max" ] ||
    { echo "wait-engine: the engine is still busy after $secs_max s" >&2; exit 1; }
  if busy; then quiet=0; else quiet=$((quiet + 1)); fi
  waited=$((waited + 1))
  sleep 1
done
echo "$waited"
