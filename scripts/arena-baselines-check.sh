#!/usr/bin/env bash
# The Arena's baselines (crates/stemedb-arena/src/baselines.rs) checked once against the
# `truthdiscovery` Python package (1.0.4) on the same exported worlds: prints both accuracies
# per scenario (docs/truth-quality.md). Installs the package into target/arena-venv itself
# (without its drawing dependencies). Not part of the tests: run by hand after changing a
# baseline. Environment: FACTS (2000), SEED (1).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/arena-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --no-deps truthdiscovery==1.0.4
  "$venv/bin/pip" install -q bidict imageio numpy scipy
fi
cargo build -q -p stemedb-cli
dir=target/arena-export
target/debug/stemedb arena --export "$dir" --facts "${FACTS:-2000}" --seed "${SEED:-1}" >/dev/null
"$venv/bin/python" scripts/arena_baselines_check.py "$dir"
