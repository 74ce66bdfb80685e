#!/usr/bin/env bash
# The rate-limit isolation measurement (issue 4, docs/benchmarks.md): a release server on a
# fresh data directory; one key is driven at 10x its limit while another key's paced queries
# are timed, alternating with rounds where the other key runs alone. Fails if the quiet key's
# pooled p99 rises more than 20 %. The noise runs in its own process at niceness 10
# (--noise-nice), so that the generator's CPU is not counted as the server's.
# Usage: scripts/rate-limit-isolation.sh [ROUNDS] [PHASE_SECS] [bench-rate-limit flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
phase=${2:-4}
shift 2 2>/dev/null || shift $#
cargo build --release --quiet -p stemedb-cli
bin="${CARGO_TARGET_DIR:-target}/release/stemedb"
data=$(mktemp -d)
out=$(mktemp)
STEMEDB_ROOT_API_KEY="iso-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export STEMEDB_ROOT_API_KEY STEMEDB_API_KEY="$STEMEDB_ROOT_API_KEY"
"$bin" serve --data-dir "$data/db" --bind 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data" "$out"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  url=$(sed -n 's/^stemedb listening on //p' "$out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { echo "server did not start"; exit 1; }
"$bin" bench-rate-limit --server "$url" --limit-per-sec 200 --overload 10 --quiet-per-sec 200 \
  --rounds "$rounds" --phase-secs "$phase" --p99-increase-max-percent 20 "$@"
