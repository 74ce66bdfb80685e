//! Operations and administration: health, API keys, the admin audit log and backup
//! verification reports.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /v1/health`: without a key only `status`; with any valid key the rest too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion_count: Option<u64>,
    /// `ok`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `POST /v1/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// 1–100 characters.
    pub name: String,
    /// `read`, `write` or `admin`.
    pub role: String,
    /// RFC 3339 UTC; the key stops working then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Requests per second (0: unlimited); absent: the role's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_sec: Option<u32>,
    /// Agents this key may write for without signing (custodial signing).
    #[serde(default)]
    pub agent_ids: Vec<String>,
}

/// `PATCH /v1/api-keys/{id}`: the fields to change; `null` clears `expires_at` or
/// `rate_limit_per_sec` (outer `None`: absent, left as it is).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiKeyPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub expires_at: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "crate::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub rate_limit_per_sec: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_ids: Option<Vec<String>>,
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub agent_ids: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub id: String,
    pub name: String,
    pub rate_limit_per_sec: Option<u32>,
    pub revoked_at: Option<String>,
    /// `read`, `write` or `admin`.
    pub role: String,
    /// Secrets that open it (2 during a rotation's grace period).
    pub secrets_valid: u64,
}

/// A created or rotated key: the one reply that carries its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyWithSecret {
    #[serde(flatten)]
    pub key_fields: ApiKey,
    /// The secret: `sdb_` and 64 hex digits. Shown once.
    pub key: String,
    /// After a rotation: how long the previous secret keeps working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_grace_ms: Option<u64>,
}

/// `GET /v1/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyList {
    pub keys: Vec<ApiKey>,
}

/// `GET /v1/admin/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminAuditPage {
    /// `{at, actor, action, target, detail, prev}`, oldest first.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub entries: Vec<Value>,
    pub total: u64,
}

/// `POST /v1/admin/backup/verified`: the verification the server recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupVerified {
    /// When the server recorded it, Unix seconds (`stemedb_last_verified_backup_timestamp_seconds`).
    pub verified_at_unix_s: f64,
    /// The last sequence the verified chain holds.
    pub last_sequence: u64,
}
