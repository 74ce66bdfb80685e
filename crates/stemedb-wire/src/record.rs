//! A signed assertion as sent (`AssertionWire`) and as stored and served (`Record`).
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The signed fields of an assertion (docs/signing.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssertionBody {
    /// `/`-separated path, 1–1024 bytes, e.g. `drug/aspirin/dosage`.
    pub subject: String,
    /// 1–256 bytes, e.g. `recommended_mg`.
    pub predicate: String,
    /// Any JSON value, at most 64 KiB serialized; integers within ±(2^53−1).
    pub value: Value,
    /// In [0, 1]; absent means 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// 1–256 bytes; bound to `public_key` by its first accepted assertion.
    pub agent_id: String,
    /// Lowercase hex of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// RFC 3339 UTC valid time; at most 5 minutes ahead of the server clock.
    pub timestamp: String,
    /// Up to 64 source subjects, e.g. `source/CARDIOVASC_MEGA_TRIAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    /// Free text, at most 4 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// Ids of assertions this one was derived from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<Vec<String>>,
    /// Id of an assertion this one supersedes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// Present and true when the server signed the body with the key it holds for the agent
    /// (custodial signing, docs/security.md); signed like every other field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custodial: Option<bool>,
}

/// A signed assertion in wire form: the body plus `signature` (docs/signing.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssertionWire {
    #[serde(flatten)]
    pub body: AssertionBody,
    /// Lowercase hex Ed25519 signature over `stemedb/v1/assertion` 0x00 id.
    pub signature: String,
}

/// A stored record: the envelope fields, then the signed body's fields exactly as signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Record {
    /// BLAKE3-256 of the canonical body, lowercase hex.
    pub id: String,
    /// Lowercase hex Ed25519 signature over `stemedb/v1/assertion` 0x00 id.
    pub signature: String,
    /// Position in the log.
    pub sequence: u64,
    /// Server time the record was committed (RFC 3339 UTC).
    pub recorded_at: String,
    /// `active`, `retracted`, `superseded`, `quarantined` or `rejected` (docs/truth.md).
    pub lifecycle_stage: String,
    /// Id of the retraction that retracted it (retracted records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retracted_by: Option<String>,
    /// The retraction's reason (retracted records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retraction_reason: Option<String>,
    /// Id of the superseding record or epoch (superseded records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The content-defence rule that holds it (quarantined records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_rule: Option<String>,
    #[serde(flatten)]
    pub body: AssertionBody,
    /// Live votes (`GET /v1/assertions/{id}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes: Option<Votes>,
}

/// Live votes on an assertion: not part of the signed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Votes {
    pub up: u64,
    pub down: u64,
}
