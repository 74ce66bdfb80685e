//! Truth maintenance: control-record answers, roles, agents, provenance, the skeptic and the
//! quarantine queue.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::is_false;

/// A control record's answer (`/v1/vote`, `/v1/trust`, `/v1/gold-standard`, `/v1/epochs`,
/// quarantine reviews).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ControlResponse {
    /// Assertions whose stage this record changed.
    pub changed_count: u64,
    /// Quarantine reviews: `approve` or `reject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// Present and true when the record was already stored.
    #[serde(default, skip_serializing_if = "is_false")]
    pub duplicate: bool,
    /// False when the signer may not make this change (for example not a curator).
    pub effective: bool,
    pub id: String,
    pub sequence: u64,
}

/// `POST /v1/retract`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetractResponse {
    /// `retraction`, `reinstatement` or `dispute`.
    pub disposition: String,
    /// Present and true when the record was already stored.
    #[serde(default, skip_serializing_if = "is_false")]
    pub duplicate: bool,
    /// False when the signer is neither the target's author nor a curator (a dispute).
    pub effective: bool,
    pub id: String,
    pub reinstated_count: u64,
    pub retracted_count: u64,
    pub sequence: u64,
}

/// `{"agent_id": "…"}`: the body of a role grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentIdBody {
    pub agent_id: String,
}

/// A granted role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleResponse {
    pub agent_id: String,
    /// The role holds for records with a greater sequence.
    pub effective_after_sequence: u64,
    /// `curator` or `trust_root`.
    pub role: String,
}

/// The agents holding a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleList {
    pub agent_ids: Vec<String>,
}

/// `GET /v1/agents/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentResponse {
    pub agent_id: String,
    pub circuit: AgentCircuit,
    pub curator: bool,
    /// Null for an agent with no stored record that the circuit breaker has seen.
    pub public_key: Option<String>,
    pub record_count: u64,
    pub trust: f64,
    /// Hops from a trust root; null without a chain (the default trust applies).
    pub trust_chain_depth: Option<u64>,
    /// Root first, this agent last.
    pub trust_path: Vec<String>,
    pub trust_root: bool,
    /// Its accuracy as the evidence lens weighs it (absent from servers before the lens).
    #[serde(default)]
    pub reliability: AgentReliability,
}

/// `GET /v1/agents/{id}/records`: one page of the records an agent signed, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AgentRecords))]
pub struct AgentRecords<R> {
    /// Claims and control records (votes, trust, retractions, reviews) alike.
    pub records: Vec<R>,
    /// Pass as `before` for the next (older) page; null on the last.
    pub next_before: Option<u64>,
}

/// `GET /v1/retractions/{id}`: a retraction and one page of what it reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RetractionReach))]
pub struct RetractionReach<R> {
    pub retraction: R,
    /// The records it reached (its target and, under a cascade, what cites or derives from
    /// it), by sequence, each with its stage now: retracted by it, held by another
    /// retraction, or reinstated.
    pub reached: Vec<R>,
    /// Pass as `after` for the next page; null on the last.
    pub next_after: Option<u64>,
}

/// An agent's accuracy earned from evidence, from the newest reliability table
/// (docs/lenses.md §Evidence).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentReliability {
    /// The chance that its claim holds, as the evidence lens uses it: earned, or the prior
    /// for an agent the table does not know yet, and never under its trust chain's floor.
    pub accuracy: f64,
    /// Facts it has a live claim on, in the table.
    pub claims: u64,
    /// Of those, how many name the value the evidence believes.
    pub agreed: u64,
    /// The agent whose claims it repeats soon after, errors included; its echoes of that
    /// agent are not counted.
    pub copy_of: Option<String>,
    /// Its accuracy has a floor from a trust chain.
    pub anchored: bool,
    /// The last sequence the table weighs (0: no table yet).
    pub table_sequence: u64,
}

/// The agent's circuit breaker (docs/security.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentCircuit {
    pub cooldown_ms: u64,
    pub failure_window_ms: u64,
    pub failures_in_window: u32,
    pub failures_max: u32,
    pub opened_total: u64,
    /// While open: how long until it closes; null when closed.
    pub retry_after_ms: Option<u64>,
    /// `open` (writes refused) or `closed`.
    pub state: String,
}

/// `POST /v1/admin/agents/{id}/circuit/reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CircuitReset {
    pub agent_id: String,
    pub circuit: AgentCircuit,
    /// Whether the circuit was open before the reset.
    pub was_open: bool,
}

/// A node of a provenance tree (`GET /v1/assertions/{id}/provenance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ProvenanceNode))]
pub struct ProvenanceNode<R> {
    pub assertion: R,
    /// True when this assertion was already met higher in the tree (the walk stops here).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cycle: bool,
    /// Derived-from assertions, each a node like this one (absent on a cycle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub derived_from: Option<Vec<ProvenanceNode<R>>>,
    /// Ids named in derived_from that are not stored here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
    /// Checked on the server from the stored bytes.
    pub signature_valid: bool,
    /// The cited sources (absent on a cycle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceNode<R>>>,
    /// True when the walk stopped here: the depth limit, or the answer's record budget
    /// (`provenance_records_max`) ran out before this node's sources or parents were all
    /// listed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// A cited source and the assertions that describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SourceNode))]
pub struct SourceNode<R> {
    pub assertions: Vec<ProvenanceLeaf<R>>,
    /// Ids of effective retractions of the source.
    pub retracted_by: Vec<String>,
    pub subject: String,
}

/// An assertion describing a source, with its signature check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ProvenanceLeaf))]
pub struct ProvenanceLeaf<R> {
    pub assertion: R,
    pub signature_valid: bool,
}

/// `GET /v1/skeptic`: how much one group disagrees (docs/lenses.md §Skeptic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkepticResponse {
    pub clusters: Vec<Cluster>,
    pub conflict_score: f64,
    pub disputed: bool,
    pub disputed_score_min: f64,
    pub outlier_rule: String,
    pub outliers: Vec<Outlier>,
    pub predicate: String,
    pub subject: String,
    /// Null when the values are not all numbers.
    pub weighted_median: Option<Value>,
}

/// A distinct value with its weight and supporters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cluster {
    pub agents: Vec<String>,
    /// The cluster's part of the total weight.
    pub share: f64,
    pub value: Value,
    pub weight: f64,
}

/// An assertion whose value lies far from the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outlier {
    pub agent_id: String,
    pub distance: f64,
    pub id: String,
    pub value: Value,
}

/// A quarantined record and the rule that holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = QuarantineItem))]
pub struct QuarantineItem<R> {
    pub record: R,
    /// `low_trust_contradicts_gold` or `new_subject_burst`.
    pub rule: String,
}

/// `GET /v1/quarantine`: one page, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = QuarantineList))]
pub struct QuarantineList<R> {
    pub items: Vec<QuarantineItem<R>>,
    /// Pass as `after` for the next page; null on the last.
    pub next_after: Option<u64>,
}
