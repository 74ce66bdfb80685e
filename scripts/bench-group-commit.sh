#!/usr/bin/env bash
# Where the writer's time goes under single writes at 64 connections (or CLIENTS): group commits
# a second, records a commit, a commit's time and the fsync's share of it (from `admin status`'s commit
# figures, read before and after the measured window), and the server's CPU time per record
# (user + system, from /proc). The data directory should hold a benchmark store, e.g. a copy of
# the one scripts/bench-pg.sh leaves in DIR/stemedb; each run adds records to it. The writer
# thread's own CPU time per record (from /proc/PID/task/TID/stat) is printed too: the writer
# paces single writes, so it is the figure a change to the write path should move.
# Usage: scripts/bench-group-commit.sh BIN DATA_DIR [SECS (15)]
# Environment: LOAD_ARGS (realistic data: "--agents 300 --groups 300000 --sources-percent 33"),
# CLIENTS (64 connections).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 store=$2 secs=${3:-15}
load_args=${LOAD_ARGS:-"--agents 300 --groups 300000 --sources-percent 33"}
export STEMEDB_API_KEY="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ticks=$(getconf CLK_TCK)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
STEMEDB_ROOT_API_KEY=$STEMEDB_API_KEY "$bin" serve --data-dir "$store" --bind "127.0.0.1:$port" \
  --reliability-refresh-ms 1000000000 >"$store.group-commit.log" 2>&1 &
pid=$!
# The server is stopped, and waited for, however this ends: the next run opens the same store.
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
until curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "the server exited: $(tail -3 "$store.group-commit.log")" >&2; exit 1; }
  sleep 0.05
done
scripts/wait-reliability.sh "http://127.0.0.1:$port" "$STEMEDB_API_KEY" "$pid" >/dev/null
status() { curl -fs -H "x-api-key: $STEMEDB_API_KEY" "http://127.0.0.1:$port/v1/admin/status"; }
out=$(mktemp -d)
# shellcheck disable=SC2086 # load_args is a list of arguments
"$bin" load-test --server "http://127.0.0.1:$port" --mode single --clients "${CLIENTS:-64}" $load_args \
  --tag "commit$RANDOM" --duration-secs $((secs + 8)) --count 700000 --json >"$out/load.json" &
load=$!
sleep 8 # past the connections' start
writer_stat=$(grep -l '^stemedb-writer$' /proc/"$pid"/task/*/comm | sed 's/comm$/stat/')
status >"$out/before.json"
cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
writer0=$(awk '{print $14 + $15}' "$writer_stat")
sleep "$secs"
cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
writer1=$(awk '{print $14 + $15}' "$writer_stat")
status >"$out/after.json"
wait "$load"
python3 - "$out" "$secs" "$(((cpu1 - cpu0) * 1000000 / ticks))" \
  "$(((writer1 - writer0) * 1000000 / ticks))" <<'PY'
import json, sys
out, secs, cpu_us, writer_us = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a = json.load(open(f"{out}/before.json"))["commits"]
b = json.load(open(f"{out}/after.json"))["commits"]
load = json.load(open(f"{out}/load.json"))
commits = b["count"] - a["count"]
records = b["records"] - a["records"]
total_ms = b["mean_ms"] * b["count"] - a["mean_ms"] * a["count"]
fsync_ms = b["fsync_mean_ms"] * b["count"] - a["fsync_mean_ms"] * a["count"]
print(f"writes/s {load['requests_per_sec']:.0f} (p99 {load['latency_ms']['p99']} ms); "
      f"commits/s {commits / secs:.0f}, records a commit {records / commits:.1f}, "
      f"a commit {total_ms / commits:.3f} ms of which fsync {fsync_ms / commits:.3f} ms; "
      f"the writer in commits {total_ms / secs / 1000:.2f} of each second, in fsync "
      f"{fsync_ms / secs / 1000:.2f}; server CPU {cpu_us / records:.1f} us a record, "
      f"the writer thread's {writer_us / records:.1f}")
PY
rm -rf "$out"
