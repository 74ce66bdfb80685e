//! A stored record as callers see it: the signed body's fields exactly as signed, plus
//! `id`, `signature`, `sequence`, `recorded_at` and `lifecycle_stage`.
//!
//! Reads do not re-validate bodies: a record passed every rule at ingest and its envelope is
//! checksummed, and its id is recomputed from the bytes. Only the fields lenses need are parsed,
//! and the JSON form is built by splicing the envelope fields onto the stored canonical bytes,
//! so the body is returned byte-for-byte as signed.
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use stemedb_core::{AssertionId, Signature, Timestamp};
use stemedb_store::{Stage, StoreError, StoredRecord};

use crate::DbError;

pub use stemedb_core::audit::ENVELOPE_FIELDS;

/// Where a record is in its life, and the signed record that put it there.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    pub stage: Stage,
    /// The retraction (`retracted_by`), superseding record or epoch (`superseded_by`), or
    /// review that caused the stage.
    pub cause: Option<AssertionId>,
    /// The retraction's or epoch's reason.
    pub reason: Option<String>,
    /// Why a quarantined record is held.
    pub quarantine_rule: Option<&'static str>,
}

impl Lifecycle {
    pub const ACTIVE: Lifecycle = Lifecycle {
        stage: Stage::Active,
        cause: None,
        reason: None,
        quarantine_rule: None,
    };

    /// The envelope fields after `lifecycle_stage`, as JSON text starting with a comma.
    fn extra_json(&self) -> String {
        let mut out = String::new();
        let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        match (self.stage, &self.cause) {
            (Stage::Retracted, Some(cause)) => {
                out.push_str(&format!(",\"retracted_by\":\"{cause}\""));
                if let Some(reason) = &self.reason {
                    out.push_str(&format!(",\"retraction_reason\":{}", text(reason)));
                }
            }
            (Stage::Superseded, Some(cause)) => {
                out.push_str(&format!(",\"superseded_by\":\"{cause}\""));
            }
            _ => {}
        }
        if let Some(rule) = self.quarantine_rule {
            out.push_str(&format!(",\"quarantine_rule\":\"{rule}\""));
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct RecordView {
    pub id: AssertionId,
    pub sequence: u64,
    pub recorded_at: Timestamp,
    pub signature: Signature,
    /// The signed body's canonical (RFC 8785) bytes, shared with the record they were read
    /// from (the store's record cache).
    pub canonical: Arc<[u8]>,
    /// The stage as of the read's point in time.
    pub lifecycle: Lifecycle,
    /// Valid time (`timestamp`).
    pub timestamp: Timestamp,
    /// Confidence with the default (1) applied.
    pub confidence: f64,
    pub value: Value,
    pub agent_id: String,
}

/// The body fields a lens reads; everything else stays in the canonical bytes.
#[derive(Deserialize)]
struct LensFields {
    value: Value,
    #[serde(default)]
    confidence: Option<f64>,
    timestamp: String,
    agent_id: String,
}

impl RecordView {
    pub(crate) fn from_stored(stored: StoredRecord) -> Result<Self, DbError> {
        let corrupt = |reason: String| StoreError::CorruptRecord {
            sequence: stored.sequence,
            reason,
        };
        let fields: LensFields = serde_json::from_slice(stored.canonical())
            .map_err(|e| corrupt(format!("body is not a valid assertion: {e}")))?;
        let timestamp = Timestamp::parse_field(&fields.timestamp, "timestamp")
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Self {
            id: stored.id(),
            sequence: stored.sequence,
            recorded_at: stored.recorded_at,
            signature: stored.signature,
            canonical: stored.into_canonical(),
            lifecycle: Lifecycle::ACTIVE,
            timestamp,
            confidence: fields.confidence.unwrap_or(1.0),
            value: fields.value,
            agent_id: fields.agent_id,
        })
    }

    /// The JSON text returned by the API: envelope fields, then the body exactly as signed.
    pub fn to_json_string(&self) -> String {
        // The canonical body is a non-empty JSON object: `{"agent_id":…}`. Splice after `{`.
        let body = std::str::from_utf8(&self.canonical).unwrap_or("{}");
        let rest = body.strip_prefix('{').unwrap_or("}");
        format!(
            "{{\"id\":\"{}\",\"signature\":\"{}\",\"sequence\":{},\"recorded_at\":\"{}\",\"lifecycle_stage\":\"{}\"{},{rest}",
            self.id.to_hex(),
            self.signature.to_hex(),
            self.sequence,
            self.recorded_at.to_rfc3339(),
            self.lifecycle.stage.as_str(),
            self.lifecycle.extra_json(),
        )
    }

    /// The same text as a raw JSON value: written into a response unchanged, never re-parsed
    /// into a map. A record whose text is not JSON is a corrupt record.
    pub fn to_raw_json(&self) -> Result<Box<serde_json::value::RawValue>, DbError> {
        serde_json::value::RawValue::from_string(self.to_json_string()).map_err(|e| {
            DbError::Store(StoreError::CorruptRecord {
                sequence: self.sequence,
                reason: format!("the record is not JSON: {e}"),
            })
        })
    }

    /// The same as a JSON value.
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.to_json_string()).unwrap_or(Value::Null)
    }
}
