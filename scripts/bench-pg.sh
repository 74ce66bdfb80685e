#!/usr/bin/env bash
# StemeDB next to PostgreSQL 15 on the same generated data, on this machine, in one run
# (issue 13, docs/benchmarks.md "StemeDB and PostgreSQL"). Each workload runs on both systems
# in alternation, ROUNDS times; every result is one JSON line in DIR/results.jsonl, and the
# summary (medians, ratios) is printed at the end.
#
#   batch ingest  StemeDB: load-test --mode batch (1,000 per request, 8 in flight), signatures
#                 verified by the server. PostgreSQL: COPY in 8 parallel streams (no checks).
#   single writes 64 connections. StemeDB: POST /v1/assert. PostgreSQL: pgbench, one INSERT.
#   winner        64 and 4 connections, random groups of the loaded data. StemeDB: GET
#                 /v1/query with the lens and winner_only=true (one answer per group, as the
#                 SQL returns one row). PostgreSQL: pgbench, the lens as SQL (below).
#   restart       process start to the first answered query, after a graceful stop and after
#                 SIGKILL during ingest.
#
# Server CPU per operation is user+system time of the server's processes (StemeDB: the one
# process; PostgreSQL: the postmaster, its live children and the children it reaped) divided
# by operations: the figure least moved by a busy machine. The clients (load-test, pgbench,
# psql) run on the same two cores: their CPU is not in that figure, but each timed client's
# own CPU per operation is recorded beside it (client_cpu_us_per_op: pgbench's user+system
# time from /usr/bin/time; load-test's over its timed phase, without its signing, as it
# reports it), since what a client costs is taken from the server's two cores. pgbench's
# figure covers its whole run (opening its connections, writing its -l log), so it slightly
# overstates what pgbench costs per operation.
#
# Usage: scripts/bench-pg.sh [DIR]   (default ./bench-data/pg; its contents are replaced). The
# summary ends with this machine's signature costs (DIR/verify-cost.txt).
# Environment: COUNT (1000000 assertions), GROUP_COUNT (300000), ROUNDS (2), SECS (15 per timed
# run), STEMEDB_BIN (default: a release build), ONLY (space-separated workloads to run:
# ingest single winner restart; default all). Both systems are settled before timing and idle
# between runs (CHECKPOINT and VACUUM for PostgreSQL, scripts/wait-engine.sh for StemeDB).
# PG_INDEXES: "lens" (the default: the primary key and the index the lens queries below need)
# or "same" (also an index of each record's agent and a GIN index of its sources, the two
# other indexes StemeDB keeps, so that PostgreSQL keeps what StemeDB keeps).
# WARM_SECS (10): before each timed winner run, both systems answer the same queries that long,
# unmeasured, so that each is timed in the state a steady read load keeps it in (PostgreSQL's
# buffers; StemeDB's kept answers, docs/benchmarks.md "Twenty-seventh session"); 0: none.
# PostgreSQL is Debian's postgresql-15 package, installed here if missing (apt-get); it runs
# as the postgres user with fsync and synchronous_commit on (the defaults), on loopback. Run as
# root (apt-get, runuser). Never needed by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-./bench-data/pg}
COUNT=${COUNT:-1000000}
GROUP_COUNT=${GROUP_COUNT:-300000}
ROUNDS=${ROUNDS:-2}
SECS=${SECS:-15}
WARM_SECS=${WARM_SECS:-10}
ONLY=${ONLY:-ingest single winner restart}
PG_INDEXES=${PG_INDEXES:-lens}
AGENTS=300
SOURCES_PERCENT=33
pg=/usr/lib/postgresql/15/bin

say() { echo "bench-pg: $*" >&2; }
die() { echo "bench-pg: ERROR: $*" >&2; exit 1; }
case $PG_INDEXES in lens | same) ;; *) die "PG_INDEXES is \"lens\" or \"same\", not \"$PG_INDEXES\"" ;; esac
say "PostgreSQL indexes: $PG_INDEXES"
runs() { [[ " $ONLY " == *" $1 "* ]]; }

if [ -z "${STEMEDB_BIN:-}" ]; then cargo build --release -q -p stemedb-cli; fi
bin=$(realpath "${STEMEDB_BIN:-target/release/stemedb}")
if [ ! -x "$pg/postgres" ] || [ ! -x "$pg/pgbench" ]; then
  say "installing postgresql-15 (Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 >/dev/null ||
    die "apt-get install postgresql-15 failed"
fi
id postgres >/dev/null 2>&1 || die "no postgres user after installing postgresql-15"

rm -rf "$dir" && mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
chmod 755 "$dir"
results=$dir/results.jsonl
: >"$results"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Each live thread's CPU ticks as "tid name ticks" lines (the name with its trailing number cut:
# stemedb-conn-3 counts as stemedb-conn); threads_cpu below turns two of these into seconds by
# name, plus what threads that ended in between used (a reliability pass's thread ends with it).
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    awk -v tid="${t##*/}" '{ line = $0; sub(/^[0-9]+ \(/, "", line)
      name = substr(line, 1, index(line, ") ") - 1); sub(/-[0-9]+$/, "", name); gsub(/ /, "_", name)
      split(substr(line, index(line, ") ") + 2), f, " "); print tid, name, f[12] + f[13] }' \
      "$t/stat" 2>/dev/null || true
  done
}
threads_cpu() { # before-file after-file process-ticks: {"name": seconds, ..., "ended threads": s}
  python3 - "$1" "$2" "$3" "$(getconf CLK_TCK)" <<'PY'
import collections, json, sys
def load(path):
    return {tid: (name, int(n)) for tid, name, n in (line.split(" ") for line in open(path))}
before, after, total, hz = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
# By thread id: a thread started in between counts from 0; one that ended is in the rest.
used = collections.Counter()
for tid, (name, n) in after.items():
    used[name] += n - before.get(tid, (name, 0))[1]
used = {n: t for n, t in used.items() if t > 0}
used["ended threads"] = max(0, total - sum(used.values()))
print(json.dumps({n: round(t / hz, 2) for n, t in sorted(used.items(), key=lambda x: -x[1])}))
PY
}
secs_of_ticks() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'; }
secs_since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
client_time=$dir/client-time
client_cpu_secs() { awk '{print $1 + $2}' "$client_time"; } # after a client ran under timed
timed() { /usr/bin/time -f '%U %S' -o "$client_time" "$@"; }
result() { # system workload round ops secs cpu_ticks p50_ms p99_ms [refresh_ms]; CLIENT_CPU_SECS
  THREADS_CPU=${THREADS_CPU:-} CLIENT_CPU_SECS=${CLIENT_CPU_SECS:-} python3 - "$@" "$(getconf CLK_TCK)" >>"$results" <<'PY'
import json, os, sys
system, workload, rnd, ops, secs, cpu, p50, p99 = sys.argv[1:9]
refresh_ms, hz = (sys.argv[9], sys.argv[10]) if len(sys.argv) > 10 else ("0", sys.argv[9])
ops, secs, cpu, refresh = float(ops), float(secs), float(cpu), float(refresh_ms) / 1000
row = {"system": system, "workload": workload, "round": int(rnd),
    "ops": ops, "secs": secs, "ops_per_sec": ops / secs if secs else 0,
    "cpu_us_per_op": cpu / int(hz) / ops * 1e6 if ops else None,
    "p50_ms": float(p50) if p50 != "-" else None, "p99_ms": float(p99) if p99 != "-" else None}
client = os.environ.get("CLIENT_CPU_SECS")
threads = os.environ.get("THREADS_CPU")
if threads:
    # The server's CPU over the run by thread name, in seconds: where an odd round's went.
    by_thread = json.loads(threads)
    row["server_cpu_secs_by_thread"] = by_thread
    # A reliability pass runs on a thread named `reliability` that ends with it (builds from
    # the forty-fifth session on), so the pass's CPU inside the run is that thread's, or if it
    # ended, part of what ended threads used: counted exactly, where the log's `cpu_ms` below
    # counts a whole pass that ended in the run, even the part before it.
    if refresh or "reliability" in by_thread:
        refresh = by_thread.get("reliability", 0) + by_thread.get("ended threads", 0)
if client and ops:
    row["client_cpu_us_per_op"] = float(client) / ops * 1e6
if refresh:
    # StemeDB's reliability refresher (a whole pass over the store, spaced by 9× its own
    # length) ran during the run: its CPU is in the figure above. Without a thread breakdown
    # the whole pass's CPU is subtracted (even a part before the run), so the figure without
    # it is a lower bound.
    row["refresh_secs"] = refresh
    row["cpu_us_per_op_without_refresh"] = (cpu / int(hz) - refresh) / ops * 1e6 if ops else None
print(json.dumps(row))
PY
  tail -1 "$results" >&2
}

# ---------------------------------------------------------------- the data, once
data_args=(--count "$COUNT" --groups "$GROUP_COUNT" --agents "$AGENTS" --sources-percent "$SOURCES_PERCENT" --tag pg)
say "generating $COUNT signed assertions over $GROUP_COUNT groups ($AGENTS agents, $SOURCES_PERCENT % with a source)"
"$bin" load-test --csv "$dir/data.csv" "${data_args[@]}"
chmod 644 "$dir/data.csv"

# The machine's signature checks, kept with each run: StemeDB's write figures move from one
# machine to another mostly with them, PostgreSQL's do not (docs/benchmarks.md, "Thirty-ninth
# session": twice as slow on one machine as on the one before).
say "this machine's signature checks (stemedb-core's verify_cost example)"
cargo run --release -q -p stemedb-core --example verify_cost >"$dir/verify-cost.txt" 2>"$dir/verify-cost.err" ||
  die "verify_cost failed: $(tail -3 "$dir/verify-cost.err")"

# ---------------------------------------------------------------- PostgreSQL
pg_port=$(free_port)
pgdata=$dir/pgdata
pgsql() { "$pg/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d bench "$@"; }
pg_start() {
  runuser -u postgres -- "$pg/pg_ctl" -D "$pgdata" -l "$dir/pg.log" -w -t 120 start >/dev/null
}
pg_stop() { let_go postgresql; runuser -u postgres -- "$pg/pg_ctl" -D "$pgdata" -m "${1:-fast}" -w stop >/dev/null 2>&1 || true; }
pg_pid() { head -1 "$pgdata/postmaster.pid"; }
# While one system runs, the other is held (SIGSTOP), so that work that starts on a timer
# (StemeDB's reliability pass, PostgreSQL's autovacuum and checkpoints) lands in its own
# system's runs, not in the other's: a StemeDB pass at idle priority once took the idle time
# of PostgreSQL's round (docs/benchmarks.md, "Forty-fifth session"). Each is let go
# (SIGCONT) after the other's run and before it is stopped.
pg_procs() { local pm; pm=$(pg_pid 2>/dev/null) || return 0; echo "$pm" $(ps -o pid= --ppid "$pm"); }
hold() { # system
  case $1 in
    stemedb) [ -z "${sd_pid:-}" ] || kill -STOP "$sd_pid" 2>/dev/null || true ;;
    postgresql) # the postmaster first, so that no child forked after the list escapes
      kill -STOP "$(pg_pid)" 2>/dev/null || true
      kill -STOP $(pg_procs) 2>/dev/null || true ;;
  esac
}
let_go() { # system
  case $1 in
    stemedb) [ -z "${sd_pid:-}" ] || kill -CONT "$sd_pid" 2>/dev/null || true ;;
    postgresql) [ ! -f "$pgdata/postmaster.pid" ] || kill -CONT $(pg_procs) 2>/dev/null || true ;;
  esac
}
pg_ticks() { # the postmaster, the children it reaped, and its live children
  local pm kids=0 c
  pm=$(pg_pid)
  for c in $(ps -o pid= --ppid "$pm"); do kids=$((kids + $(ticks "$c" 2>/dev/null || echo 0))); done
  echo $(($(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat") + kids))
}
mkdir -p "$pgdata" && touch "$dir/pg.log" && chown postgres: "$pgdata" "$dir/pg.log"
runuser -u postgres -- "$pg/initdb" -D "$pgdata" --auth=trust -U postgres >/dev/null
cat >>"$pgdata/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = ''
max_connections = 100
fsync = on
synchronous_commit = on
EOF
pg_start
"$pg/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE bench" postgres

pg_restart_secs() { # kind round: start (after a stop or a crash) to the first answered query
  local start=$(date +%s%N)
  pg_start
  until pgsql -c "SELECT 1 FROM assertions WHERE subject = 'load/pg/s00000000' LIMIT 1" >/dev/null 2>&1; do sleep 0.01; done
  result postgresql "restart-$1" "$2" 1 "$(secs_since "$start")" 0 - -
}

pg_schema() {
  pgsql <<'SQL'
DROP TABLE IF EXISTS assertions, agent_trust;
-- The same record as StemeDB keeps, with the indexes the queries below need.
CREATE TABLE assertions (
  id bytea PRIMARY KEY, agent_id text NOT NULL, subject text NOT NULL, predicate text NOT NULL,
  value jsonb NOT NULL, confidence double precision NOT NULL, valid_at timestamptz NOT NULL,
  sources text[] NOT NULL, signature bytea NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX assertions_group ON assertions (subject, predicate, valid_at DESC);
SQL
  if [ "$PG_INDEXES" = same ]; then
    # What StemeDB also keeps for its other reads: a record's agent (`by_agent`: who said
    # what) and its sources (`by_source`: a retracted source takes along what rests on it).
    pgsql <<'SQL'
CREATE INDEX assertions_agent ON assertions (agent_id, recorded_at);
CREATE INDEX assertions_sources ON assertions USING gin (sources);
SQL
  fi
  pgsql <<'SQL'
CREATE TABLE agent_trust (agent_id text PRIMARY KEY, trust double precision NOT NULL);
INSERT INTO agent_trust SELECT 'load/pg/agent-' || a, (a % 10) / 10.0 FROM generate_series(0, 299) a;
SQL
}

# The lenses as SQL: the winner of one (subject, predicate) group.
cat >"$dir/recency.sql" <<'SQL'
\set g random(0, :groups - 1)
SELECT id, agent_id, value, confidence, valid_at FROM assertions
 WHERE subject = 'load/pg/s' || lpad(:g::text, 8, '0') AND predicate = 'value'
 ORDER BY valid_at DESC, id LIMIT 1;
SQL
cat >"$dir/authority.sql" <<'SQL'
\set g random(0, :groups - 1)
SELECT a.id, a.agent_id, a.value, a.confidence, a.valid_at FROM assertions a
  LEFT JOIN agent_trust t USING (agent_id)
 WHERE a.subject = 'load/pg/s' || lpad(:g::text, 8, '0') AND a.predicate = 'value'
 ORDER BY coalesce(t.trust, 0) * a.confidence DESC, a.valid_at DESC, a.id LIMIT 1;
SQL
cat >"$dir/consensus.sql" <<'SQL'
\set g random(0, :groups - 1)
SELECT value, sum(confidence) AS support, count(*) FROM assertions
 WHERE subject = 'load/pg/s' || lpad(:g::text, 8, '0') AND predicate = 'value'
 GROUP BY value ORDER BY support DESC, value LIMIT 1;
SQL
cat >"$dir/insert.sql" <<'SQL'
\set g random(0, :groups - 1)
\set a random(0, 299)
INSERT INTO assertions (id, agent_id, subject, predicate, value, confidence, valid_at, sources, signature)
VALUES (decode(md5(random()::text) || md5(random()::text), 'hex'), 'load/pgs/agent-' || :a,
        'load/pgs/s' || lpad(:g::text, 8, '0'), 'value', to_jsonb(random() * 100), 0.7, now(),
        '{}', decode(repeat('ab', 64), 'hex'));
SQL
chmod 644 "$dir"/*.sql

pg_copy() { # round: the data into an empty table, 8 COPY streams at once
  pg_schema
  rm -rf "$dir/parts" && mkdir "$dir/parts"
  split -n l/8 -d "$dir/data.csv" "$dir/parts/p"
  local before start p secs
  before=$(pg_ticks); start=$(date +%s%N)
  local copies=()
  for p in "$dir"/parts/p*; do
    pgsql -c "\\copy assertions (id, agent_id, subject, predicate, value, confidence, valid_at, sources, signature) FROM '$p' CSV" &
    copies+=($!)
  done
  wait "${copies[@]}" # not a bare wait: the StemeDB server of the round before is a child too
  secs=$(secs_since "$start")
  result postgresql ingest "$1" "$COUNT" "$secs" $(($(pg_ticks) - before)) - -
  # Settled as StemeDB is before its timed runs (sd_settle): the vacuum autovacuum would start
  # within a minute of the COPY, and the checkpoint of its WAL, done now and not timed.
  pgsql -c "VACUUM (ANALYZE) assertions" -c "CHECKPOINT"
  quiet_after postgresql pg_ticks
}

# Waits until a server used under 5 % of a core for 3 s in a row (at most 120 s), so that work
# a timed run left behind (PostgreSQL's checkpoints and vacuum, StemeDB's flushes, compactions
# and reliability refresh) does not land in the next run, the other system's. That work is
# counted in neither system's CPU per operation; the log says how much of it there was.
quiet_after() { # name ticks-command...
  local name=$1 quiet=0 waited=0 start before after
  shift
  start=$("$@") || die "$name: no CPU figure (did it exit?)"
  before=$start
  while [ "$quiet" -lt 3 ] && [ "$waited" -lt 120 ]; do
    sleep 1
    waited=$((waited + 1))
    after=$("$@") || die "$name: no CPU figure (did it exit?)"
    if [ $((after - before)) -le $(($(getconf CLK_TCK) / 20)) ]; then quiet=$((quiet + 1)); else quiet=0; fi
    before=$after
  done
  if [ "$quiet" -ge 3 ]; then
    say "$name quiet after $waited s ($(secs_of_ticks $((after - start))) s of CPU after the run)"
  else
    say "WARNING: $name still busy after $waited s ($(secs_of_ticks $((after - start))) s of CPU); the next run overlaps it"
  fi
}

pgbench_run() { # workload round clients script [extra pgbench args]: tps, latency from -l
  local workload=$1 rnd=$2 clients=$3 script=$4 before logs
  shift 4
  logs=$dir/pgbench-logs && rm -rf "$logs" && mkdir -p "$logs"
  hold stemedb
  before=$(pg_ticks)
  (cd "$logs" && timed "$pg/pgbench" -n -h 127.0.0.1 -p "$pg_port" -U postgres -c "$clients" -j 2 \
    -T "$SECS" -M prepared -D groups="$GROUP_COUNT" -f "$dir/$script" -l "$@" bench >"$dir/pgbench.out" 2>&1) ||
    { cat "$dir/pgbench.out" >&2; die "pgbench $script failed"; }
  local cpu=$(($(pg_ticks) - before))
  read -r ops p50 p99 < <(cat "$logs"/pgbench_log.* | python3 -c '
import sys
lat = sorted(int(l.split()[2]) for l in sys.stdin if l.strip())
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] / 1000
print(len(lat), pct(50), pct(99))')
  CLIENT_CPU_SECS=$(client_cpu_secs) result postgresql "$workload" "$rnd" "$ops" "$SECS" "$cpu" "$p50" "$p99"
  quiet_after postgresql pg_ticks
  let_go stemedb
}

# ---------------------------------------------------------------- StemeDB
sd_port=$(free_port)
sd_url="http://127.0.0.1:$sd_port"
STEMEDB_ROOT_API_KEY="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export STEMEDB_ROOT_API_KEY STEMEDB_API_KEY="$STEMEDB_ROOT_API_KEY"
sd_pid=
sd_ready_secs=
sd_start() { # starts the server (sd_pid), waits for its first answered query (sd_ready_secs)
  local start=$(date +%s%N)
  "$bin" serve --data-dir "$dir/stemedb" --bind "127.0.0.1:$sd_port" >>"$dir/stemedb.log" 2>&1 &
  sd_pid=$!
  until curl -fs -H "x-api-key: $STEMEDB_API_KEY" \
      "$sd_url/v1/query?subject=load/pg/s00000000&predicate=value&lens=recency" >/dev/null 2>&1; do
    kill -0 "$sd_pid" 2>/dev/null || die "stemedb exited: $(tail -5 "$dir/stemedb.log")"
    sleep 0.01
  done
  sd_ready_secs=$(secs_since "$start")
}
sd_stop() { [ -n "$sd_pid" ] && { let_go stemedb; kill -"${1:-TERM}" "$sd_pid" 2>/dev/null || true; wait "$sd_pid" 2>/dev/null || true; }; sd_pid=; }
trap 'sd_stop KILL; pg_stop immediate' EXIT

load_test() { # workload round [load-test args]: one result line
  local workload=$1 rnd=$2 before out log_lines refresh_ms
  shift 2
  log_lines=$(wc -l <"$dir/stemedb.log")
  hold postgresql
  thread_ticks "$sd_pid" >"$dir/threads-before"
  before=$(ticks "$sd_pid")
  out=$("$bin" load-test --server "$sd_url" --json "$@")
  local cpu=$(($(ticks "$sd_pid") - before))
  thread_ticks "$sd_pid" >"$dir/threads-after"
  local threads
  threads=$(threads_cpu "$dir/threads-before" "$dir/threads-after" "$cpu")
  # Reliability passes that ended during the run: each logs its CPU (`cpu_ms`; builds before
  # it logged only its wall time, `took_ms`, which exceeds the CPU on busy cores).
  refresh_ms=$(tail -n +"$((log_lines + 1))" "$dir/stemedb.log" | awk '/reliability table refreshed/ {
      ms = ""; for (i = 1; i <= NF; i++) { if ($i ~ /^cpu_ms=/) ms = substr($i, 8) }
      if (ms == "") for (i = 1; i <= NF; i++) { if ($i ~ /^took_ms=/) ms = substr($i, 9) }
      s += ms } END {print s + 0}')
  read -r ops secs p50 p99 client_secs < <(echo "$out" | python3 -c '
import json, os, sys
d = json.load(sys.stdin)
ops = d["requests_ok"] if d["mode"] == "query" else d["assertions_per_sec"] * d["elapsed_secs"]
ticks = d.get("client_cpu_ticks")
client = ticks / os.sysconf("SC_CLK_TCK") if ticks is not None else ""
print(round(ops), d["elapsed_secs"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], client)')
  THREADS_CPU=$threads CLIENT_CPU_SECS=$client_secs result stemedb "$workload" "$rnd" "$ops" "$secs" "$cpu" "$p50" "$p99" "$refresh_ms"
  quiet_after stemedb ticks "$sd_pid"
  let_go postgresql
}

warm_up() { # lens clients: unmeasured winner queries on both systems (WARM_SECS)
  [ "$WARM_SECS" -gt 0 ] || return 0
  "$pg/pgbench" -n -h 127.0.0.1 -p "$pg_port" -U postgres -c "$2" -j 2 -T "$WARM_SECS" \
    -M prepared -D groups="$GROUP_COUNT" -f "$dir/$1.sql" bench >/dev/null 2>&1 ||
    die "pgbench's warm-up with $1.sql failed"
  "$bin" load-test --server "$sd_url" --json --mode query --winner-only --lens "$1" \
    --clients "$2" --duration-secs "$WARM_SECS" --groups "$GROUP_COUNT" --tag pg >/dev/null ||
    die "load-test's warm-up with the $1 lens failed"
  quiet_after postgresql pg_ticks
  quiet_after stemedb ticks "$sd_pid"
}

sd_ingest() { # round: the data into an empty store
  sd_stop; rm -rf "$dir/stemedb"
  sd_start
  load_test ingest "$1" --mode batch --batch-size 1000 --clients 8 --duration-secs 3600 "${data_args[@]}"
  sd_settle
}
# Restarts the server and waits until its reliability table covers the whole log, then until its
# engine has no flush or compaction left (as PostgreSQL checkpoints after its COPY). After an
# ingest the refresher's next pass comes up to minutes later (it waits 9× its last pass) and
# takes 15-20 s of one core at 1 million; a query workload that overlaps it counts it as
# query cost (docs/benchmarks.md, "Tenth session"). A start makes the table at once.
sd_settle() {
  local waited
  sd_stop
  # A kept table (RELIABILITY, docs/file-format.md) would make the wait below return before
  # the start's pass ends, and that pass warms the caches every earlier round was measured
  # with: without the file the wait covers it, as before, so rounds stay comparable.
  rm -f "$dir/stemedb/RELIABILITY"
  sd_start
  waited=$(scripts/wait-reliability.sh "$sd_url" "$STEMEDB_API_KEY" "$sd_pid") ||
    die "no reliability table: $(tail -5 "$dir/stemedb.log")"
  say "reliability table covers the log after ${waited} s"
  if waited=$(scripts/wait-engine.sh "$sd_url" "$STEMEDB_API_KEY" "$sd_pid" 300); then
    say "engine without flushes or compactions after ${waited} s more"
  else
    kill -0 "$sd_pid" 2>/dev/null || die "stemedb exited: $(tail -5 "$dir/stemedb.log")"
    say "WARNING: the engine still compacts after 300 s; the runs below overlap it"
  fi
}

# ---------------------------------------------------------------- the workloads
for r in $(seq 1 "$ROUNDS"); do
  if runs ingest || [ "$r" = 1 ]; then
    say "round $r: batch ingest of $COUNT"
    sd_stop # the round before's server would share the cores with the COPY
    pg_copy "$r"
    sd_ingest "$r"
  fi
  if runs winner; then
    for lens in recency authority consensus; do
      say "round $r: $lens winner, 64 connections"
      warm_up "$lens" 64
      pgbench_run "$lens-64" "$r" 64 "$lens.sql"
      load_test "$lens-64" "$r" --mode query --winner-only --lens "$lens" --clients 64 --duration-secs "$SECS" --groups "$GROUP_COUNT" --tag pg
    done
    say "round $r: recency winner, 4 connections"
    warm_up recency 4
    pgbench_run recency-4 "$r" 4 recency.sql
    load_test recency-4 "$r" --mode query --winner-only --lens recency --clients 4 --duration-secs "$SECS" --groups "$GROUP_COUNT" --tag pg
  fi
  if runs single; then
    say "round $r: single writes, 64 connections"
    pgbench_run single-64 "$r" 64 insert.sql
    # The vacuum autovacuum would start up to a minute later, inside StemeDB's run; not timed.
    pg_before=$(pg_ticks)
    pgsql -c "VACUUM ANALYZE assertions" -c "CHECKPOINT"
    say "postgresql: VACUUM ANALYZE and CHECKPOINT after the inserts took $(secs_of_ticks $(($(pg_ticks) - pg_before))) s of its CPU"
    # The same shape as insert.sql: 300 agents, random groups among GROUP_COUNT, no source.
    load_test single-64 "$r" --mode single --clients 64 --count 300000 --duration-secs "$SECS" \
      --agents "$AGENTS" --groups "$GROUP_COUNT" --tag "pgs$r"
  fi
done

if runs restart; then
  say "restart to the first answered query, after a graceful stop"
  for r in $(seq 1 "$ROUNDS"); do
    pg_stop fast
    pg_restart_secs graceful "$r"
    sd_stop TERM
    sd_start
    result stemedb restart-graceful "$r" 1 "$sd_ready_secs" 0 - -
  done
  say "restart to the first answered query, after SIGKILL during ingest"
  for r in $(seq 1 "$ROUNDS"); do
    pgbench_bg() { "$pg/pgbench" -n -h 127.0.0.1 -p "$pg_port" -U postgres -c 8 -j 2 -T 60 -D groups="$GROUP_COUNT" -f "$dir/insert.sql" bench >/dev/null 2>&1; }
    pgbench_bg & load=$!
    sleep 5; kill -KILL "$(pg_pid)"; wait "$load" || true
    sleep 2 # the orphaned backends notice the postmaster's death and leave shared memory
    pg_restart_secs sigkill "$r"
    # Signing 200,000 takes the client about 5 s before it sends; then 10 s of ingest.
    "$bin" load-test --server "$sd_url" --json --mode batch --batch-size 1000 --clients 8 \
      --count 200000 --duration-secs 60 --tag "pgk$r" >/dev/null 2>&1 & load=$!
    sleep 15; sd_stop KILL; wait "$load" || true
    sd_start
    result stemedb restart-sigkill "$r" 1 "$sd_ready_secs" 0 - -
  done
fi

# ---------------------------------------------------------------- summary
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(system, workload, key):
    vals = [r[key] for r in rows if r["system"] == system and r["workload"] == workload and r.get(key) is not None]
    return statistics.median(vals) if vals else None
fmt = lambda v, d=0: "—" if v is None else f"{v:,.{d}f}"
print("\n| workload | StemeDB /s | PostgreSQL /s | ratio | CPU µs/op StemeDB / PostgreSQL | client CPU µs/op S / P | p50 ms S / P | p99 ms S / P |")
print("|---|---|---|---|---|---|---|---|")
for w in dict.fromkeys(r["workload"] for r in rows):
    if w.startswith("restart"):
        continue
    s, p = med("stemedb", w, "ops_per_sec"), med("postgresql", w, "ops_per_sec")
    print(f"| {w} | {fmt(s)} | {fmt(p)} | {fmt(s / p if s and p else None, 2)}× "
          f"| {fmt(med('stemedb', w, 'cpu_us_per_op'))} / {fmt(med('postgresql', w, 'cpu_us_per_op'))} "
          f"| {fmt(med('stemedb', w, 'client_cpu_us_per_op'))} / {fmt(med('postgresql', w, 'client_cpu_us_per_op'))} "
          f"| {fmt(med('stemedb', w, 'p50_ms'), 2)} / {fmt(med('postgresql', w, 'p50_ms'), 2)} "
          f"| {fmt(med('stemedb', w, 'p99_ms'), 2)} / {fmt(med('postgresql', w, 'p99_ms'), 2)} |")
for w in ("restart-graceful", "restart-sigkill"):
    s, p = med("stemedb", w, "secs"), med("postgresql", w, "secs")
    if s is not None:
        print(f"| {w} (s to first query) | {fmt(s, 2)} | {fmt(p, 2)} | | | | |")
for r in rows:
    if r.get("refresh_secs") and r.get("cpu_us_per_op_without_refresh") is not None:
        print(f"\n{r['workload']}, round {r['round']}: reliability passes of {r['refresh_secs']:.1f} s of CPU "
              f"ended during the run; without them StemeDB's CPU is "
              f"{r['cpu_us_per_op_without_refresh']:.0f} µs/op")
PY
echo
echo "This machine's signature checks ($dir/verify-cost.txt):"
cat "$dir/verify-cost.txt"
