#!/usr/bin/env bash
# The Python SDK's tests against a real server (this build's `stemedb serve`, started by the
# tests themselves): a venv of its own (clients/python/.venv), the package installed into it
# as a user would (`pip install ./clients/python`), then pytest.
# Usage: clients/python/run-tests.sh [PYTEST ARGS]   (STEMEDB_BIN: default target/debug/stemedb)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/test-venv.sh"
venv_install "$here" "$here[test]"
cd "$here/tests"
exec "$here/.venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
