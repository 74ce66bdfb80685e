//! What the web console asks beyond the rest of the API: who the caller is, and an overview of
//! the store (`GET /v1/whoami`, `GET /v1/overview`).
use serde::{Deserialize, Serialize};

/// `GET /v1/whoami`: the key that made the request, so a client can show only what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Whoami {
    /// Agents this key may sign for through the server (custodial signing); empty for none.
    pub agent_ids: Vec<String>,
    pub key_id: String,
    pub name: String,
    /// `read`, `write` or `admin`.
    pub role: String,
}

/// `GET /v1/overview`: the store at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Overview))]
pub struct Overview<R> {
    pub assertion_count: u64,
    /// This node is one of a cluster (`GET /v1/cluster/members` lists them).
    pub clustered: bool,
    /// The groups whose live claims disagree most, from the newest reliability table.
    pub disputed: Vec<DisputedGroup>,
    /// The reliability table `disputed` comes from: the last sequence it weighs (0: none yet).
    pub disputed_sequence: u64,
    pub last_sequence: u64,
    /// Quarantined records, counted up to `quarantine_backlog_max` (equal to it: at least
    /// that many).
    pub quarantine_backlog: u64,
    pub quarantine_backlog_max: u64,
    /// Retraction and reinstatement records among the last `retractions_scanned` records of
    /// the log, newest first.
    pub retractions: Vec<R>,
    pub retractions_scanned: u64,
}

/// One (subject, predicate) whose agents disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DisputedGroup {
    /// Live claims (one per agent).
    pub claims: u64,
    /// Claims that name another value than the most claimed one.
    pub dissenting: u64,
    pub predicate: String,
    pub subject: String,
    /// Distinct values claimed.
    pub values: u64,
}
