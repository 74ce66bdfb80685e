//! Observations and claims as signed assertions: the agents that sign them, their keys (kept
//! in `.aphoria/keys/`, never in git), and the one place each becomes an assertion body.
//!
//! - an observation: subject the code path, predicate from the vocabulary, signed by
//!   `aphoria/extractor/<name>`, timestamped with the commit's time, provenance `commit <hash>
//!   <path>:<line>`;
//! - a claim or a pack rule: subject `aphoria/expect/<pattern>`, predicate the claim's, value
//!   the claim, signed by `aphoria/author/<name>` or `aphoria/pack/<name>`; a new version
//!   names the record it replaces in `supersedes`. Claims and pack rules about the same
//!   pattern and predicate share a group, which is what lets a lens choose between them.
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use stemedb_client::Draft;
use stemedb_core::{AssertionId, SecretKey};

use crate::claims::Claim;
use crate::error::AphoriaError;
use crate::observe::Observation;

pub const EXTRACTOR_AGENT_PREFIX: &str = "aphoria/extractor/";
pub const AUTHOR_AGENT_PREFIX: &str = "aphoria/author/";
pub const PACK_AGENT_PREFIX: &str = "aphoria/pack/";
/// Claims and pack rules live under this subject prefix, followed by their pattern.
pub const EXPECT_PREFIX: &str = "aphoria/expect/";

/// The secret keys of the agents this checkout signs for, one file per agent (the seed as
/// 64 hex characters, mode 0600), made on first use.
#[derive(Debug, Clone)]
pub struct Keys {
    dir: PathBuf,
}

impl Keys {
    pub fn new(dir: &Path) -> Keys {
        Keys {
            dir: dir.to_owned(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of `agent`, made and saved if there is none yet.
    pub fn key_for(&self, agent: &str) -> Result<SecretKey, AphoriaError> {
        let path = self.dir.join(format!("{}.key", agent.replace('/', "_")));
        match std::fs::read_to_string(&path) {
            Ok(text) => SecretKey::parse_hex(&text)
                .map_err(|e| AphoriaError::bad_file(&path, format!("not a key: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.make(&path),
            Err(e) => Err(AphoriaError::io(&path, e)),
        }
    }

    /// Makes a key and puts it in place whole: written to a file of this process, synced,
    /// then linked to its name, which fails if another process got there first (its key is
    /// then read and used). A crash leaves a stray temporary file, never an empty key.
    fn make(&self, path: &Path) -> Result<SecretKey, AphoriaError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| AphoriaError::io(&self.dir, e))?;
        let key = SecretKey::generate().map_err(|e| AphoriaError::Store(e.to_string()))?;
        let tmp = path.with_extension(format!("key.{}.tmp", std::process::id()));
        write_private(&tmp, &key.seed_hex())?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(|e| AphoriaError::io(path, e))?;
                SecretKey::parse_hex(&text)
                    .map_err(|e| AphoriaError::bad_file(path, format!("not a key: {e}")))
            }
            Err(e) => Err(AphoriaError::io(path, e)),
        }
    }
}

/// Writes `text` to a new file readable by its owner only, and syncs it.
fn write_private(path: &Path, text: &str) -> Result<(), AphoriaError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| AphoriaError::io(path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| AphoriaError::io(path, e))
}

/// Where a scan's observations come from: the commit and its time.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The commit hash, or `worktree` outside git.
    pub commit: String,
    /// RFC 3339: the commit's time (the observations' valid time).
    pub timestamp: String,
}

/// The signed wire form of an observation.
pub fn observation_wire(
    o: &Observation,
    key: &SecretKey,
    at: &Provenance,
) -> Result<Value, AphoriaError> {
    let agent = format!("{EXTRACTOR_AGENT_PREFIX}{}", o.extractor);
    let provenance = format!("commit {} {}:{}", at.commit, o.path, o.line);
    let mut draft = Draft::new(
        &agent,
        &o.subject,
        &o.predicate,
        o.value.clone(),
        &at.timestamp,
    )
    .provenance(&provenance);
    if o.confidence < 1.0 {
        draft = draft.confidence(o.confidence);
    }
    draft
        .sign(key)
        .map_err(|e| AphoriaError::Store(format!("observation {} {}: {e}", o.subject, o.predicate)))
}

/// The signed wire form of a claim (or a pack rule) by `agent`, replacing `supersedes`.
pub fn claim_wire(
    claim: &Claim,
    agent: &str,
    key: &SecretKey,
    timestamp: &str,
    supersedes: Option<&AssertionId>,
) -> Result<Value, AphoriaError> {
    let value = serde_json::to_value(claim)
        .map_err(|e| AphoriaError::bad_claim(&claim.id, e.to_string()))?;
    let subject = format!("{EXPECT_PREFIX}{}", claim.subject);
    let mut draft = Draft::new(agent, &subject, &claim.predicate, value, timestamp);
    if let Some(id) = supersedes {
        draft = draft.field("supersedes", json!(id.to_hex()));
    }
    draft
        .sign(key)
        .map_err(|e| AphoriaError::bad_claim(&claim.id, e.to_string()))
}

/// The claim a stored record holds, when it holds one.
pub fn claim_of(value: &Value) -> Option<Claim> {
    serde_json::from_value(value.clone()).ok()
}

/// `supersedes` of a record's canonical body bytes.
pub fn supersedes_of(canonical: &[u8]) -> Option<String> {
    let body: Value = serde_json::from_slice(canonical).ok()?;
    body.get("supersedes")?.as_str().map(str::to_owned)
}

/// The name of a pack agent (`aphoria/pack/<name>` → `name`).
pub fn pack_name(agent: &str) -> Option<&str> {
    agent.strip_prefix(PACK_AGENT_PREFIX)
}

/// Time now as RFC 3339 (seconds), for new claim records.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}
