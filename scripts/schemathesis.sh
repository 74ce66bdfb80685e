#!/usr/bin/env bash
# schemathesis against /openapi.json once per role (read, write, admin), on a fresh server and
# data directory: no 5xx (not_a_server_error) and every documented response matches its schema
# (response_schema_conformance). Installs schemathesis with pip if missing. Generated queries
# leave min_sequence out (scripts/schemathesis_hooks.py says why).
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (CI: 15; a real run: 200)
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-15}
version=4.32.5
if ! command -v schemathesis >/dev/null || [ "$(schemathesis --version | awk '{print $NF}')" != "$version" ]; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
fi
cargo build --quiet -p stemedb-cli
bin="${CARGO_TARGET_DIR:-target}/debug/stemedb"
work=$(mktemp -d)
root="schemathesis-root-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
STEMEDB_ROOT_API_KEY="$root" "$bin" serve --data-dir "$work/db" --bind 127.0.0.1:0 \
  --admin-rate-per-sec 0 --read-rate-per-sec 0 --write-rate-per-sec 0 >"$work/out" 2>"$work/log" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^stemedb listening on //p' "$work/out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start"; cat "$work/log"; exit 1; }
key_for() {
  curl -sf -X POST "$url/v1/api-keys" -H "X-API-Key: $root" -H 'content-type: application/json' \
    -d "{\"name\": \"schemathesis-$1\", \"role\": \"$1\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}
status=0
for role in read write admin; do
  if [ "$role" = admin ]; then key=$root; else key=$(key_for "$role"); fi
  echo "== schemathesis as $role ($examples examples per operation)"
  if ! PYTHONPATH=scripts SCHEMATHESIS_HOOKS=schemathesis_hooks schemathesis run "$url/openapi.json" --header "X-API-Key: $key" --header "Authorization: Bearer $key" \
      --checks not_a_server_error,response_schema_conformance \
      --max-examples "$examples" --seed 1 --workers 2 --no-color >"$work/st-$role" 2>&1; then
    status=1
    cp "$work/st-$role" "/tmp/st-$role.log"; tail -60 "$work/st-$role"
  else
    grep -E "generated|Tested:" "$work/st-$role" || tail -4 "$work/st-$role"
  fi
done
if grep -q "request failed" "$work/log"; then
  echo "the server logged errors:"
  grep "request failed" "$work/log" | head -20
  status=1
fi
exit $status
