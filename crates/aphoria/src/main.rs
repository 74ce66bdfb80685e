//! The `aphoria` binary: scan, claims, verify, packs, coverage, docs (docs/aphoria.md).
fn main() {}
