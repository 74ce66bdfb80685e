//! The audit log of administrative actions (`DATA_DIR/admin-audit.jsonl`): key create, revoke,
//! rotate and change; curator and trust-root grants; quarantine decisions; restores. Append-only
//! JSON Lines, each entry fsynced before the action is answered, each carrying the BLAKE3 of the
//! line before it, so that a removed or edited line is named when the log is read. In cluster
//! mode an entry applied from the admin stream also carries its stream sequence (`admin_seq`),
//! so that an entry delivered again is not written twice.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
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

impl AdminAction<'_> {
    /// The entry this action makes at `at`.
    pub fn entry(&self, at: Timestamp) -> AuditEntry {
        AuditEntry {
            at,
            actor: self.actor.to_owned(),
            action: self.action.to_owned(),
            target: self.target.to_owned(),
            detail: self.detail.clone(),
        }
    }
}

/// One entry as it is replicated: an [`AdminAction`] and its time (the line adds `prev`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    #[serde(with = "crate::auth::keys::rfc3339")]
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Value,
}

pub struct AdminLog {
    path: PathBuf,
    tail: Mutex<Tail>,
}

/// The open file, the hash of its last line and the highest `admin_seq` in it (0: none).
struct Tail {
    file: std::fs::File,
    hash: String,
    admin_seq: u64,
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
        let (hash, admin_seq) = match std::fs::read(&path) {
            Ok(bytes) => {
                let chain = verify(&path, &bytes)?;
                (chain.hash, chain.admin_seq)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (GENESIS.to_owned(), 0),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        Ok(AdminLog {
            path,
            tail: Mutex::new(Tail {
                file,
                hash,
                admin_seq,
            }),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Tail>, AdminLogError> {
        self.tail.lock().map_err(|_| AdminLogError::Io {
            path: self.path.clone(),
            reason: "lock poisoned".into(),
        })
    }

    /// Appends one entry and fsyncs it.
    pub fn append(&self, action: &AdminAction<'_>, at: Timestamp) -> Result<(), AdminLogError> {
        self.append_entry(&action.entry(at), None).map(|_| ())
    }

    /// Appends one entry and fsyncs it. With `admin_seq` (an entry of the admin stream) the
    /// line carries it, and an entry whose sequence is not above the highest one in the log
    /// was written before and is skipped. Returns whether the entry was written.
    pub fn append_entry(
        &self,
        entry: &AuditEntry,
        admin_seq: Option<u64>,
    ) -> Result<bool, AdminLogError> {
        let mut tail = self.lock()?;
        if admin_seq.is_some_and(|seq| seq <= tail.admin_seq) {
            return Ok(false);
        }
        let mut line = json!({
            "at": entry.at.to_rfc3339(),
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "detail": entry.detail,
            "prev": tail.hash,
        });
        if let (Some(seq), Some(fields)) = (admin_seq, line.as_object_mut()) {
            fields.insert("admin_seq".into(), json!(seq));
        }
        let line = format!("{line}\n");
        tail.file
            .write_all(line.as_bytes())
            .and_then(|()| tail.file.sync_data())
            .map_err(io_error(&self.path))?;
        tail.hash = blake3::hash(line.trim_end().as_bytes())
            .to_hex()
            .to_string();
        tail.admin_seq = tail.admin_seq.max(admin_seq.unwrap_or(0));
        Ok(true)
    }

    /// The highest `admin_seq` in the log (0: no entry from the admin stream).
    pub fn admin_seq(&self) -> Result<u64, AdminLogError> {
        Ok(self.lock()?.admin_seq)
    }

    /// Entries after the first `after`, at most `limit`, oldest first; the chain is checked.
    pub fn read(&self, after: usize, limit: usize) -> Result<(Vec<Value>, usize), AdminLogError> {
        let bytes = std::fs::read(&self.path).map_err(io_error(&self.path))?;
        let entries = verify(&self.path, &bytes)?.entries;
        let total = entries.len();
        Ok((entries.into_iter().skip(after).take(limit).collect(), total))
    }
}

/// A log whose chain was checked.
struct Chain {
    entries: Vec<Value>,
    /// The hash of the last line.
    hash: String,
    /// The highest `admin_seq` of any line (0: none).
    admin_seq: u64,
}

/// Parses every line and checks each `prev` against the line before.
fn verify(path: &Path, bytes: &[u8]) -> Result<Chain, AdminLogError> {
    let mut prev = GENESIS.to_owned();
    let mut admin_seq = 0;
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
        admin_seq = admin_seq.max(entry["admin_seq"].as_u64().unwrap_or(0));
        entries.push(entry);
    }
    Ok(Chain {
        entries,
        hash: prev,
        admin_seq,
    })
}
