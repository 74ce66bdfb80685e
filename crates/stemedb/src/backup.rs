//! Backups (`stemedb-backup/1`): a directory with `manifest.json` and `records.jsonl`, one log
//! record per line exactly as stored (sequence, recorded_at, signature, canonical body). The
//! log is append-only and sequences are dense, so records 1..=S read at any time form a
//! consistent snapshot without pausing writers. Verification needs only the files.
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;
use stemedb_core::{Limits, Signature, SignedAssertion, Timestamp};
use stemedb_store::{Role, StoredRecord};

use crate::{Db, DbError};

pub const BACKUP_FORMAT: &str = "stemedb-backup/1";
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
}

/// One `records.jsonl` line.
pub fn record_line(stored: &StoredRecord) -> String {
    let canonical = String::from_utf8_lossy(&stored.canonical);
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
pub fn parse_record_line(line: &[u8]) -> Result<StoredRecord, String> {
    let parsed: Line =
        serde_json::from_slice(line).map_err(|e| format!("not a record line: {e}"))?;
    let signature =
        Signature::parse_field(&parsed.signature, "signature").map_err(|e| e.to_string())?;
    let recorded_at =
        Timestamp::parse_field(&parsed.recorded_at, "recorded_at").map_err(|e| e.to_string())?;
    let canonical = parsed.canonical.into_bytes();
    let assertion = SignedAssertion::from_canonical(&canonical, signature, &Limits::default())
        .map_err(|e| {
            format!(
                "sequence {}: body is not a valid assertion: {e}",
                parsed.sequence
            )
        })?;
    if !assertion.verify() {
        return Err(format!(
            "sequence {}: the signature of {} does not verify",
            parsed.sequence, assertion.id
        ));
    }
    Ok(StoredRecord {
        sequence: parsed.sequence,
        recorded_at,
        signature,
        canonical,
    })
}

/// A verified chain of backups (a full one, then incrementals in order).
#[derive(Debug)]
pub struct VerifiedBackup {
    pub manifests: Vec<Manifest>,
    pub records: Vec<StoredRecord>,
}

/// Reads and verifies backups in order: manifests, file hashes, every line, dense sequences
/// from 1, counts. Nothing is trusted before it is checked.
pub fn verify_backups(dirs: &[&Path]) -> Result<VerifiedBackup, String> {
    let mut manifests = Vec::new();
    let mut records: Vec<StoredRecord> = Vec::new();
    for dir in dirs {
        let text = std::fs::read(dir.join(MANIFEST_FILE))
            .map_err(|e| format!("{}: {e}", dir.join(MANIFEST_FILE).display()))?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| format!("{}: unreadable manifest: {e}", dir.display()))?;
        if manifest.format != BACKUP_FORMAT {
            return Err(format!(
                "{}: format {:?}, expected {BACKUP_FORMAT}",
                dir.display(),
                manifest.format
            ));
        }
        let bytes = std::fs::read(dir.join(RECORDS_FILE))
            .map_err(|e| format!("{}: {e}", dir.join(RECORDS_FILE).display()))?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        if hash != manifest.records_blake3 {
            return Err(format!(
                "{}: records.jsonl hashes to {hash}, the manifest says {}: the file was changed",
                dir.display(),
                manifest.records_blake3
            ));
        }
        let expected_first = records.last().map_or(1, |r| r.sequence + 1);
        if manifest.first_sequence != expected_first && manifest.record_count > 0 {
            return Err(format!(
                "{}: starts at sequence {}, but the chain needs {expected_first} next",
                dir.display(),
                manifest.first_sequence
            ));
        }
        let before = records.len();
        for (index, line) in bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let record = parse_record_line(line).map_err(|e| {
                format!(
                    "{} line {}: {e}",
                    dir.join(RECORDS_FILE).display(),
                    index + 1
                )
            })?;
            let want = records.last().map_or(1, |r| r.sequence + 1);
            if record.sequence != want {
                return Err(format!(
                    "{} line {}: sequence {}, expected {want}",
                    dir.display(),
                    index + 1,
                    record.sequence
                ));
            }
            records.push(record);
        }
        let count = (records.len() - before) as u64;
        if count != manifest.record_count
            || records.last().map_or(0, |r| r.sequence)
                != manifest.last_sequence.max(expected_first - 1)
        {
            return Err(format!(
                "{}: holds {count} records; the manifest says {} up to sequence {}",
                dir.display(),
                manifest.record_count,
                manifest.last_sequence
            ));
        }
        manifests.push(manifest);
    }
    Ok(VerifiedBackup { manifests, records })
}

impl Db {
    /// Log records with `after < sequence ≤ upto`, at most `limit`.
    pub fn backup_records(
        &self,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, DbError> {
        let last = upto.min(self.store.last_sequence());
        let mut out = Vec::new();
        let mut sequence = after;
        while sequence < last && out.len() < limit {
            sequence += 1;
            match self.store.get_by_sequence(sequence)? {
                Some(record) => out.push(record),
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

    /// Role grants, for the manifest.
    pub fn role_grants(&self) -> Vec<RoleGrant> {
        self.store
            .role_grants()
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
        Ok(self.store.restore(records, &roles, progress)?)
    }
}
