#!/usr/bin/env bash
# Waits until a server's reliability table covers its whole log, and prints the seconds it
# waited. A server makes its first table at start (5 s of one core at 100,000 assertions, 21 s
# at 1 million, minutes at 10 million) and refreshes it after writes; a benchmark that
# measures while it runs counts that work as query cost (docs/benchmarks.md, "Ninth session"
# and "Tenth session"); with a kept table that covers the log (RELIABILITY,
# docs/file-format.md) this returns at once, before the start's pass ends (or with no pass,
# when the same build kept it). Used by bench-pg.sh, bench-query-ab.sh and bench-query-settled.sh.
# Usage: scripts/wait-reliability.sh URL API_KEY SERVER_PID [SECS_MAX (900)]
# Exits 1, saying why, if the server exits or the table does not cover the log in time.
set -euo pipefail
url=$1 key=$2 pid=$3 secs_max=${4:-900}
waited=0
until curl -fs -H "x-api-key: $key" "$url/v1/overview?disputed=1" 2>/dev/null |
  python3 -c 'import json,sys; o=json.load(sys.stdin); sys.exit(0 if o["disputed_sequence"] == o["last_sequence"] else 1)' 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "wait-reliability: the server (pid $pid) exited" >&2; exit 1; }
  [ "$waited" -lt "$secs_max" ] ||
    { echo "wait-reliability: no table covering the log after $secs_max s" >&2; exit 1; }
  waited=$((waited + 1))
  sleep 1
done
echo "$waited"
