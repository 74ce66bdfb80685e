//! The embedded storage engine: an append-only log of signed records in fjall, the indexes
//! derived from it, and the single group-committing writer. See docs/file-format.md.
#![forbid(unsafe_code)]

mod acked;
mod check;
mod codec;
mod engine;
mod error;
mod keys;
mod rebuild;
mod restore;
mod space;
mod store;
mod truth;
mod writer;

pub use acked::AckedAtOpen;
pub use check::CheckReport;
pub use codec::{StoredRecord, decode_record, encode_record};
pub use error::StoreError;
pub use keys::GroupKey;
pub use space::{SyncHook, free_bytes};
pub use store::{
    AckLossPolicy, AppendOutcome, CommitStats, EngineBacklog, FORMAT_VERSION, Store, StoreOptions,
};
pub use truth::{
    Bound, Derived, Mark, MarkKind, QuarantineEntry, QuarantineRule, Role, Stage, StageAt,
    TruthPolicy, VoteTally,
};
