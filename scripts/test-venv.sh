# Sourced by the Python test scripts (clients/python/run-tests.sh, tests/mcp/run.sh): makes sure
# STEMEDB_BIN names a built `stemedb` (default target/debug/stemedb, built if absent) and
# offers `venv_install DIR PACKAGE…`, which installs the packages into DIR/.venv (made once).
# Every caller already runs under `set -euo pipefail`; saying it here too keeps the file
# strict when sourced from anywhere else.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export STEMEDB_BIN=${STEMEDB_BIN:-$root/target/debug/stemedb}
[ -x "$STEMEDB_BIN" ] || (cd "$root" && cargo build -q -p stemedb-cli)

venv_install() {
  local dir=$1
  shift
  if [ ! -x "$dir/.venv/bin/python" ]; then
    python3 -m venv "$dir/.venv" || {
      echo "test-venv: ERROR: python3 -m venv failed; on Debian: apt-get install python3-venv" >&2
      return 1
    }
  fi
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$dir/.venv/bin/python" -m pip install --quiet "$@"
}
