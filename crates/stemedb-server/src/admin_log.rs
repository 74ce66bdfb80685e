//! The audit log of administrative actions (`DATA_DIR/admin-audit.jsonl`): key create, revoke,
//! rotate and change; curator and trust-root grants; quarantine decisions; restores. Append-only
//! JSON Lines, each entry fsynced before the action is answered, each carrying the BLAKE3 of the
//! line before it, so that a removed or edited line is named when the log is read.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};
use stemedb::core::Timestamp;

pub const FILE_NAME: &str = "admin-audit.jsonl";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum AdminLogError {
    #[error("admin audit log {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("admin audit log {path} is damaged at line {line}: {reason}")]
    Damaged {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// One administrative action.
#[derive(Debug, Clone)]
pub struct AdminAction<'a> {
    /// Who: the API key id (or `root`, `cli`).
    pub actor: &'a str,
    /// What: `api_key.create`, `curator.add`, `quarantine.approve`, `restore`, …
    pub action: &'a str,
    /// On what: a key id, an agent id, an assertion id, a backup path.
    pub target: &'a str,
    /// Anything else worth keeping (never a secret).
    pub detail: Value,
}

pub struct AdminLog {
    path: PathBuf,
    /// The open file and the hash of its last line.
    tail: Mutex<(std::fs::File, String)>,
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> AdminLogError + '_ {
    move |e| AdminLogError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

impl AdminLog {
    /// Opens (or creates) the log of a data directory, checking its chain.
    pub fn open(dir: &Path) -> Result<AdminLog, AdminLogError> {
        let path = dir.join(FILE_NAME);
        let last = match std::fs::read(&path) {
            Ok(bytes) => verify(&path, &bytes)?.1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => GENESIS.to_owned(),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        Ok(AdminLog {
            path,
            tail: Mutex::new((file, last)),
        })
    }

    /// Appends one entry and fsyncs it.
    pub fn append(&self, action: &AdminAction<'_>, at: Timestamp) -> Result<(), AdminLogError> {
        let mut tail = self.tail.lock().map_err(|_| AdminLogError::Io {
            path: self.path.clone(),
            reason: "lock poisoned".into(),
        })?;
        let entry = json!({
            "at": at.to_rfc3339(),
            "actor": action.actor,
            "action": action.action,
            "target": action.target,
            "detail": action.detail,
            "prev": tail.1,
        });
        let line = format!("{entry}\n");
        tail.0
            .write_all(line.as_bytes())
            .and_then(|()| tail.0.sync_data())
            .map_err(io_error(&self.path))?;
        tail.1 = blake3::hash(line.trim_end().as_bytes())
            .to_hex()
            .to_string();
        Ok(())
    }

    /// Entries after the first `after`, at most `limit`, oldest first; the chain is checked.
    pub fn read(&self, after: usize, limit: usize) -> Result<(Vec<Value>, usize), AdminLogError> {
        let bytes = std::fs::read(&self.path).map_err(io_error(&self.path))?;
        let (entries, _) = verify(&self.path, &bytes)?;
        let total = entries.len();
        Ok((entries.into_iter().skip(after).take(limit).collect(), total))
    }
}

/// Parses every line and checks each `prev` against the line before; returns the entries and
/// the hash of the last line.
fn verify(path: &Path, bytes: &[u8]) -> Result<(Vec<Value>, String), AdminLogError> {
    let mut prev = GENESIS.to_owned();
    let mut entries = Vec::new();
    let text = std::str::from_utf8(bytes).map_err(|e| AdminLogError::Damaged {
        path: path.to_owned(),
        line: 0,
        reason: e.to_string(),
    })?;
    for (index, line) in text.lines().enumerate() {
        let damaged = |reason: String| AdminLogError::Damaged {
            path: path.to_owned(),
            line: index + 1,
            reason,
        };
        let entry: Value = serde_json::from_str(line).map_err(|e| damaged(e.to_string()))?;
        if entry["prev"].as_str() != Some(prev.as_str()) {
            return Err(damaged(
                "does not follow the line before (edited or removed lines)".into(),
            ));
        }
        prev = blake3::hash(line.as_bytes()).to_hex().to_string();
        entries.push(entry);
    }
    Ok((entries, prev))
}
