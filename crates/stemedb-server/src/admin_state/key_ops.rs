//! API key changes as the routes make them: the new version of a key is computed on the node
//! that handles the request (a new secret is generated there and only its hash leaves it),
//! committed with its audit entry, and computed again if another change to the same key was
//! applied first.
use serde_json::Value;
use stemedb::core::Timestamp;

use super::{AdminChange, AdminCommit, Outcome};
use crate::ApiError;
use crate::admin_log::AuditEntry;
use crate::auth::{AuthError, KeyRecord, NewKey, now};

/// How many times a key change is computed again when other changes to the key come first.
const KEY_CHANGE_ATTEMPTS: usize = 8;

/// Who asked for an action, and what the audit log calls it.
#[derive(Debug, Clone)]
pub struct Audited {
    /// The caller's key id (or `root`, `anonymous`).
    pub actor: String,
    /// `api_key.create`, `api_key.rotate`, …
    pub action: String,
}

impl Audited {
    pub fn new(actor: impl Into<String>, action: &str) -> Audited {
        Audited {
            actor: actor.into(),
            action: action.to_owned(),
        }
    }

    fn entry(&self, target: &str, detail: Value, at: Timestamp) -> AuditEntry {
        AuditEntry {
            at,
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: target.to_owned(),
            detail,
        }
    }
}

impl AdminCommit {
    /// Creates a key; returns its record and its secret (shown once, never committed).
    pub async fn create_key(
        &self,
        new: NewKey,
        audited: Audited,
        detail: impl FnOnce(&KeyRecord) -> Value,
    ) -> Result<(KeyRecord, String), ApiError> {
        let at = now();
        let (key, secret) = KeyRecord::create(new, at)?;
        let audit = audited.entry(&key.id, detail(&key), at);
        let change = AdminChange::ApiKeyPut {
            key: key.clone(),
            replaces: None,
            audit: Some(audit),
        };
        match self.commit(change).await? {
            Outcome::Applied => Ok((key, secret)),
            Outcome::Stale => Err(ApiError::Internal(format!(
                "the new API key {} was not stored",
                key.id
            ))),
        }
    }

    /// Changes key `id`: `change` computes the new version (and anything the route answers
    /// with, such as a new secret) from the stored one at `now`; `detail` is the audit entry's
    /// detail. Returns the version that was applied.
    pub async fn change_key<T>(
        &self,
        id: &str,
        audited: Audited,
        change: impl Fn(&KeyRecord, Timestamp) -> Result<(KeyRecord, T), AuthError>,
        detail: impl Fn(&KeyRecord) -> Result<Value, ApiError>,
    ) -> Result<(KeyRecord, T), ApiError> {
        for _ in 0..KEY_CHANGE_ATTEMPTS {
            let stored = self
                .state()
                .auth()
                .update_keys(|keys| Ok(keys.get(id).cloned()))?
                .ok_or_else(|| AuthError::NoSuchKey(id.to_owned()))?;
            let at = now();
            let (key, extra) = change(&stored, at)?;
            let audit = audited.entry(id, detail(&key)?, at);
            let put = AdminChange::ApiKeyPut {
                key: key.clone(),
                replaces: Some(stored.digest()?),
                audit: Some(audit),
            };
            if self.commit(put).await? == Outcome::Applied {
                return Ok((key, extra));
            }
        }
        Err(ApiError::Conflict(format!(
            "API key {id} was changed by {KEY_CHANGE_ATTEMPTS} other requests while this one \
             tried to change it; retry"
        )))
    }
}
