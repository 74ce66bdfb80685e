//! Backups (`stemedb-backup/2`): a directory with `manifest.json` and `records.jsonl`, one log
//! record per line exactly as stored (sequence, recorded_at, signature, canonical body). The
//! log is append-only and sequences are dense, so records 1..=S read at any time form a
//! consistent snapshot without pausing writers. The server signs the manifest with its own key
//! (it hashes the records itself), so verification needs only the files and the server's
//! public key; a `stemedb-backup/1` manifest carries no signature and is refused unless the
//! caller allows unsigned backups.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stemedb_core::{
    AssertionId, Limits, PublicKey, SecretKey, Signature, SignedAssertion, Timestamp,
    canonical_bytes,
};
use stemedb_store::{Role, StoredRecord};

pub use crate::backup_error::BackupError;
use crate::{Db, DbError};

/// The format written today: a manifest signed by the server.
pub const BACKUP_FORMAT: &str = "stemedb-backup/2";
/// The earlier format: no server signature, so its origin cannot be proven.
pub const BACKUP_FORMAT_UNSIGNED: &str = "stemedb-backup/1";
/// Domain tag of a manifest signature (docs/security.md): the server signs, in the assertion
/// signing message, the id `BLAKE3(MANIFEST_DOMAIN || 0x00 || JCS(manifest without "signature"))`.
/// Assertion ids hash JSON objects, which open with `{`, so no manifest signature is ever a
/// valid signature of an assertion, nor the reverse.
pub const MANIFEST_DOMAIN: &[u8] = b"stemedb/v1/backup-manifest";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const RECORDS_FILE: &str = "records.jsonl";

/// A role grant as backed up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: String,
    pub agent_id: String,
    pub after_sequence: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    /// The on-disk format of the server that wrote it (for the record).
    pub data_format_version: u32,
    pub server_version: String,
    pub created_at: String,
    /// Records held: `first_sequence..=last_sequence` (an incremental backup starts after the
    /// previous one's last).
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub record_count: u64,
    /// BLAKE3 of `records.jsonl`, hex.
    pub records_blake3: String,
    pub roles: Vec<RoleGrant>,
    /// The public half of the server key that signed this manifest (hex; format /2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_public_key: Option<String>,
    /// The server's Ed25519 signature over every other field (hex; format /2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Manifest {
    /// Signs the manifest with the server's key: sets `server_public_key`, then `signature`
    /// over every other field.
    pub fn sign(&mut self, key: &SecretKey) -> Result<(), BackupError> {
        self.server_public_key = Some(key.public_key().to_hex());
        self.signature = None;
        let value = serde_json::to_value(&*self).map_err(BackupError::ManifestEncoding)?;
        let id = manifest_digest(&value)?;
        self.signature = Some(key.sign(&id).to_hex());
        Ok(())
    }
}

/// What a manifest signature covers: the id of `MANIFEST_DOMAIN || 0x00 || JCS(manifest)`,
/// the manifest being every field but `signature` (any field added later is covered too).
pub fn manifest_digest(manifest: &Value) -> Result<AssertionId, BackupError> {
    let Value::Object(map) = manifest else {
        return Err(BackupError::ManifestNotObject);
    };
    let mut map = map.clone();
    map.remove("signature");
    let canonical = canonical_bytes(&map).map_err(BackupError::ManifestCanonical)?;
    let mut bytes = Vec::with_capacity(MANIFEST_DOMAIN.len() + 1 + canonical.len());
    bytes.extend_from_slice(MANIFEST_DOMAIN);
    bytes.push(0);
    bytes.extend_from_slice(&canonical);
    Ok(AssertionId::of_canonical(&bytes))
}

/// Which backups a verification accepts.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The server key the operator trusts; a signed manifest must be signed by exactly it.
    pub server_key: Option<PublicKey>,
    /// Accept `stemedb-backup/1` manifests, which carry no signature.
    pub allow_unsigned: bool,
}

/// Checks a manifest's format and signature against `trust`; returns the manifest and
/// whether it was unsigned (format /1, accepted only when `trust.allow_unsigned`).
pub fn check_manifest(bytes: &[u8], trust: &Trust) -> Result<(Manifest, bool), BackupError> {
    let value: Value = serde_json::from_slice(bytes).map_err(BackupError::ManifestUnreadable)?;
    let manifest: Manifest =
        serde_json::from_value(value.clone()).map_err(BackupError::ManifestUnreadable)?;
    match manifest.format.as_str() {
        BACKUP_FORMAT => {
            check_signature(&manifest, &value, trust)?;
            Ok((manifest, false))
        }
        BACKUP_FORMAT_UNSIGNED if trust.allow_unsigned => Ok((manifest, true)),
        BACKUP_FORMAT_UNSIGNED => Err(BackupError::Unsigned),
        other => Err(BackupError::UnknownFormat {
            found: other.to_owned(),
        }),
    }
}

fn check_signature(manifest: &Manifest, value: &Value, trust: &Trust) -> Result<(), BackupError> {
    let (Some(key), Some(signature)) = (&manifest.server_public_key, &manifest.signature) else {
        return Err(BackupError::NoSignature);
    };
    let key = PublicKey::parse_field(key, "server_public_key").map_err(BackupError::Field)?;
    let signature = Signature::parse_field(signature, "signature").map_err(BackupError::Field)?;
    if !key.verify(&manifest_digest(value)?, &signature) {
        return Err(BackupError::SignatureInvalid { key: key.to_hex() });
    }
    match &trust.server_key {
        None => Err(BackupError::KeyNotTrusted { key: key.to_hex() }),
        Some(trusted) if *trusted != key => Err(BackupError::KeyNotTheTrusted {
            key: key.to_hex(),
            trusted: trusted.to_hex(),
        }),
        Some(_) => Ok(()),
    }
}

/// One `records.jsonl` line.
pub fn record_line(stored: &StoredRecord) -> String {
    let canonical = String::from_utf8_lossy(stored.canonical());
    format!(
        "{}\n",
        json!({
            "sequence": stored.sequence,
            "recorded_at": stored.recorded_at.to_rfc3339(),
            "signature": stored.signature.to_hex(),
            "canonical": canonical,
        })
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    sequence: u64,
    recorded_at: String,
    signature: String,
    canonical: String,
}

/// Parses and verifies one line: the body is valid, hashes to its id, and its signature
/// verifies. Errors name what is wrong.
pub fn parse_record_line(line: &[u8]) -> Result<StoredRecord, BackupError> {
    let parsed: Line = serde_json::from_slice(line).map_err(BackupError::LineUnreadable)?;
    let signature =
        Signature::parse_field(&parsed.signature, "signature").map_err(BackupError::Field)?;
    let recorded_at =
        Timestamp::parse_field(&parsed.recorded_at, "recorded_at").map_err(BackupError::Field)?;
    let canonical = parsed.canonical.into_bytes();
    let assertion = SignedAssertion::from_canonical(&canonical, signature, &Limits::default())
        .map_err(|reason| BackupError::BodyInvalid {
            sequence: parsed.sequence,
            reason,
        })?;
    if !assertion.verify() {
        return Err(BackupError::RecordSignatureInvalid {
            sequence: parsed.sequence,
            id: assertion.id,
        });
    }
    Ok(StoredRecord::new(
        parsed.sequence,
        recorded_at,
        signature,
        canonical,
    ))
}

/// A verified chain of backups (a full one, then incrementals in order).
#[derive(Debug)]
pub struct VerifiedBackup {
    pub manifests: Vec<Manifest>,
    pub records: Vec<StoredRecord>,
    /// How many of the manifests were unsigned (format /1, accepted by `Trust::allow_unsigned`).
    pub unsigned: usize,
}

/// Reads and verifies backups in order: manifests and their server signatures against
/// `trust`, file hashes, every line, dense sequences from 1, counts. Nothing is trusted
/// before it is checked.
pub fn verify_backups(dirs: &[&Path], trust: &Trust) -> Result<VerifiedBackup, BackupError> {
    let mut manifests = Vec::new();
    let mut records: Vec<StoredRecord> = Vec::new();
    let mut unsigned = 0;
    for dir in dirs {
        let read =
            |path: PathBuf| std::fs::read(&path).map_err(|source| BackupError::Io { path, source });
        let text = read(dir.join(MANIFEST_FILE))?;
        let (manifest, was_unsigned) =
            check_manifest(&text, trust).map_err(|e| BackupError::Manifest {
                dir: dir.to_path_buf(),
                source: Box::new(e),
            })?;
        unsigned += usize::from(was_unsigned);
        let bytes = read(dir.join(RECORDS_FILE))?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        if hash != manifest.records_blake3 {
            return Err(BackupError::RecordsChanged {
                dir: dir.to_path_buf(),
                found: hash,
                expected: manifest.records_blake3,
            });
        }
        let expected_first = records.last().map_or(1, |r| r.sequence + 1);
        if manifest.first_sequence != expected_first && manifest.record_count > 0 {
            return Err(BackupError::ChainBroken {
                dir: dir.to_path_buf(),
                first: manifest.first_sequence,
                expected: expected_first,
            });
        }
        let before = records.len();
        for (index, line) in bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let record = parse_record_line(line).map_err(|e| BackupError::Line {
                file: dir.join(RECORDS_FILE),
                line: index + 1,
                source: Box::new(e),
            })?;
            let want = records.last().map_or(1, |r| r.sequence + 1);
            if record.sequence != want {
                return Err(BackupError::SequenceOutOfOrder {
                    dir: dir.to_path_buf(),
                    line: index + 1,
                    found: record.sequence,
                    expected: want,
                });
            }
            records.push(record);
        }
        let count = (records.len() - before) as u64;
        if count != manifest.record_count
            || records.last().map_or(0, |r| r.sequence)
                != manifest.last_sequence.max(expected_first - 1)
        {
            return Err(BackupError::CountMismatch {
                dir: dir.to_path_buf(),
                count,
                record_count: manifest.record_count,
                last_sequence: manifest.last_sequence,
            });
        }
        manifests.push(manifest);
    }
    Ok(VerifiedBackup {
        manifests,
        records,
        unsigned,
    })
}

/// What the server attests for a range: how many records, the last sequence, and the BLAKE3
/// of exactly the `records.jsonl` lines it serves for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeDigest {
    pub record_count: u64,
    pub last_sequence: u64,
    pub records_blake3: String,
}

impl Db {
    /// Log records with `after < sequence ≤ upto`, at most `limit`.
    pub fn backup_records(
        &self,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, DbError> {
        self.backup_page(after, upto, limit, usize::MAX)
    }

    /// As [`Db::backup_records`], ending the page once its records' signed bytes reach
    /// `bytes_max` (never before its first record, so that a reader always moves on): a page
    /// of large records is then shorter, where a count alone let one page hold gigabytes.
    pub fn backup_page(
        &self,
        after: u64,
        upto: u64,
        limit: usize,
        bytes_max: usize,
    ) -> Result<Vec<StoredRecord>, DbError> {
        let last = upto.min(self.store.last_sequence());
        let mut out = Vec::new();
        let (mut sequence, mut bytes) = (after, 0usize);
        while sequence < last && out.len() < limit && bytes < bytes_max.max(1) {
            sequence += 1;
            match self.store.get_by_sequence(sequence)? {
                Some(record) => {
                    bytes = bytes.saturating_add(record.canonical().len());
                    out.push(record);
                }
                None => {
                    return Err(DbError::Store(stemedb_store::StoreError::CorruptRecord {
                        sequence,
                        reason: "missing from the log".into(),
                    }));
                }
            }
        }
        Ok(out)
    }

    /// Hashes the backup lines of records `after < sequence ≤ upto` (capped at the last
    /// sequence), reading `page_records` at a time.
    pub fn backup_digest(
        &self,
        after: u64,
        upto: u64,
        page_records: usize,
    ) -> Result<RangeDigest, DbError> {
        let mut hasher = blake3::Hasher::new();
        let (mut cursor, mut count) = (after, 0u64);
        loop {
            let page = self.backup_records(cursor, upto, page_records.max(1))?;
            let Some(last) = page.last() else { break };
            cursor = last.sequence;
            count += page.len() as u64;
            for record in &page {
                hasher.update(record_line(record).as_bytes());
            }
        }
        Ok(RangeDigest {
            record_count: count,
            last_sequence: cursor,
            records_blake3: hasher.finalize().to_hex().to_string(),
        })
    }

    /// Role grants that hold after a sequence up to `upto` (and durable), for a manifest of
    /// the records up to `upto`.
    pub fn role_grants(&self, upto: u64) -> Vec<RoleGrant> {
        self.store
            .role_grants(upto)
            .into_iter()
            .map(|(role, agent_id, after_sequence)| RoleGrant {
                role: role.as_str().to_owned(),
                agent_id,
                after_sequence,
            })
            .collect()
    }

    /// Restores verified records and role grants into this (empty) database; see
    /// `Store::restore`. Close and reopen it to serve.
    pub fn restore(
        &self,
        records: Vec<StoredRecord>,
        roles: &[RoleGrant],
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, DbError> {
        let roles: Vec<(Role, String, u64)> = roles
            .iter()
            .filter_map(|g| Role::parse(&g.role).map(|r| (r, g.agent_id.clone(), g.after_sequence)))
            .collect();
        // Only a store the restore can take (an empty one, as `Store::restore` requires):
        // a refused restore changes nothing, the kept table included.
        if self.store.last_sequence() == 0 {
            self.forget_kept_reliability()?;
        }
        Ok(self.store.restore(records, &roles, progress)?)
    }
}
