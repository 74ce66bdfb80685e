//! Typed storage errors; damage is reported by name, never by a panic.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine error: {0}")]
    Engine(fjall::Error),
    /// The engine found stored bytes that fail their checks (a block checksum, a header, a
    /// decompression) while serving.
    #[error(
        "stored data is damaged: the storage engine reports {detail}. `stemedb check --data-dir` \
         names the damaged keyspace; the way back is a restore from a backup"
    )]
    Damaged { detail: String },
    #[error(
        "acknowledged records are missing from {path}: sequences {}..={acknowledged} were \
         acknowledged to clients, but the engine holds records only up to {found}, so its journal \
         or tables were damaged at rest. The server does not serve a store that lost acknowledged \
         writes: restore from a backup (docs/operations/server-wont-start.md), or accept the loss \
         with `stemedb check --data-dir {} --accept-loss`", found + 1, path.display()
    )]
    AcknowledgedLost {
        path: PathBuf,
        acknowledged: u64,
        found: u64,
    },
    #[error(
        "the acknowledgement mark {path} is damaged (neither copy passes its checksum), so \
         whether acknowledged records were lost cannot be told. `stemedb check --data-dir` \
         checks every record; `--accept-loss` then resets the mark to what the engine holds"
    )]
    AckMarkDamaged { path: PathBuf },
    #[error(
        "the storage engine cannot open {path}: {source}. A table or journal file there is \
         damaged or truncated; `stemedb check --data-dir` confirms it, and the way back is a \
         restore from a backup (docs/operations/server-wont-start.md)"
    )]
    EngineOpen { path: PathBuf, source: fjall::Error },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data directory {path} is in use by another StemeDB process (lock file held)")]
    Locked { path: PathBuf },
    #[error(
        "data directory uses on-disk format version {found}; this build reads only version {supported} \
         (and upgrades versions 2, 3 and 4 to it at open). Use a StemeDB release that supports format {found}"
    )]
    UnsupportedFormat { found: u32, supported: u32 },
    #[error("corrupt record at sequence {sequence}: {reason}")]
    CorruptRecord { sequence: u64, reason: String },
    #[error("corrupt index {index}: {reason}")]
    CorruptIndex { index: &'static str, reason: String },
    #[error("corrupt metadata key {key}: {reason}")]
    CorruptMeta { key: &'static str, reason: String },
    #[error(
        "the writer has stopped after a failed durable commit ({reason}); {}",
        if *disk_full {
            "writes resume by themselves once space is freed"
        } else {
            "restart the server to recover"
        }
    )]
    FailStopped {
        reason: String,
        /// The failure was the filesystem running out of space.
        disk_full: bool,
    },
    #[error(
        "not enough free space on {path}: {free_bytes} bytes free, below the reserve of \
         {free_min_bytes} bytes (disk_free_min_bytes); writes resume once space is freed"
    )]
    DiskFull {
        path: PathBuf,
        free_bytes: u64,
        free_min_bytes: u64,
    },
    #[error(
        "stream entries out of order: this store applied the replicated stream up to sequence \
         {applied}, and was handed entries from {first} on (each entry is applied once, in order)"
    )]
    StreamOutOfOrder { applied: u64, first: u64 },
    #[error("the store is shutting down")]
    ShuttingDown,
    #[error("the storage engine is being reopened after the disk filled up; retry in a moment")]
    Reopening,
}

impl From<fjall::Error> for StoreError {
    /// Damage the engine detects in what it read is told apart from other engine errors, so
    /// that it is reported by name (and counted in `stemedb_storage_damage_total`).
    fn from(error: fjall::Error) -> Self {
        if !is_damage(&error) {
            return StoreError::Engine(error);
        }
        metrics::counter!("stemedb_storage_damage_total").increment(1);
        StoreError::Damaged {
            detail: format!("{error:?}"),
        }
    }
}

/// Whether an engine error means bytes on disk failed their checks.
fn is_damage(error: &fjall::Error) -> bool {
    use fjall::Error as F;
    use fjall::LsmError as L;
    match error {
        F::Decompress(_)
        | F::InvalidTrailer
        | F::InvalidTag(_)
        | F::InvalidVersion(_)
        | F::JournalRecovery(_)
        | F::Unrecoverable => true,
        F::Io(e) => e.kind() == std::io::ErrorKind::UnexpectedEof,
        F::Storage(inner) => match inner {
            L::Io(e) => e.kind() == std::io::ErrorKind::UnexpectedEof,
            L::Decompress(_)
            | L::InvalidVersion(_)
            | L::Unrecoverable
            | L::ChecksumMismatch { .. }
            | L::InvalidTag(_)
            | L::InvalidTrailer
            | L::InvalidHeader(_)
            | L::Utf8(_) => true,
            _ => false,
        },
        _ => false,
    }
}
