//! One change to the admin state as it travels in the `stemedb-admin` stream, its versioned
//! JSON encoding, and the admin state's typed errors.
use serde::{Deserialize, Serialize};

use crate::admin_log::{AdminLogError, AuditEntry};
use crate::auth::{AuthError, KeyRecord};
use crate::custody::{CustodyError, SealedKey};

/// The `format` of every encoded change; a new encoding gets a new number.
pub const CHANGE_FORMAT: &str = "stemedb-admin-change/1";

/// One change to the API keys, the custodial agent keys or the admin audit log. It holds only
/// what the node files hold: key hashes (never a secret) and sealed agent keys (never a plain
/// one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminChange {
    /// An API key record, stored under its id, with the audit entry of the action that made
    /// it (none when a node republishes the keys it holds).
    ApiKeyPut {
        key: KeyRecord,
        /// [`KeyRecord::digest`] of the version this one was computed from. The put is applied
        /// only while the stored key is still that version (or already equals `key`); another
        /// change that came first makes it stale, and the route computes it again. `None`: the
        /// put applies whatever is stored (a new key, a republished one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audit: Option<AuditEntry>,
    },
    /// A custodial agent key, sealed under the master key. The first one for an agent in
    /// stream order is every node's; a later one for the same agent is left out.
    CustodialKeyPut { sealed: SealedKey },
    /// An entry of the admin audit log.
    Audit { entry: AuditEntry },
}

/// What an applied change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The change holds (it was applied, or was already in place).
    Applied,
    /// An API key put whose `replaces` no longer matched: nothing was changed.
    Stale,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<T> {
    format: String,
    change: T,
}

/// Why the admin state could not decode or apply a change, or open.
#[derive(Debug, thiserror::Error)]
pub enum AdminStateError {
    #[error("admin change is not an encoded change: {reason}")]
    Malformed { reason: String },
    #[error("admin change has format {found:?}; this node reads {CHANGE_FORMAT:?} (upgrade it)")]
    UnknownFormat { found: String },
    #[error("admin change of format {CHANGE_FORMAT:?} does not parse: {reason}")]
    BadChange { reason: String },
    #[error("applied admin sequence file {path}: {reason}")]
    AppliedSeq {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("admin state lock poisoned")]
    Poisoned,
    #[error(transparent)]
    Keys(#[from] AuthError),
    #[error(transparent)]
    Custody(#[from] CustodyError),
    #[error(transparent)]
    Log(#[from] AdminLogError),
}

impl AdminChange {
    /// The change as stream bytes: `{"format": "stemedb-admin-change/1", "change": {...}}`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, AdminStateError> {
        let envelope = Envelope {
            format: CHANGE_FORMAT.to_owned(),
            change: self,
        };
        serde_json::to_vec(&envelope).map_err(|e| AdminStateError::BadChange {
            reason: e.to_string(),
        })
    }

    /// Decodes stream bytes: the format is checked before the change is read, so that an
    /// entry from a newer node is named as such rather than as damage.
    pub fn from_bytes(bytes: &[u8]) -> Result<AdminChange, AdminStateError> {
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_slice(bytes).map_err(|e| AdminStateError::Malformed {
                reason: e.to_string(),
            })?;
        if envelope.format != CHANGE_FORMAT {
            return Err(AdminStateError::UnknownFormat {
                found: envelope.format,
            });
        }
        serde_json::from_value(envelope.change).map_err(|e| AdminStateError::BadChange {
            reason: e.to_string(),
        })
    }
}
