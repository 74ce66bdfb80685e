//! `GET`/`POST /v1/query`: the parameters and the answer, groups ranked by a lens.
use serde::{Deserialize, Serialize};

/// Query fields (the same in the query string and in a JSON body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct QueryParams {
    /// Exact subject, or a prefix ending in `/*`; `*` for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Alias of `subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concept_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
    /// `evidence` (default), `recency`, `authority`, `consensus`, `conflict` or `layered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lens: Option<String>,
    /// Valid time: only assertions with `timestamp` ≤ as_of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Transaction time: only records with `recorded_at` ≤ known_at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_at: Option<String>,
    /// Only records with `sequence` ≤ at_sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_sequence: Option<u64>,
    /// Read-your-writes: wait (at most `min_sequence_wait_ms`) until this node has applied this
    /// sequence (the `sequence` a write was answered with); past it, 503 `not-yet-applied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sequence: Option<u64>,
    /// Groups per page (default 100, at most 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Let retracted assertions take part (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_retracted: Option<bool>,
    /// Let superseded assertions take part, and every assertion of an agent rather than only
    /// its latest in the group (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_superseded: Option<bool>,
    /// Assertions per group (default 100, at most 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertions_limit: Option<u64>,
    /// A group's `assertions_cursor`: that group's next page, alone (not with `cursor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertions_cursor: Option<String>,
    /// Just the winners: each group's winner, score, explanation and counts, with empty
    /// `assertions` lists (the rest stays reachable through `assertions_cursor`). Not with
    /// `assertions_limit` or `assertions_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner_only: Option<bool>,
}

/// One (subject, predicate) group: the lens's winner and one page of its ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Group))]
pub struct Group<R> {
    pub subject: String,
    pub predicate: String,
    pub winner: R,
    /// 0 when all values agree, up to 1 (docs/lenses.md).
    pub conflict_score: f64,
    pub explanation: String,
    /// Layered lens: `gold_standard`, `authority` or `consensus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Authority, conflict and layered lenses: the winner's trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<f64>,
    /// With `trust`: hops from a trust root to the winner's agent; null without a chain.
    #[serde(
        default,
        deserialize_with = "crate::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>))]
    pub trust_chain_depth: Option<Option<u64>>,
    /// With `trust`: root first, the winner's agent last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_path: Option<Vec<String>>,
    /// Assertions of the group that took part in the lens.
    pub assertions_total: u64,
    /// Rank (from 0) of this page's first assertion.
    pub assertions_offset: u64,
    /// The group's next page (send back as `assertions_cursor`); null on its last page.
    pub assertions_cursor: Option<String>,
    /// This page of the ranking (winner first on the first page); at most `assertions_limit`.
    pub assertions: Vec<R>,
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = QueryResponse))]
pub struct QueryResponse<R> {
    pub lens: String,
    pub groups: Vec<Group<R>>,
    /// The groups' pages one after another.
    pub assertions: Vec<R>,
    /// Pass as `cursor` for the next page of groups; null on the last.
    pub next_cursor: Option<String>,
}
