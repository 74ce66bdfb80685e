//! The embedded storage engine: an append-only log of signed records in fjall, the indexes
//! derived from it, and the single group-committing writer. See docs/file-format.md.
//!
//! The modules form layers; each uses only the ones before it (`tests/module_cycles.rs`
//! fails on a cycle):
//! 1. `error`, then `codec`, `keys`, `space`, `acked`, `role`, `stats`, `options`, `cache`,
//!    `group_marks`:
//!    the record envelope, key layouts, settings and the value types the layers share;
//! 2. `engine`: the open fjall database and what is kept beside it (`Shared`), in its slot;
//!    then `groups`, each group's sequences under one key, read and kept over the engine;
//! 3. `truth`: truth maintenance, derived from the log and read back;
//! 4. `writer`: the group-committing writer thread and the apply path;
//! 5. `store`: the public `Store`, which starts the writer and serves reads;
//! 6. `check`, `rebuild`, `restore`: maintenance operations on a `Store`.
#![forbid(unsafe_code)]

mod acked;
mod cache;
mod check;
mod codec;
mod engine;
mod error;
mod group_cache;
mod group_marks;
mod group_walk;
mod groups;
mod keys;
mod options;
mod rebuild;
mod restore;
mod role;
mod space;
mod stats;
mod store;
mod summary;
mod truth;
mod writer;

pub use acked::AckedAtOpen;
pub use cache::{WeightedCache, weighted_cache, weighted_cache_with};
pub use check::CheckReport;
pub use codec::{StoredRecord, decode_record, encode_record};
pub use engine::AnswersVersion;
pub use error::StoreError;
pub use group_marks::group_mark_slot;
pub use keys::GroupKey;
pub use options::{AckLossPolicy, JOURNAL_BYTES_MIN, StoreOptions, TruthPolicy};
pub use role::Role;
pub use space::{SyncHook, free_bytes};
pub use stats::{CommitStats, EngineBacklog};
pub use store::{FORMAT_VERSION, Store, StreamEntry};
pub use truth::{
    Bound, Derived, Mark, MarkKind, QuarantineEntry, QuarantineRule, Stage, StageAt,
    TRUTH_RULES_VERSION, VoteTally,
};
pub use writer::{AppendOutcome, AppendWait};
