#!/usr/bin/env bash
# Three StemeDB nodes on one machine, in cluster mode over three NATS JetStream servers
# (issue 12, docs/cluster.md). Everything listens on 127.0.0.1; each node has its own data
# directory. NATS is installed and run by scripts/nats.sh.
#
# Usage:
#   scripts/cluster.sh start DIR    start what is not running: the NATS cluster (DIR/nats), then
#                                   nodes n1..n3 (DIR/n1..n3, HTTP ports kept in DIR/http-ports);
#                                   waits until each answers /v1/cluster/health; prints the URLs
#   scripts/cluster.sh stop DIR     stop the nodes (SIGTERM) and the NATS servers; data is kept
#   scripts/cluster.sh status DIR   GET /v1/cluster/members from the first node that answers
#   scripts/cluster.sh kill DIR N   SIGKILL node N (1..3), for fault drills
# The nodes share an admin key (DIR/admin.key, used as STEMEDB_ROOT_API_KEY) and a custodial
# master key (DIR/master.key), both created at the first start (mode 0600): configuration that
# must be the same on every node. Use them as: STEMEDB_API_KEY=$(cat DIR/admin.key).
# Environment: STEMEDB_BIN (default: target/release/stemedb, built or brought up to date with
# cargo first).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
NODES=(n1 n2 n3)

say() { echo "cluster.sh: $*" >&2; }
die() { echo "cluster.sh: ERROR: $*" >&2; exit 1; }

stemedb_bin() {
  if [ -n "${STEMEDB_BIN:-}" ]; then echo "$STEMEDB_BIN"; return; fi
  # cargo rebuilds only what changed; a stale binary would lack the cluster flags.
  say "cargo build --release -p stemedb-cli (set STEMEDB_BIN to skip)"
  (cd "$root" && cargo build --release -q -p stemedb-cli) || die "cargo build failed"
  echo "$root/target/release/stemedb"
}

secret_file() { # path, bytes of randomness: creates a hex secret (0600) once
  [ -s "$1" ] && return
  (umask 077 && head -c "$2" /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

node_pid() { # dir, node: the pid if that node runs
  local pid
  pid=$(cat "$1/$2/stemedb.pid" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--node-id $2"; then
    echo "$pid"
  fi
}

http_port() { sed -n "s/^$2 //p" "$1/http-ports"; }

start() {
  local dir=$1 bin urls n pid port
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  bin=$(stemedb_bin)
  urls=$(bash "$root/scripts/nats.sh" cluster start "$dir/nats")
  secret_file "$dir/admin.key" 32
  secret_file "$dir/master.key" 32
  if [ ! -s "$dir/http-ports" ]; then
    for n in "${NODES[@]}"; do echo "$n $(free_port)"; done >"$dir/http-ports"
  fi
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$dir" "$n")
    if [ -n "$pid" ]; then say "$n already running (pid $pid)"; continue; fi
    port=$(http_port "$dir" "$n")
    mkdir -p "$dir/$n"
    STEMEDB_ROOT_API_KEY=$(cat "$dir/admin.key") nohup "$bin" serve --data-dir "$dir/$n/data" \
      --bind "127.0.0.1:$port" --cluster "$urls" --node-id "$n" \
      --master-key-file "$dir/master.key" >>"$dir/$n/stemedb.log" 2>&1 </dev/null &
    echo $! >"$dir/$n/stemedb.pid"
    say "started $n: http://127.0.0.1:$port, log $dir/$n/stemedb.log"
  done
  for n in "${NODES[@]}"; do wait_healthy "$dir" "$n"; done
  for n in "${NODES[@]}"; do echo "http://127.0.0.1:$(http_port "$dir" "$n")"; done
}

wait_healthy() {
  local dir=$1 n=$2 port deadline=$((SECONDS + 60))
  port=$(http_port "$dir" "$n")
  until curl -sf -H "x-api-key: $(cat "$dir/admin.key")" \
    "http://127.0.0.1:$port/v1/cluster/health" >/dev/null; do
    if [ -z "$(node_pid "$dir" "$n")" ]; then
      tail -n 20 "$dir/$n/stemedb.log" >&2 || true
      die "$n exited (log above: $dir/$n/stemedb.log)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "$n does not answer after 60 s ($dir/$n/stemedb.log)"
    sleep 0.2
  done
}

stop() {
  local dir=$1 n pid
  dir=$(cd "$dir" && pwd)
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$dir" "$n")
    [ -n "$pid" ] || continue
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    say "stopped $n (pid $pid)"
  done
  bash "$root/scripts/nats.sh" cluster stop "$dir/nats"
}

status() {
  local dir=$1 n
  dir=$(cd "$dir" && pwd)
  for n in "${NODES[@]}"; do
    if curl -sf -H "x-api-key: $(cat "$dir/admin.key")" \
      "http://127.0.0.1:$(http_port "$dir" "$n")/v1/cluster/members"; then
      echo; return 0
    fi
  done
  die "no node of $dir answers"
}

kill_node() {
  local dir=$1 n=n$2 pid
  dir=$(cd "$dir" && pwd)
  pid=$(node_pid "$dir" "$n")
  [ -n "$pid" ] || die "$n of $dir is not running"
  kill -KILL "$pid"
  say "killed $n (pid $pid) with SIGKILL"
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

case ${1:-} in
  start) [ $# -eq 2 ] || usage; start "$2" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  status) [ $# -eq 2 ] || usage; status "$2" ;;
  kill) [ $# -eq 3 ] || usage; kill_node "$2" "$3" ;;
  *) usage ;;
esac
