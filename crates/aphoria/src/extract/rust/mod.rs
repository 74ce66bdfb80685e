//! Extractors over Rust source (parsed once per file with `syn`).
use crate::observe::Extractor;

/// The Rust extractors, in a stable order.
pub fn all() -> Vec<Box<dyn Extractor>> {
    vec![]
}
