//! Custodial signing: a write key bound to agent ids may post an unsigned body; the server
//! signs it with an Ed25519 key it holds for that agent and marks it `"custodial": true` (a
//! signed field, so the record verifies like any other and says how it was signed). Agent keys
//! are kept in `DATA_DIR/agent-keys.json`, each seed sealed with ChaCha20-Poly1305 under the
//! master key (bound to its agent id as associated data).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stemedb::core::control::{RETRACTS, TRUSTS, VOTE};
use stemedb::core::{Limits, SecretKey, SignedAssertion, Timestamp};

use crate::ApiError;
use crate::auth::Principal;

pub const FILE_NAME: &str = "agent-keys.json";
const FILE_FORMAT: &str = "stemedb-agent-keys/1";
/// Where a master key is created when none is configured (documented as a development default).
pub const MASTER_KEY_FILE: &str = "master.key";

#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    #[error("custodial key storage {path}: {reason}")]
    Storage { path: PathBuf, reason: String },
    #[error("the master key {0}")]
    BadMasterKey(String),
    #[error(
        "agent key file {path} does not open with this master key or is damaged (agent {agent_id})"
    )]
    Sealed { path: PathBuf, agent_id: String },
}

#[derive(Serialize, Deserialize, Clone)]
struct SealedKey {
    agent_id: String,
    public_key: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    keys: Vec<SealedKey>,
}

/// The agent keys of one server.
pub struct Custodian {
    path: PathBuf,
    cipher: ChaCha20Poly1305,
    state: Mutex<(Vec<SealedKey>, HashMap<String, SecretKey>)>,
}

/// Parses a master key: 64 hex digits (256 bits).
pub fn parse_master_key(text: &str) -> Result<[u8; 32], CustodyError> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| CustodyError::BadMasterKey("must be 64 hex digits (32 bytes)".into()))?;
    Ok(key)
}

/// The master key: given, read from a file, or (neither) created in `DATA_DIR/master.key`
/// (0600). Returns the key and, when it was created, the file's path.
pub fn resolve_master_key(
    given: Option<&str>,
    file: Option<&Path>,
    dir: &Path,
) -> Result<([u8; 32], Option<PathBuf>), CustodyError> {
    if let Some(text) = given {
        return Ok((parse_master_key(text)?, None));
    }
    let path = file.map_or_else(|| dir.join(MASTER_KEY_FILE), Path::to_path_buf);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((parse_master_key(&text)?, None)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.is_none() => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key)
                .map_err(|e| CustodyError::BadMasterKey(format!("no randomness: {e}")))?;
            crate::files::create_private(&path, format!("{}\n", hex::encode(key)).as_bytes())
                .map_err(|e| storage(&path, e))?;
            Ok((key, Some(path)))
        }
        Err(e) => Err(storage(&path, e)),
    }
}

fn storage(path: &Path, e: impl std::fmt::Display) -> CustodyError {
    CustodyError::Storage {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

impl Custodian {
    /// Loads and unseals every agent key; a key that does not open is an error naming it.
    pub fn open(dir: &Path, master: &[u8; 32]) -> Result<Custodian, CustodyError> {
        let path = dir.join(FILE_NAME);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(master));
        let sealed = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: KeyFile =
                    serde_json::from_slice(&bytes).map_err(|e| storage(&path, e))?;
                if file.format != FILE_FORMAT {
                    return Err(storage(&path, format!("unknown format {:?}", file.format)));
                }
                file.keys
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(storage(&path, e)),
        };
        let mut keys = HashMap::new();
        for entry in &sealed {
            let key = unseal(&cipher, entry).ok_or_else(|| CustodyError::Sealed {
                path: path.clone(),
                agent_id: entry.agent_id.clone(),
            })?;
            keys.insert(entry.agent_id.clone(), key);
        }
        Ok(Custodian {
            path,
            cipher,
            state: Mutex::new((sealed, keys)),
        })
    }

    /// The agent's key, created (and durably sealed) on first use.
    fn key_for(&self, agent_id: &str) -> Result<SecretKey, ApiError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| ApiError::Internal("custodian lock poisoned".into()))?;
        if let Some(key) = state.1.get(agent_id) {
            return Ok(key.clone());
        }
        let key = SecretKey::generate().map_err(|e| ApiError::Internal(e.to_string()))?;
        let sealed = seal(&self.cipher, agent_id, &key)?;
        let mut entries = state.0.clone();
        entries.push(sealed);
        let file = KeyFile {
            format: FILE_FORMAT.into(),
            keys: entries.clone(),
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| ApiError::Internal(e.to_string()))?;
        crate::files::write_atomic(&self.path, &bytes)
            .map_err(|e| ApiError::Internal(storage(&self.path, e).to_string()))?;
        state.0 = entries;
        state.1.insert(agent_id.to_owned(), key.clone());
        Ok(key)
    }

    /// A signed body leaves as it came. An unsigned one (no `public_key`, no `signature`) is
    /// completed and signed for its agent, if the caller's key is bound to that agent.
    /// `predicate` is the control predicate of the route, `None` for `/v1/assert`.
    pub fn prepare(
        &self,
        caller: Option<&Principal>,
        predicate: Option<&'static str>,
        wire: Value,
        now: Timestamp,
        limits: &Limits,
    ) -> Result<Value, ApiError> {
        let Value::Object(mut body) = wire else {
            return Ok(wire);
        };
        if body.contains_key("signature") || body.contains_key("public_key") {
            return Ok(Value::Object(body));
        }
        let agents = caller.map(|p| p.agent_ids.as_slice()).unwrap_or_default();
        if agents.is_empty() {
            return Err(ApiError::Unsigned(
                "unsigned write: sign the body with the agent's key (docs/signing.md), or use an \
                 API key bound to the agent (agent_ids) so that the server signs it (custodial signing)"
                    .into(),
            ));
        }
        let agent_id = match body.get("agent_id").and_then(Value::as_str) {
            Some(agent) => agent.to_owned(),
            None if agents.len() == 1 => agents[0].clone(),
            None => {
                return Err(ApiError::BadRequest(
                    "agent_id is required: this key signs for several agents".into(),
                ));
            }
        };
        if !agents.contains(&agent_id) {
            return Err(ApiError::Refused(format!(
                "this API key may not sign for agent {agent_id:?}"
            )));
        }
        complete(&mut body, predicate, &agent_id, now);
        let key = self.key_for(&agent_id)?;
        body.insert("public_key".into(), json!(key.public_key().to_hex()));
        let signed = SignedAssertion::sign(body, &key, limits).map_err(|e| match e {
            stemedb::core::CoreError::Invalid(v) => ApiError::Db(stemedb::DbError::Invalid(v)),
            other => ApiError::BadRequest(other.to_string()),
        })?;
        Ok(signed.to_wire())
    }
}

/// Fills what an unsigned body may leave out: `subject` from `concept_path`, the route's
/// predicate, a retraction's `{reason, cascade}` from the top level, `timestamp` (now),
/// `agent_id`, and `custodial: true`.
fn complete(
    body: &mut Map<String, Value>,
    predicate: Option<&str>,
    agent_id: &str,
    now: Timestamp,
) {
    if !body.contains_key("subject")
        && let Some(path) = body.remove("concept_path")
    {
        body.insert("subject".into(), path);
    }
    if let Some(predicate) = predicate {
        body.entry("predicate").or_insert_with(|| json!(predicate));
        if predicate == RETRACTS && !body.contains_key("value") {
            let mut value = Map::new();
            for field in ["reason", "cascade"] {
                if let Some(v) = body.remove(field) {
                    value.insert(field.into(), v);
                }
            }
            body.insert("value".into(), Value::Object(value));
        }
        if (predicate == VOTE || predicate == TRUSTS) && !body.contains_key("value") {
            for field in ["vote", "weight"] {
                if let Some(v) = body.remove(field) {
                    body.insert("value".into(), v);
                }
            }
        }
    }
    body.entry("timestamp")
        .or_insert_with(|| json!(now.to_rfc3339()));
    body.insert("agent_id".into(), json!(agent_id));
    body.insert("custodial".into(), json!(true));
}

fn seal(cipher: &ChaCha20Poly1305, agent_id: &str, key: &SecretKey) -> Result<SealedKey, ApiError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let seed = hex::decode(key.seed_hex()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &seed,
                aad: agent_id.as_bytes(),
            },
        )
        .map_err(|_| ApiError::Internal("sealing an agent key failed".into()))?;
    Ok(SealedKey {
        agent_id: agent_id.to_owned(),
        public_key: key.public_key().to_hex(),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    })
}

fn unseal(cipher: &ChaCha20Poly1305, entry: &SealedKey) -> Option<SecretKey> {
    let nonce = hex::decode(&entry.nonce).ok().filter(|n| n.len() == 12)?;
    let ciphertext = hex::decode(&entry.ciphertext).ok()?;
    let seed = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: entry.agent_id.as_bytes(),
            },
        )
        .ok()?;
    let seed: [u8; 32] = seed.try_into().ok()?;
    let key = SecretKey::from_seed(&seed);
    (key.public_key().to_hex() == entry.public_key).then_some(key)
}
