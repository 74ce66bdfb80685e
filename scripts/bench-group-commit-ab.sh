#!/usr/bin/env bash
# Two builds' writers side by side: scripts/bench-group-commit.sh for BIN_A and BIN_B in
# alternated pairs (A first in odd pairs, B first in even ones), each run on a fresh copy of the
# benchmark store STORE (e.g. DIR/stemedb that scripts/bench-pg.sh leaves; STORE is only read).
# A throwaway behind an environment switch compares with itself: pass the same binary twice and
# B_ENV="NAME=VALUE", which only B's runs get. One line per run, as bench-group-commit.sh
# prints it.
# Usage: scripts/bench-group-commit-ab.sh BIN_A BIN_B STORE [PAIRS (4)] [SECS (10)]
# Environment: B_ENV, and what bench-group-commit.sh reads (CLIENTS, LOAD_ARGS).
set -euo pipefail
cd "$(dirname "$0")/.."
bin_a=$1 bin_b=$2 store=$3 pairs=${4:-4} secs=${5:-10}
[ -d "$store" ] || { echo "no store at $store" >&2; exit 1; }
copy=$(mktemp -d "${TMPDIR:-/tmp}/group-commit-ab.XXXXXX")
trap 'rm -rf "$copy"' EXIT
run() { # SIDE BIN [NAME=VALUE]
  rm -rf "$copy/data"
  cp -a "$store" "$copy/data"
  printf '%s ' "$1"
  env ${3:+"$3"} scripts/bench-group-commit.sh "$2" "$copy/data" "$secs" 2>&1 | tail -1
}
for i in $(seq 1 "$pairs"); do
  echo "== pair $i"
  if [ $((i % 2)) -eq 1 ]; then
    run A "$bin_a"
    run B "$bin_b" "${B_ENV:-}"
  else
    run B "$bin_b" "${B_ENV:-}"
    run A "$bin_a"
  fi
done
