//! Aphoria: a code-truth linter kept in StemeDB. Extractors read a repository and emit
//! observations, signed as assertions by `aphoria/extractor/<name>`; authors' claims live in
//! `.aphoria/claims.toml` and, signed, in the store's history; `verify` classifies each claim
//! and observation as Pass, Conflict, Missing or Unclaimed (docs/aphoria.md).
//!
//! Layers, lowest first (no module imports one above it): `error` → `observe`, `crate_tree` →
//! `walk` → `extract` → `scan` → `claims`, `pattern` → `verify` → `record` → `store`,
//! `remote` → `report`, `layout`, `pack` → `project` → `edit` → the binary's commands.
pub mod claims;
pub mod crate_tree;
pub mod edit;
pub mod error;
pub mod extract;
pub mod layout;
pub mod observe;
pub mod pack;
pub mod pattern;
pub mod project;
pub mod record;
pub mod remote;
pub mod report;
pub mod scan;
pub mod store;
pub mod verify;
pub mod walk;

pub use error::AphoriaError;
pub use observe::{Extractor, FileKind, Input, Observation, SourceFile};
