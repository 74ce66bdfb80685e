#!/usr/bin/env bash
# Runs README.md's five-minute tour as written, against a fresh server, so that it stays true
# (issue 14; a CI step). Every ```sh block of the section "Five-minute tour" runs in order, in
# one shell, with `set -e`: a command that fails fails the tour (curl included: an HTTP error
# status fails it). Two things differ from a
# newcomer's terminal, both said here: the server is this build's `stemedb serve` started in a
# fresh directory (the README's first command, without `cargo run --release`), and the
# tour's `alias stemedb='cargo run …'` line points at the same binary, so CI builds no release.
# Usage: scripts/readme-tour.sh   (STEMEDB_BIN: default target/debug/stemedb, built if absent;
# TOUR_SHOW=1 prints what the tour printed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${STEMEDB_BIN:-$root/target/debug/stemedb}
if [ ! -x "$bin" ]; then (cd "$root" && cargo build -q -p stemedb-cli); fi
say() { echo "readme-tour: $*" >&2; }

if curl -s -o /dev/null http://127.0.0.1:18180/v1/health; then
  say "ERROR: something already listens on 127.0.0.1:18180, the README's address"; exit 1
fi
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
"$bin" serve >serve.log 2>&1 &
server=$!
for _ in $(seq 100); do curl -fs http://127.0.0.1:18180/v1/health >/dev/null && break; sleep 0.1; done
curl -fs http://127.0.0.1:18180/v1/health >/dev/null || { cat serve.log >&2; say "ERROR: the server did not start"; exit 1; }

python3 - "$root/README.md" >tour.sh <<'PY'
import re, sys
text = open(sys.argv[1]).read()
start = text.index("## Five-minute tour")
end = text.index("\n## ", start + 1)
blocks = re.findall(r"```sh\n(.*?)```", text[start:end], re.S)
if not blocks:
    sys.exit("readme-tour: no ```sh block in the tour")
# curl as the tour writes it, but failing on an HTTP error (a 401 or a refused write would
# otherwise pass): the tour's own `alias curl=…` expands onto this function.
print("set -euxo pipefail\nshopt -s expand_aliases")
print('curl() { command curl --fail-with-body "$@"; }')
lines = "\n".join(blocks).split("\n")
# The query the tour calls "look at retracted records" keeps its answer, to be checked below.
for i, line in enumerate(lines):
    if line.startswith("curl ") and "include_retracted=true" in line:
        code, sep, comment = line.partition("   #")
        lines[i] = code.rstrip() + " | tee retracted-query.json" + (sep + comment if sep else "")
print("\n".join(lines))
PY
grep -q "^alias stemedb=" tour.sh || { say "ERROR: the tour no longer defines the stemedb alias"; exit 1; }
sed -i "s|^alias stemedb=.*|alias stemedb='$bin'|" tour.sh
say "running $(grep -c . tour.sh) lines of the README's tour in $work"
if ! bash tour.sh >tour.log 2>&1; then
  tail -n 40 tour.log >&2
  say "ERROR: the README's tour failed at the last command above"; exit 1
fi
if [ -n "${TOUR_SHOW:-}" ]; then cat tour.log >&2; fi
# What the tour says it shows, not only that its commands succeed: its query "look at retracted
# records" must return some.
[ -f retracted-query.json ] || { say "ERROR: the tour no longer queries with include_retracted=true"; exit 1; }
grep -q '"lifecycle_stage":"retracted"' retracted-query.json ||
  { cat retracted-query.json >&2; echo >&2; say "ERROR: the tour's query of retracted records showed none"; exit 1; }
say "the tour ran as written: $(grep -c '^+ ' tour.log) commands"
