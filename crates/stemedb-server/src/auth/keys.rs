//! API keys: creation, lookup by BLAKE3 hash, revocation, rotation with a grace period, and
//! their durable file (`DATA_DIR/api-keys.json`, written atomically and checksummed). Secrets
//! exist only in the reply that creates them; the file and memory hold hashes.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stemedb::core::Timestamp;

use super::{AuthError, Role};

/// Prefix of every key this server issues; what follows is 64 hex digits (256 random bits).
pub const KEY_PREFIX: &str = "sdb_";
const KEY_HEX_LEN: usize = 64;
pub const FILE_NAME: &str = "api-keys.json";
const FILE_FORMAT: &str = "stemedb-api-keys/1";

/// Timestamps in the key file and API as RFC 3339 strings.
pub(crate) mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use stemedb::core::Timestamp;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse_field(&text, "time").map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&t.to_rfc3339()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            let text = Option::<String>::deserialize(d)?;
            text.map(|t| Timestamp::parse_field(&t, "time").map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// One stored key: everything but the secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(with = "rfc3339")]
    pub created_at: Timestamp,
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<Timestamp>,
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked_at: Option<Timestamp>,
    /// Requests per second allowed to this key (`None`: the role's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_sec: Option<u32>,
    /// Agents this key may write for without signing (custodial signing).
    #[serde(default)]
    pub agent_ids: Vec<String>,
    /// Hex BLAKE3 hashes of the secrets that open this key, with the time each stops working
    /// (the previous secret after a rotation keeps working until its grace period ends).
    pub secrets: Vec<SecretHash>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretHash {
    pub hash: String,
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<Timestamp>,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    keys: Vec<KeyRecord>,
    /// BLAKE3 of the canonical JSON of `keys`: damage is named at start, not guessed at.
    checksum: String,
}

/// The keys of one server, loaded from and saved to its data directory.
#[derive(Debug)]
pub struct KeyStore {
    path: Option<PathBuf>,
    keys: Vec<KeyRecord>,
    /// secret hash → index into `keys`.
    by_hash: HashMap<[u8; 32], usize>,
}

/// A new secret, its hash, and the key id it belongs to.
pub fn new_secret() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Storage(format!("no randomness: {e}")))?;
    Ok(format!("{KEY_PREFIX}{}", hex::encode(bytes)))
}

fn new_id() -> Result<String, AuthError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Storage(format!("no randomness: {e}")))?;
    Ok(format!("key_{}", hex::encode(bytes)))
}

/// The hash a secret is stored and looked up by.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    *blake3::hash(secret.as_bytes()).as_bytes()
}

/// Whether a presented credential has the shape of a key at all (checked before hashing, so a
/// malformed header is told apart from a wrong key).
pub fn well_formed(secret: &str) -> bool {
    secret
        .strip_prefix(KEY_PREFIX)
        .is_some_and(|hex| hex.len() == KEY_HEX_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl KeyStore {
    /// A store that lives only in memory (tests and `--auth disabled`).
    pub fn in_memory() -> KeyStore {
        KeyStore {
            path: None,
            keys: Vec::new(),
            by_hash: HashMap::new(),
        }
    }

    /// Loads `DATA_DIR/api-keys.json` (absent: no keys). A file that fails its checksum or
    /// does not parse is an error naming the file; the server does not start on it.
    pub fn open(dir: &Path) -> Result<KeyStore, AuthError> {
        let path = dir.join(FILE_NAME);
        let mut store = KeyStore {
            path: Some(path.clone()),
            keys: Vec::new(),
            by_hash: HashMap::new(),
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => return Err(AuthError::Storage(format!("{}: {e}", path.display()))),
        };
        let damaged = |reason: String| AuthError::Damaged {
            path: path.clone(),
            reason,
        };
        let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        if file.format != FILE_FORMAT {
            return Err(damaged(format!("unknown format {:?}", file.format)));
        }
        if checksum(&file.keys)? != file.checksum {
            return Err(damaged("checksum mismatch".into()));
        }
        store.keys = file.keys;
        store.reindex()?;
        Ok(store)
    }

    fn reindex(&mut self) -> Result<(), AuthError> {
        self.by_hash.clear();
        for (index, key) in self.keys.iter().enumerate() {
            for secret in &key.secrets {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&secret.hash, &mut hash).map_err(|e| {
                    AuthError::Storage(format!("key {}: bad secret hash: {e}", key.id))
                })?;
                self.by_hash.insert(hash, index);
            }
        }
        Ok(())
    }

    /// Writes the file atomically: a temporary file, fsync, rename, fsync of the directory.
    fn save(&mut self) -> Result<(), AuthError> {
        self.reindex()?;
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = KeyFile {
            format: FILE_FORMAT.into(),
            checksum: checksum(&self.keys)?,
            keys: self.keys.clone(),
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| AuthError::Storage(e.to_string()))?;
        crate::files::write_atomic(path, &bytes)
            .map_err(|e| AuthError::Storage(format!("{}: {e}", path.display())))?;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn list(&self) -> &[KeyRecord] {
        &self.keys
    }

    pub fn get(&self, id: &str) -> Option<&KeyRecord> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The key a secret opens, if it opens one (expiry and revocation are judged by the caller
    /// through [`KeyStore::judge`]).
    pub fn lookup(&self, secret: &str) -> Option<(&KeyRecord, &SecretHash)> {
        let hash = secret_hash(secret);
        let key = self.keys.get(*self.by_hash.get(&hash)?)?;
        let hex = hex::encode(hash);
        let entry = key.secrets.iter().find(|s| s.hash == hex)?;
        Some((key, entry))
    }

    /// Creates a key; returns its record and the secret (shown once).
    pub fn create(
        &mut self,
        new: NewKey,
        now: Timestamp,
    ) -> Result<(KeyRecord, String), AuthError> {
        let (record, secret) = KeyRecord::create(new, now)?;
        self.put(record.clone())?;
        Ok((record, secret))
    }

    /// Stores `record` under its id: in the place of the key with that id, or after the others.
    /// The file is saved before the change is kept; a failed save leaves the store as it was.
    pub fn put(&mut self, record: KeyRecord) -> Result<(), AuthError> {
        let before = self.keys.clone();
        match self.keys.iter_mut().find(|k| k.id == record.id) {
            Some(key) => *key = record,
            None => self.keys.push(record),
        }
        let saved = self.save();
        if saved.is_err() {
            self.keys = before;
            self.reindex()?;
        }
        saved
    }
}

impl KeyRecord {
    /// A new key with a new id and its secret (shown once); nothing is stored.
    pub fn create(new: NewKey, now: Timestamp) -> Result<(KeyRecord, String), AuthError> {
        let secret = new_secret()?;
        let record = KeyRecord {
            id: new_id()?,
            name: new.name,
            role: new.role,
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            rate_limit_per_sec: new.rate_limit_per_sec,
            agent_ids: new.agent_ids,
            secrets: vec![SecretHash {
                hash: hex::encode(secret_hash(&secret)),
                valid_until: None,
            }],
        };
        Ok((record, secret))
    }

    /// The key revoked at `now` (a revoked key keeps its first revocation time).
    pub fn revoked(&self, now: Timestamp) -> KeyRecord {
        let mut key = self.clone();
        key.revoked_at.get_or_insert(now);
        key
    }

    /// The key with a new secret; the secrets it had stay valid until `now + grace_ms`.
    pub fn rotated(&self, now: Timestamp, grace_ms: u64) -> Result<(KeyRecord, String), AuthError> {
        if self.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        let secret = new_secret()?;
        let mut key = self.clone();
        let until = Timestamp::from_micros(now.micros().saturating_add(grace_ms as i64 * 1000));
        for old in &mut key.secrets {
            old.valid_until = Some(old.valid_until.map_or(until, |t| t.min(until)));
        }
        key.secrets
            .retain(|s| s.valid_until.is_none_or(|t| t > now));
        key.secrets.push(SecretHash {
            hash: hex::encode(secret_hash(&secret)),
            valid_until: None,
        });
        Ok((key, secret))
    }

    /// The key with the fields `change` names changed.
    pub fn updated(&self, change: KeyChange) -> KeyRecord {
        let mut key = self.clone();
        if let Some(name) = change.name {
            key.name = name;
        }
        if let Some(role) = change.role {
            key.role = role;
        }
        if let Some(expires_at) = change.expires_at {
            key.expires_at = expires_at;
        }
        if let Some(rate) = change.rate_limit_per_sec {
            key.rate_limit_per_sec = rate;
        }
        if let Some(agents) = change.agent_ids {
            key.agent_ids = agents;
        }
        key
    }

    /// BLAKE3 of the record's JSON: how a replicated change names the version it replaces.
    pub fn digest(&self) -> Result<String, AuthError> {
        let bytes = serde_json::to_vec(self).map_err(|e| AuthError::Storage(e.to_string()))?;
        Ok(blake3::hash(&bytes).to_hex().to_string())
    }
}

/// What `POST /v1/api-keys` asks for.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub expires_at: Option<Timestamp>,
    pub rate_limit_per_sec: Option<u32>,
    pub agent_ids: Vec<String>,
}

/// What `PATCH /v1/api-keys/{id}` may change; `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct KeyChange {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub expires_at: Option<Option<Timestamp>>,
    pub rate_limit_per_sec: Option<Option<u32>>,
    pub agent_ids: Option<Vec<String>>,
}

fn checksum(keys: &[KeyRecord]) -> Result<String, AuthError> {
    let bytes = serde_json::to_vec(keys).map_err(|e| AuthError::Storage(e.to_string()))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}
