#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for SECONDS each (default 10; use e.g. 600 for a
# real session). Installs cargo-fuzz if missing. Stable Rust works with `-s none` (no
# sanitizer). A crash is saved under fuzz/artifacts/<target>/ and fails the run.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
# cargo-fuzz sets RUSTFLAGS, which replaces .cargo/config.toml's rustflags: pass its flag on, so
# that the fuzzers run the curve arithmetic production runs (cargo-fuzz appends ours to its own).
if [ "$(uname -m)" = x86_64 ]; then
  export RUSTFLAGS="${RUSTFLAGS:-} --cfg curve25519_dalek_backend=\"avx512\""
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(assertion_json canonical_bytes signature_verify api_key_header record_decode)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in "${targets[@]}"; do
  echo "== fuzz $target (${seconds}s)"
  mkdir -p "fuzz/corpus/$target"
  if ! cargo fuzz run -s none "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -40 "$log"
    # The cause last, where a shortened log still shows it: a build's errors (a full disk
    # among them) or the fuzzer's own report.
    grep -E '^error|No space left|SUMMARY|panicked|deadly signal' "$log" | head -5 || true
    echo "fuzz target $target failed (a crash leaves its input under fuzz/artifacts/$target/)"
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$log" || tail -3 "$log"
done
