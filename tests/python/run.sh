#!/usr/bin/env bash
# Installs the Python check's packages, starts a StemeDB server on a free loopback port with a
# fresh data directory, and runs check_cross_language.py against it.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The signer under test is the Python SDK's (clients/python), installed as a user would.
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
  -r tests/python/requirements.txt ./clients/python
cargo build --quiet -p stemedb-cli
data=$(mktemp -d)
# A fresh root key for this run only; the server and the check both read it from the environment.
STEMEDB_ROOT_API_KEY="ci-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
export STEMEDB_ROOT_API_KEY STEMEDB_API_KEY="$STEMEDB_ROOT_API_KEY"
out=$(mktemp)
./target/debug/stemedb serve --data-dir "$data/db" --bind 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
# Stop the server and wait for it to exit before removing its data directory: a graceful stop
# still writes (memtable flush), and removing files under it races with that.
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data" "$out" || echo "warning: could not remove $data"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  url=$(sed -n 's/^stemedb listening on //p' "$out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { echo "server did not start"; exit 1; }
python3 tests/python/check_cross_language.py tests/vectors/signing.json "$url"
