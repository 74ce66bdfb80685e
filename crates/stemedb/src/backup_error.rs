//! What can be wrong with a backup (`backup.rs`): each refusal by name, with the file, line
//! and sequence it was found at. The messages are the ones `stemedb backup verify` prints.
use std::path::PathBuf;

use stemedb_core::{AssertionId, CoreError, ValidationError};

use crate::backup::{BACKUP_FORMAT, BACKUP_FORMAT_UNSIGNED};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the manifest is not a JSON object")]
    ManifestNotObject,
    #[error("unreadable manifest: {0}")]
    ManifestUnreadable(serde_json::Error),
    #[error("{0}")]
    ManifestEncoding(serde_json::Error),
    #[error("{0}")]
    ManifestCanonical(CoreError),
    #[error(
        "format {BACKUP_FORMAT_UNSIGNED} carries no server signature, so nothing proves where \
         it came from; refused (--allow-unsigned accepts it anyway)"
    )]
    Unsigned,
    #[error("format {found:?}, expected {BACKUP_FORMAT} (or {BACKUP_FORMAT_UNSIGNED})")]
    UnknownFormat { found: String },
    #[error("the manifest has no server signature (server_public_key, signature)")]
    NoSignature,
    /// A field that is not what it must be (a key, a signature, a time).
    #[error("{0}")]
    Field(ValidationError),
    #[error(
        "the manifest's signature does not verify under server key {key}: the manifest was \
         changed after the server signed it"
    )]
    SignatureInvalid { key: String },
    #[error(
        "the manifest is signed by server key {key}, but no server key is trusted: give the \
         server's public key (its server.pub) with --server-key"
    )]
    KeyNotTrusted { key: String },
    #[error("the manifest is signed by server key {key}, not by the trusted server key {trusted}")]
    KeyNotTheTrusted { key: String, trusted: String },
    #[error("not a record line: {0}")]
    LineUnreadable(serde_json::Error),
    #[error("sequence {sequence}: body is not a valid assertion: {reason}")]
    BodyInvalid { sequence: u64, reason: CoreError },
    #[error("sequence {sequence}: the signature of {id} does not verify")]
    RecordSignatureInvalid { sequence: u64, id: AssertionId },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A manifest of this backup directory refused.
    #[error("{}: {source}", dir.display())]
    Manifest {
        dir: PathBuf,
        source: Box<BackupError>,
    },
    #[error(
        "{}: records.jsonl hashes to {found}, the manifest says {expected}: the file was changed",
        dir.display()
    )]
    RecordsChanged {
        dir: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{}: starts at sequence {first}, but the chain needs {expected} next", dir.display())]
    ChainBroken {
        dir: PathBuf,
        first: u64,
        expected: u64,
    },
    /// A line of `records.jsonl` refused.
    #[error("{} line {line}: {source}", file.display())]
    Line {
        file: PathBuf,
        line: usize,
        source: Box<BackupError>,
    },
    #[error("{} line {line}: sequence {found}, expected {expected}", dir.display())]
    SequenceOutOfOrder {
        dir: PathBuf,
        line: usize,
        found: u64,
        expected: u64,
    },
    #[error(
        "{}: holds {count} records; the manifest says {record_count} up to sequence {last_sequence}",
        dir.display()
    )]
    CountMismatch {
        dir: PathBuf,
        count: u64,
        record_count: u64,
        last_sequence: u64,
    },
}
