//! Free-space reserve and test-only fault hooks: what the writer checks before a group commit,
//! and what it calls after each durable sync.
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StoreError;

/// Bytes available to unprivileged writers on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Result<u64, StoreError> {
    let stat = rustix::fs::statvfs(path).map_err(|e| StoreError::Io {
        path: path.to_owned(),
        source: e.into(),
    })?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Refuses a group commit while free space is under the reserve. The reserve is what lets the
/// engine still flush and compact, and lets the writer refuse cleanly (507) instead of meeting
/// ENOSPC half-way through a journal write, after which it could only fail-stop.
pub(crate) fn check_reserve(path: &Path, free_min_bytes: u64) -> Result<(), StoreError> {
    if free_min_bytes == 0 {
        return Ok(());
    }
    let free = free_bytes(path)?;
    if free < free_min_bytes {
        return Err(StoreError::DiskFull {
            path: path.to_owned(),
            free_bytes: free,
            free_min_bytes,
        });
    }
    Ok(())
}

/// True when an engine or I/O error is the filesystem reporting no space (ENOSPC / EDQUOT).
pub(crate) fn is_out_of_space(error: &StoreError) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    text.contains("no space left") || text.contains("quota exceeded")
}

/// Called by the writer after every successful durable sync with the last durable sequence,
/// before any waiter of that group is answered. For fault-injection tests (the power-loss test
/// copies the data files here); it must not call back into the store.
#[derive(Clone)]
pub struct SyncHook(pub Arc<dyn Fn(u64) + Send + Sync>);

impl std::fmt::Debug for SyncHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncHook")
    }
}

/// Fault injection (tests only): once `limit` group commits have succeeded, every later fsync
/// reports an I/O error, as a dying disk would.
pub(crate) fn injected_fsync_failure(
    limit: Option<u64>,
    fsyncs_done: &AtomicU64,
) -> Result<(), StoreError> {
    let Some(limit) = limit else {
        return Ok(());
    };
    if fsyncs_done.fetch_add(1, Ordering::Relaxed) < limit {
        return Ok(());
    }
    Err(StoreError::Io {
        path: "injected-fault".into(),
        source: std::io::Error::other("injected fsync failure (fail_fsync_after_commits)"),
    })
}
