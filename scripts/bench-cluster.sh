#!/usr/bin/env bash
# Cluster-mode figures for docs/benchmarks.md (issue 12), side by side on one machine:
#   1. replication lag p50/p99, sampled each second on every node, during 60 s of 5,000 writes/s
#      and of 2,500 writes/s (batches of 50 through n1, paced by load-test --rate-per-sec);
#   2. single-write and batched throughput of the three-node cluster next to a single node,
#      with the same binary, the same load and the same disk.
# Usage: scripts/bench-cluster.sh [DIR]   (default ./bench-data/cluster; emptied first)
# Environment: LAG_SECS (60), RATES ("5000 2500"), THROUGHPUT_SECS (20; 0 skips the throughput
# part), STEMEDB_BIN (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-./bench-data/cluster}
lag_secs=${LAG_SECS:-60}
tput_secs=${THROUGHPUT_SECS:-20}
if [ -z "${STEMEDB_BIN:-}" ]; then cargo build --release -q -p stemedb-cli; fi
bin=${STEMEDB_BIN:-target/release/stemedb}
export STEMEDB_BIN=$bin
[ -d "$dir" ] && { bash scripts/cluster.sh stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
mkdir -p "$dir"
mapfile -t urls < <(bash scripts/cluster.sh start "$dir")
export STEMEDB_API_KEY; STEMEDB_API_KEY=$(cat "$dir/admin.key")
trap 'bash scripts/cluster.sh stop "$dir" >/dev/null 2>&1 || true' EXIT

cpu_ticks() { # pid file: user+system clock ticks of that process so far
  awk '{print $14 + $15}' "/proc/$(tr -dc 0-9 <"$1")/stat"
}
cpu_snapshot() { # one line: ticks of n1..n3, then of the three NATS servers together
  local n line="" nats=0
  for n in n1 n2 n3; do line+="$(cpu_ticks "$dir/$n/stemedb.pid") "; done
  for n in n1 n2 n3; do nats=$((nats + $(cpu_ticks "$dir/nats/$n/nats.pid"))); done
  echo "$line$nats"
}
cpu_report() { # before, after, writes: server CPU per write of each process (µs)
  python3 - "$1" "$2" "$3" "$(getconf CLK_TCK)" <<'PY'
import sys
before, after = (list(map(int, a.split())) for a in sys.argv[1:3])
writes, hz = int(sys.argv[3]), int(sys.argv[4])
names = ["stemedb n1", "stemedb n2", "stemedb n3", "nats (3)"]
per = [(a - b) / hz / max(writes, 1) * 1e6 for a, b in zip(after, before)]
print("server CPU per write: " + ", ".join(f"{n} {v:.0f} us" for n, v in zip(names, per))
      + f", all {sum(per):.0f} us")
PY
}

lag_run() { # rate: paced batches of 50 into n1 for $lag_secs, every node's lag sampled each second
  local rate=$1 load samples="$dir/lag-samples-$1" cpu_before i
  cpu_before=$(cpu_snapshot)
  echo "== replication lag: $rate writes/s (batches of 50) into ${urls[0]} for ${lag_secs}s"
  "$bin" load-test --server "${urls[0]}" --mode batch --batch-size 50 --clients 64 \
    --rate-per-sec "$rate" --count $((rate * lag_secs)) --duration-secs "$lag_secs" \
    --tag "lag$rate" --json >"$dir/lag-load-$rate.json" &
  load=$!
  rm -f "$samples".?
  while kill -0 "$load" 2>/dev/null; do
    for i in 0 1 2; do # one file per node: concurrent appends to one file interleave
      curl -sf -H "x-api-key: $STEMEDB_API_KEY" "${urls[$i]}/v1/cluster/members" |
        python3 -c 'import json,sys; m=json.load(sys.stdin)["members"][0]; print(m["node_id"], m["lag_seconds"], m["lag_sequences"])' \
        >>"$samples.$i" &
    done
    sleep 1
  done
  wait "$load"
  wait # the last samplers
  cat "$samples".? >"$samples"
  cat "$dir/lag-load-$rate.json"; echo
  cpu_report "$cpu_before" "$(cpu_snapshot)" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests_ok"] * 50)' "$dir/lag-load-$rate.json")"
  python3 - "$samples" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
for node in sorted({r[0] for r in rows}) + ["all"]:
    lags = sorted(float(r[1]) for r in rows if node in ("all", r[0]))
    pct = lambda p: lags[min(len(lags) - 1, int(round(p / 100 * (len(lags) - 1))))]
    print(f"lag {node:4} samples {len(lags):3}  p50 {pct(50):7.3f} s  p99 {pct(99):7.3f} s  max {lags[-1]:7.3f} s")
PY
  # Let the followers catch up before the next run.
  local deadline=$((SECONDS + 300))
  until [ "$SECONDS" -ge "$deadline" ] || curl -sf -H "x-api-key: $STEMEDB_API_KEY" "${urls[0]}/v1/cluster/members" |
    python3 -c 'import json,sys; sys.exit(any(m["lag_sequences"] for m in json.load(sys.stdin)["members"]))'; do
    sleep 1
  done
}
for rate in ${RATES:-5000 2500}; do lag_run "$rate"; done
[ "$tput_secs" -eq 0 ] && exit 0

throughput() { # label, url, tag
  echo "== $1: single writes, 64 clients, ${tput_secs}s"
  "$bin" load-test --server "$2" --mode single --clients 64 --count 200000 \
    --duration-secs "$tput_secs" --tag "$3-s" --json; echo
  echo "== $1: batches of 1,000, 4 clients, ${tput_secs}s"
  "$bin" load-test --server "$2" --mode batch --batch-size 1000 --clients 4 --count 1000000 \
    --duration-secs "$tput_secs" --tag "$3-b" --json; echo
}
throughput "cluster (3 nodes, 3 NATS servers), through n1" "${urls[0]}" cluster
bash scripts/cluster.sh stop "$dir" >/dev/null
trap - EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
STEMEDB_ROOT_API_KEY=$STEMEDB_API_KEY "$bin" serve --data-dir "$dir/single" \
  --bind "127.0.0.1:$port" >"$dir/single.log" 2>&1 &
single=$!
trap 'kill -TERM $single 2>/dev/null || true' EXIT
until curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null; do sleep 0.1; done
throughput "single node" "http://127.0.0.1:$port" single
