#!/usr/bin/env bash
# `stemedb mcp` tested with a real MCP client (the official Python SDK, package `mcp`, pinned
# below its next major version) over stdio against a real server; a venv of its own.
# Usage: tests/mcp/run.sh [PYTEST ARGS]   (STEMEDB_BIN: default target/debug/stemedb)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/test-venv.sh"
venv_install "$here" "mcp>=1.9,<2" "pytest>=8"
cd "$here"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
