//! RFC 9457 problem details (`application/problem+json`), the body of every error answer.
use serde::{Deserialize, Serialize};

/// RFC 9457 problem details. Fields in the order the server writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// The agent of an agent-key conflict, an open circuit or an exceeded quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The key the agent is bound to (agent-key conflicts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_public_key: Option<String>,
    pub detail: String,
    /// The offending field, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The assertion whose signature does not verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How long until the agent may write again (open circuits, exceeded quotas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The broken rule, for validation problems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub status: u16,
    pub title: String,
    /// Stable per kind, e.g. `urn:stemedb:problem:validation-failed` (docs/api.md).
    #[serde(rename = "type")]
    pub kind: String,
}
