//! A stored record as callers see it: the signed body's fields exactly as signed, plus
//! `id`, `signature`, `sequence`, `recorded_at` and `lifecycle_stage`.
use serde_json::{Map, Value};
use stemedb_core::{Limits, SignedAssertion, Timestamp};
use stemedb_store::StoredRecord;

use crate::DbError;

/// Fields a record carries beyond the signed body; a verifier removes exactly these.
pub const ENVELOPE_FIELDS: [&str; 5] = [
    "id",
    "signature",
    "sequence",
    "recorded_at",
    "lifecycle_stage",
];

#[derive(Debug, Clone)]
pub struct RecordView {
    pub assertion: SignedAssertion,
    pub sequence: u64,
    pub recorded_at: Timestamp,
    /// `"active"` until retraction and supersession exist.
    pub lifecycle_stage: &'static str,
}

impl RecordView {
    /// Parses a stored record. The store has checked the envelope checksum; the body is read
    /// with the contract's default limits, so that a server whose limits were tightened later
    /// still reads what it accepted before.
    pub(crate) fn from_stored(stored: StoredRecord) -> Result<Self, DbError> {
        let assertion = SignedAssertion::from_canonical(
            &stored.canonical,
            stored.signature,
            &Limits::default(),
        )
        .map_err(|e| stemedb_store::StoreError::CorruptRecord {
            sequence: stored.sequence,
            reason: e.to_string(),
        })?;
        Ok(Self {
            assertion,
            sequence: stored.sequence,
            recorded_at: stored.recorded_at,
            lifecycle_stage: "active",
        })
    }

    /// The JSON form returned by the API.
    pub fn to_json(&self) -> Value {
        let mut map: Map<String, Value> = self.assertion.body_json.clone();
        map.insert("id".into(), Value::String(self.assertion.id.to_hex()));
        map.insert(
            "signature".into(),
            Value::String(self.assertion.signature.to_hex()),
        );
        map.insert("sequence".into(), Value::from(self.sequence));
        map.insert(
            "recorded_at".into(),
            Value::String(self.recorded_at.to_rfc3339()),
        );
        map.insert(
            "lifecycle_stage".into(),
            Value::String(self.lifecycle_stage.into()),
        );
        Value::Object(map)
    }
}
