#!/usr/bin/env bash
# The Python SDK's tests against a real server (this build's `stemedb serve`, started by the
# tests themselves): a venv of its own (clients/python/.venv), the package installed into it
# as a user would (`pip install ./clients/python`), then pytest.
# Usage: clients/python/run-tests.sh [PYTEST ARGS]   (STEMEDB_BIN: default target/debug/stemedb)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export STEMEDB_BIN=${STEMEDB_BIN:-$root/target/debug/stemedb}
[ -x "$STEMEDB_BIN" ] || (cd "$root" && cargo build -q -p stemedb-cli)
venv=$here/.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/python" -m pip install --quiet "$here[test]"
cd "$here/tests"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
