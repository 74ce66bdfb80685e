//! Extractors over configuration: Cargo manifests, TOML and JSON files, Dockerfiles, systemd
//! units, shell scripts, and secrets in any text file.
use crate::observe::Extractor;

/// The configuration extractors, in a stable order.
pub fn all() -> Vec<Box<dyn Extractor>> {
    vec![]
}
