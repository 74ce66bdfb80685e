//! Typed storage errors; damage is reported by name, never by a panic.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("storage engine error: {0}")]
    Engine(#[from] fjall::Error),
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
        "data directory uses on-disk format version {found}; this build reads only version {supported}. \
         Use a StemeDB release that supports format {found}"
    )]
    UnsupportedFormat { found: u32, supported: u32 },
    #[error("corrupt record at sequence {sequence}: {reason}")]
    CorruptRecord { sequence: u64, reason: String },
    #[error("corrupt index {index}: {reason}")]
    CorruptIndex { index: &'static str, reason: String },
    #[error("corrupt metadata key {key}: {reason}")]
    CorruptMeta { key: &'static str, reason: String },
    #[error(
        "the writer has stopped after a failed durable commit ({reason}); restart the server to recover"
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
    #[error("the store is shutting down")]
    ShuttingDown,
}
