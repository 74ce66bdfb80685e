//! Errors of the embeddable database. Each variant is one kind of problem a caller can act on.
use stemedb_core::{CoreError, ValidationError};
use stemedb_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("invalid assertion: {0}")]
    Invalid(ValidationError),
    #[error("signature does not verify for assertion {id} with its public_key")]
    SignatureInvalid { id: String },
    #[error(
        "agent {agent_id:?} is bound to public key {bound_key}; this assertion uses another key"
    )]
    AgentKeyConflict { agent_id: String, bound_key: String },
    #[error("batch holds {len} assertions; at most {max} allowed")]
    BatchTooLarge { len: usize, max: usize },
    #[error("invalid query: {field}: {message}")]
    BadQuery {
        field: &'static str,
        message: String,
    },
    /// The caller's deadline passed; the work (`query`, `audit export`) was
    /// stopped and its memory freed.
    #[error("the {work} ran past its deadline and was stopped")]
    DeadlineExceeded { work: &'static str },
    /// A read asked for `min_sequence` (read-your-writes) beyond what this node has applied.
    #[error(
        "this node has applied records up to sequence {applied}; the read asked for at least \
         {min_sequence} (min_sequence): retry shortly"
    )]
    NotYetApplied { min_sequence: u64, applied: u64 },
    /// Cluster mode: the replicated log did not acknowledge the write within its bound (no
    /// quorum, no leader, no connection). Nothing is acknowledged; retrying the same record is
    /// safe (a record the log already holds answers `duplicate: true`).
    #[error(
        "the replicated log did not acknowledge the write: {reason}. Retry shortly; a record \
         sent again is not stored twice"
    )]
    ReplicationUnavailable { reason: String },
    /// Cluster mode: the write is durable on the replicated log, but this node had not applied
    /// it within the wait bound, so its outcome is not known here yet.
    #[error(
        "the write is durable on the replicated log (stream sequence {stream_sequence}), but \
         this node has not applied it within {waited_ms} ms. Retry shortly: the same record then \
         answers with its sequence"
    )]
    ReplicationPending {
        stream_sequence: u64,
        waited_ms: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A broken internal invariant (a bug), reported instead of a panic.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<CoreError> for DbError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::MalformedJson(m) => DbError::MalformedJson(m),
            CoreError::Invalid(v) => DbError::Invalid(v),
            CoreError::SignatureInvalid { id } => DbError::SignatureInvalid { id },
            CoreError::BadKey(m) => {
                DbError::Invalid(ValidationError::new("public_key", "public_key_valid", m))
            }
        }
    }
}

/// A query parameter out of its range, named.
pub(crate) fn bad(field: &'static str, message: impl Into<String>) -> DbError {
    DbError::BadQuery {
        field,
        message: message.into(),
    }
}
