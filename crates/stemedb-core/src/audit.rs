//! The audit export format (`stemedb-audit/1`, JSON Lines) and its offline verifier.
//!
//! ```text
//! {"kind":"assertion"|"dependency","record":{…record with envelope…},"depends_on":["<id>",…]}
//! …
//! {"kind":"manifest","format":"stemedb-audit/1","records":N,…}
//! {"blake3":"<hex BLAKE3 of every byte before this line>"}
//! ```
//! Signatures make every record's body checkable by anyone; the closing hash makes every other
//! byte (envelope fields, lifecycle claims, the manifest) checkable too, so a single flipped
//! byte anywhere is detected. The verifier needs nothing but the file (docs/truth.md, "Audit
//! export and offline verification").
use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::{AssertionId, CoreError, Limits, Signature, SignedAssertion, ValidationError};

/// Why a record as served or exported does not check out.
#[derive(Debug, thiserror::Error)]
pub enum RecordCheckError {
    #[error("record is not an object")]
    NotAnObject,
    #[error("record has no id")]
    NoId,
    #[error("record has no signature")]
    NoSignature,
    #[error("{0}")]
    Field(ValidationError),
    #[error("body is not a valid assertion: {0}")]
    BodyInvalid(CoreError),
    #[error("body hashes to {found}, not to its id {claimed}")]
    IdMismatch { found: AssertionId, claimed: String },
    #[error("signature of {claimed} does not verify")]
    SignatureInvalid { claimed: String },
}

pub const AUDIT_FORMAT: &str = "stemedb-audit/1";

/// Fields a stored record carries beyond its signed body; a verifier removes exactly these.
pub const ENVELOPE_FIELDS: [&str; 10] = [
    "id",
    "signature",
    "sequence",
    "recorded_at",
    "lifecycle_stage",
    "retracted_by",
    "retraction_reason",
    "superseded_by",
    "quarantine_rule",
    "votes",
];

/// What `verify_export` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub records: u64,
    /// Records exported as answers (`kind: assertion`); the rest are their dependencies.
    pub assertions: u64,
    pub valid: u64,
    pub invalid: u64,
    pub missing_references: u64,
    /// The manifest and the closing hash agree with the file.
    pub intact: bool,
    /// One line per problem, naming the line number.
    pub problems: Vec<String>,
}

impl AuditReport {
    /// True when every record verifies, every reference resolves and the file is intact.
    pub fn ok(&self) -> bool {
        self.intact && self.invalid == 0 && self.missing_references == 0 && self.records > 0
    }
}

/// Checks one record as exported: its body hashes to its `id` and its signature verifies.
pub fn verify_record(record: &Value) -> Result<AssertionId, RecordCheckError> {
    let Value::Object(map) = record else {
        return Err(RecordCheckError::NotAnObject);
    };
    let claimed = map
        .get("id")
        .and_then(Value::as_str)
        .ok_or(RecordCheckError::NoId)?;
    let signature = map
        .get("signature")
        .and_then(Value::as_str)
        .ok_or(RecordCheckError::NoSignature)?;
    let signature =
        Signature::parse_field(signature, "signature").map_err(RecordCheckError::Field)?;
    let body: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !ENVELOPE_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let assertion = SignedAssertion::from_body(body, signature, &Limits::default())
        .map_err(RecordCheckError::BodyInvalid)?;
    if assertion.id.to_hex() != claimed {
        return Err(RecordCheckError::IdMismatch {
            found: assertion.id,
            claimed: claimed.to_owned(),
        });
    }
    if !assertion.verify() {
        return Err(RecordCheckError::SignatureInvalid {
            claimed: claimed.to_owned(),
        });
    }
    Ok(assertion.id)
}

/// Verifies an export offline: every record, every reference, the manifest and the hash.
pub fn verify_export(bytes: &[u8]) -> AuditReport {
    let mut report = AuditReport::default();
    let Some(body_end) = last_line_start(bytes) else {
        report
            .problems
            .push("the file has no closing hash line".into());
        return report;
    };
    let (body, last) = bytes.split_at(body_end);
    let hash_ok = check_closing_hash(body, last, &mut report);
    let mut ids: HashSet<String> = HashSet::new();
    let mut references: Vec<(usize, String)> = Vec::new();
    let mut manifest: Option<(usize, Value)> = None;
    let lines: Vec<&[u8]> = body
        .strip_suffix(b"\n")
        .unwrap_or(body)
        .split(|b| *b == b'\n')
        .collect();
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        // Strict: a repeated key would let two verifiers read two different records.
        let parsed: Value = match crate::parse_json_strict(line) {
            Ok(v) => v,
            Err(e) => {
                report.invalid += 1;
                report
                    .problems
                    .push(format!("line {number}: not JSON: {e}"));
                continue;
            }
        };
        if parsed.get("kind").and_then(Value::as_str) == Some("manifest") {
            manifest = Some((number, parsed));
            continue;
        }
        report.records += 1;
        if parsed.get("kind").and_then(Value::as_str) == Some("assertion") {
            report.assertions += 1;
        }
        match parsed.get("record").map(verify_record) {
            Some(Ok(id)) => {
                report.valid += 1;
                ids.insert(id.to_hex());
            }
            Some(Err(reason)) => {
                report.invalid += 1;
                report.problems.push(format!("line {number}: {reason}"));
            }
            None => {
                report.invalid += 1;
                report.problems.push(format!("line {number}: no record"));
            }
        }
        references.extend(referenced_ids(&parsed).into_iter().map(|id| (number, id)));
    }
    for (number, id) in references {
        if !ids.contains(&id) {
            report.missing_references += 1;
            report.problems.push(format!(
                "line {number}: references {id}, which the file does not hold"
            ));
        }
    }
    let manifest_ok = match manifest {
        Some((number, m)) if number == lines.len() => {
            check_manifest(&m, report.records, &mut report)
        }
        Some((number, _)) => {
            report.problems.push(format!(
                "line {number}: the manifest is not the last record line"
            ));
            false
        }
        None => {
            report.problems.push("the file has no manifest".into());
            false
        }
    };
    report.intact = hash_ok && manifest_ok;
    report
}

/// Start of the last line (the file ends with a newline).
fn last_line_start(bytes: &[u8]) -> Option<usize> {
    let trimmed = bytes.strip_suffix(b"\n")?;
    Some(
        trimmed
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1),
    )
}

fn check_closing_hash(body: &[u8], last: &[u8], report: &mut AuditReport) -> bool {
    let expected = blake3::hash(body).to_hex().to_string();
    let found: Option<String> = crate::parse_json_strict(last).ok().and_then(|v| {
        let map = v.as_object()?;
        (map.len() == 1)
            .then(|| map.get("blake3")?.as_str().map(str::to_owned))
            .flatten()
    });
    match found {
        Some(h) if h == expected => true,
        Some(h) => {
            report.problems.push(format!(
                "the closing hash is {h}, but the file hashes to {expected}: it was changed"
            ));
            false
        }
        None => {
            report
                .problems
                .push("the last line is not a closing hash {\"blake3\": …}".into());
            false
        }
    }
}

fn check_manifest(manifest: &Value, records: u64, report: &mut AuditReport) -> bool {
    let format_ok = manifest.get("format").and_then(Value::as_str) == Some(AUDIT_FORMAT);
    let count = manifest.get("records").and_then(Value::as_u64);
    if !format_ok {
        report
            .problems
            .push(format!("the manifest's format is not {AUDIT_FORMAT}"));
    }
    if count != Some(records) {
        report.problems.push(format!(
            "the manifest counts {count:?} records; the file holds {records}"
        ));
    }
    format_ok && count == Some(records)
}

/// Ids a line says its record depends on, including its lifecycle causes.
fn referenced_ids(line: &Value) -> Vec<String> {
    let mut out: Vec<String> = line
        .get("depends_on")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for field in ["retracted_by", "superseded_by"] {
        if let Some(id) = line
            .get("record")
            .and_then(|r| r.get(field))
            .and_then(Value::as_str)
        {
            out.push(id.to_owned());
        }
    }
    out
}
