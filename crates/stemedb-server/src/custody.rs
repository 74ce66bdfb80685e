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
    #[error(
        "the replicated custodial key of agent {agent_id} does not open with this node's master \
         key (or is damaged): every node must have the same master key"
    )]
    ForeignSeal { agent_id: String },
}

/// One agent key as stored and replicated: the 32-byte seed sealed with ChaCha20-Poly1305
/// under the master key, bound to the agent id; never the plain key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    pub agent_id: String,
    /// Hex Ed25519 public key, checked against the unsealed seed.
    pub public_key: String,
    pub nonce: String,
    pub ciphertext: String,
}

/// Makes a newly sealed agent key durable (single node: the key file; cluster: the admin
/// stream, applied on every node). Afterwards the custodian holds a key for that agent: this
/// one, or the one another node committed first.
pub trait CustodialCommit {
    fn commit_custodial(&self, sealed: SealedKey) -> Result<(), ApiError>;
}

#[derive(Deserialize)]
struct KeyFile {
    format: String,
    keys: Vec<SealedKey>,
}

/// [`KeyFile`] as written (the same fields in the same order).
#[derive(Serialize)]
struct KeyFileOut<'a> {
    format: &'a str,
    keys: &'a [SealedKey],
}

/// The agent keys of one server.
pub struct Custodian {
    path: PathBuf,
    cipher: ChaCha20Poly1305,
    state: Mutex<Keys>,
}

/// The sealed keys in file order, and each agent's unsealed key.
type Keys = (Vec<SealedKey>, HashMap<String, SecretKey>);

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

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Keys>, CustodyError> {
        self.state
            .lock()
            .map_err(|_| storage(&self.path, "custodian lock poisoned"))
    }

    /// The key held for an agent, if any.
    pub fn key(&self, agent_id: &str) -> Result<Option<SecretKey>, CustodyError> {
        Ok(self.lock()?.1.get(agent_id).cloned())
    }

    /// Every agent key held, sealed, in the order they were stored.
    pub fn sealed_keys(&self) -> Result<Vec<SealedKey>, CustodyError> {
        Ok(self.lock()?.0.clone())
    }

    /// A new key for an agent, sealed under the master key; nothing is stored.
    pub fn seal_new(&self, agent_id: &str) -> Result<SealedKey, ApiError> {
        let key = SecretKey::generate().map_err(|e| ApiError::Internal(e.to_string()))?;
        seal(&self.cipher, agent_id, &key)
    }

    /// Stores a sealed key if its agent has none yet (the first key stored for an agent wins;
    /// a later one is left out). Returns whether it was stored. A key that does not open with
    /// this master key is refused, naming its agent, even when the agent has one already: a
    /// node with another master key is found at its first replicated key.
    pub fn insert(&self, sealed: SealedKey) -> Result<bool, CustodyError> {
        let key = unseal(&self.cipher, &sealed).ok_or_else(|| CustodyError::ForeignSeal {
            agent_id: sealed.agent_id.clone(),
        })?;
        let mut state = self.lock()?;
        if let Some(held) = state.1.get(&sealed.agent_id) {
            if held.public_key().to_hex() != sealed.public_key {
                // Two nodes (or requests) raced to create this agent's key; the one committed
                // first is every node's.
                tracing::info!(agent_id = %sealed.agent_id, "a later custodial key for an agent is left out");
            }
            return Ok(false);
        }
        let agent_id = sealed.agent_id.clone();
        let mut entries = state.0.clone();
        entries.push(sealed);
        let file = KeyFileOut {
            format: FILE_FORMAT,
            keys: &entries,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| storage(&self.path, e))?;
        crate::files::write_atomic(&self.path, &bytes).map_err(|e| storage(&self.path, e))?;
        state.0 = entries;
        state.1.insert(agent_id, key);
        Ok(true)
    }

    /// The agent's key, created and committed on first use. Two callers (or two nodes) may
    /// create one at once; both then sign with the key committed first.
    fn key_for(&self, agent_id: &str, commit: &dyn CustodialCommit) -> Result<SecretKey, ApiError> {
        let held = || {
            self.key(agent_id)
                .map_err(|e| ApiError::Internal(e.to_string()))
        };
        if let Some(key) = held()? {
            return Ok(key);
        }
        commit.commit_custodial(self.seal_new(agent_id)?)?;
        held()?.ok_or_else(|| {
            ApiError::Internal(format!(
                "no custodial key for agent {agent_id} after its commit"
            ))
        })
    }

    /// A signed body leaves as it came. An unsigned one (no `public_key`, no `signature`) is
    /// completed and signed for its agent, if the caller's key is bound to that agent.
    /// `predicate` is the control predicate of the route, `None` for `/v1/assert`. A new agent
    /// key goes through `commit`, which may block: call this on a blocking thread.
    pub fn prepare(
        &self,
        commit: &dyn CustodialCommit,
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
        let key = self.key_for(&agent_id, commit)?;
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
