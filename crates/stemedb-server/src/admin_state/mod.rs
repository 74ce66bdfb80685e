//! The admin state of a node: API keys, custodial agent keys and the admin audit log, changed
//! only through [`AdminChange`]s. A single node applies each change to its files at once
//! ([`AdminCommit::local`]); in cluster mode every change goes through the replicated stream
//! `stemedb-admin`, and every node applies the stream in order with [`AdminState::apply`]
//! ([`AdminCommit::replicated`], docs/cluster.md). Applying is idempotent: a change delivered
//! again, or replayed after a crash, changes nothing.
mod change;
mod commit;
mod key_ops;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::admin_log::AdminLog;
use crate::auth::{Auth, AuthConfig, KeyRecord};
use crate::custody::Custodian;
pub use change::{AdminChange, AdminStateError, CHANGE_FORMAT, Outcome};
pub use commit::{AdminCommit, AdminPublish, CommitFuture};
pub use key_ops::Audited;

/// The file holding the last admin sequence this node applied (cluster mode only).
pub const APPLIED_FILE_NAME: &str = "admin-applied.json";
const APPLIED_FORMAT: &str = "stemedb-admin-applied/1";
/// How many outcomes of applied sequences are kept for the commits waiting on them.
const OUTCOMES_KEPT: usize = 4_096;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppliedFile {
    format: String,
    applied_seq: u64,
}

/// The admin files of one data directory and the last admin sequence applied to them.
pub struct AdminState {
    auth: Arc<Auth>,
    log: Arc<AdminLog>,
    custody: Arc<Custodian>,
    applied_path: PathBuf,
    /// The last applied admin sequence; held for the whole of an apply, so applies are one at
    /// a time.
    applied_seq: Mutex<u64>,
    applied_watch: tokio::sync::watch::Sender<u64>,
    /// (sequence, outcome) of the latest applies, oldest first: a commit reads its own.
    outcomes: Mutex<VecDeque<(u64, Outcome)>>,
}

impl AdminState {
    /// Opens the admin files of `dir`: API keys (creating the bootstrap admin key as
    /// [`Auth::open`] does; its file's path is returned), the audit log, the custodial keys
    /// (each must open with `master_key`) and the applied admin sequence.
    pub fn open(
        dir: &Path,
        auth_config: AuthConfig,
        master_key: &[u8; 32],
    ) -> Result<(AdminState, Option<PathBuf>), AdminStateError> {
        let (auth, admin_key_file) = Auth::open(Some(dir), auth_config)?;
        let log = AdminLog::open(dir)?;
        let custody = Custodian::open(dir, master_key)?;
        let applied_path = dir.join(APPLIED_FILE_NAME);
        let applied_seq = read_applied(&applied_path)?;
        let state = AdminState {
            auth: Arc::new(auth),
            log: Arc::new(log),
            custody: Arc::new(custody),
            applied_path,
            applied_seq: Mutex::new(applied_seq),
            applied_watch: tokio::sync::watch::Sender::new(applied_seq),
            outcomes: Mutex::new(VecDeque::new()),
        };
        Ok((state, admin_key_file))
    }

    pub fn auth(&self) -> &Arc<Auth> {
        &self.auth
    }

    pub fn log(&self) -> &Arc<AdminLog> {
        &self.log
    }

    pub fn custody(&self) -> &Arc<Custodian> {
        &self.custody
    }

    /// Applies the stream entry `seq` (cluster mode): the change is made durable in the files,
    /// then `seq` is recorded as applied (`admin-applied.json`). Entries must come in stream
    /// order; one at or below [`AdminState::applied_seq`] was applied before and is skipped.
    /// An error leaves `seq` unapplied: the applier may retry it, and must not go past it.
    pub fn apply(&self, seq: u64, change: &AdminChange) -> Result<(), AdminStateError> {
        let mut applied = self
            .applied_seq
            .lock()
            .map_err(|_| AdminStateError::Poisoned)?;
        if seq <= *applied {
            return Ok(());
        }
        let outcome = self.apply_change(change, Some(seq))?;
        write_applied(&self.applied_path, seq)?;
        *applied = seq;
        self.remember(seq, outcome)?;
        self.applied_watch.send_replace(seq);
        Ok(())
    }

    /// [`AdminState::apply`] of an entry's bytes as published ([`AdminChange::to_bytes`]).
    pub fn apply_bytes(&self, seq: u64, bytes: &[u8]) -> Result<(), AdminStateError> {
        self.apply(seq, &AdminChange::from_bytes(bytes)?)
    }

    /// The last admin sequence applied to this node's files (0: none; a single node never
    /// applies stream entries).
    pub fn applied_seq(&self) -> u64 {
        *self.applied_watch.borrow()
    }

    /// Follows [`AdminState::applied_seq`]: a commit can wait with `wait_for(|s| *s >= seq)`.
    pub fn watch_applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.applied_watch.subscribe()
    }

    /// What applying `seq` did, while it is among the latest applies this node remembers.
    pub fn outcome(&self, seq: u64) -> Option<Outcome> {
        let outcomes = self.outcomes.lock().ok()?;
        outcomes.iter().find(|(s, _)| *s == seq).map(|(_, o)| *o)
    }

    /// Every custodial key, then every API key this node holds, as puts (no audit entries). A
    /// node publishes them on its first start in a cluster, before it serves requests, so that
    /// its keys (its bootstrap admin key among them) act on every node. Custodial keys come
    /// first: once a key bound to an agent is known anywhere, that agent's key is in the stream.
    pub fn local_changes(&self) -> Result<Vec<AdminChange>, AdminStateError> {
        let custodial = self.custody.sealed_keys()?.into_iter();
        let keys = self.auth.update_keys(|keys| Ok(keys.list().to_vec()))?;
        let changes = custodial
            .map(|sealed| AdminChange::CustodialKeyPut { sealed })
            .chain(keys.into_iter().map(|key| AdminChange::ApiKeyPut {
                key,
                replaces: None,
                audit: None,
            }));
        Ok(changes.collect())
    }

    /// Applies a change on a single node: no sequence, no applied-sequence file, the files
    /// written as they always were.
    pub(crate) fn apply_local(&self, change: &AdminChange) -> Result<Outcome, AdminStateError> {
        let _one_at_a_time = self
            .applied_seq
            .lock()
            .map_err(|_| AdminStateError::Poisoned)?;
        self.apply_change(change, None)
    }

    fn apply_change(
        &self,
        change: &AdminChange,
        seq: Option<u64>,
    ) -> Result<Outcome, AdminStateError> {
        match change {
            AdminChange::ApiKeyPut {
                key,
                replaces,
                audit,
            } => {
                let outcome = self.put_key(key, replaces.as_deref())?;
                if let (Outcome::Applied, Some(entry)) = (outcome, audit) {
                    self.log.append_entry(entry, seq)?;
                }
                Ok(outcome)
            }
            AdminChange::CustodialKeyPut { sealed } => {
                self.custody.insert(sealed.clone())?;
                Ok(Outcome::Applied)
            }
            AdminChange::Audit { entry } => {
                self.log.append_entry(entry, seq)?;
                Ok(Outcome::Applied)
            }
        }
    }

    /// Stores `key` if the stored version is still the one it replaces, or it is new (no
    /// version stored), or it is there already (a replay). A put that replaces nothing never
    /// overwrites a stored version: an old creation resent (the stream's entries are tagged,
    /// not numbered once) must not bring back a key revoked since.
    fn put_key(&self, key: &KeyRecord, replaces: Option<&str>) -> Result<Outcome, AdminStateError> {
        let outcome = self.auth.update_keys(|keys| {
            let stored = keys.get(&key.id);
            if stored == Some(key) {
                return Ok(Outcome::Applied);
            }
            let current = match (replaces, stored) {
                (None, stored) => stored.is_none(),
                (Some(digest), Some(stored)) => stored.digest()? == digest,
                (Some(_), None) => false,
            };
            if !current {
                return Ok(Outcome::Stale);
            }
            keys.put(key.clone())?;
            Ok(Outcome::Applied)
        })?;
        Ok(outcome)
    }

    fn remember(&self, seq: u64, outcome: Outcome) -> Result<(), AdminStateError> {
        let mut outcomes = self
            .outcomes
            .lock()
            .map_err(|_| AdminStateError::Poisoned)?;
        if outcomes.len() == OUTCOMES_KEPT {
            outcomes.pop_front();
        }
        outcomes.push_back((seq, outcome));
        Ok(())
    }
}

/// The applied admin sequence recorded in `path` (absent: 0).
fn read_applied(path: &Path) -> Result<u64, AdminStateError> {
    let error = |reason: String| AdminStateError::AppliedSeq {
        path: path.to_owned(),
        reason,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(error(e.to_string())),
    };
    let file: AppliedFile = serde_json::from_slice(&bytes).map_err(|e| error(e.to_string()))?;
    if file.format != APPLIED_FORMAT {
        return Err(error(format!("unknown format {:?}", file.format)));
    }
    Ok(file.applied_seq)
}

fn write_applied(path: &Path, seq: u64) -> Result<(), AdminStateError> {
    let file = AppliedFile {
        format: APPLIED_FORMAT.to_owned(),
        applied_seq: seq,
    };
    let error = |reason: String| AdminStateError::AppliedSeq {
        path: path.to_owned(),
        reason,
    };
    let mut bytes = serde_json::to_vec(&file).map_err(|e| error(e.to_string()))?;
    bytes.push(b'\n');
    crate::files::write_atomic(path, &bytes).map_err(|e| error(e.to_string()))
}
