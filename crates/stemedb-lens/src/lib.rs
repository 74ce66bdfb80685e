//! Lenses: pure, deterministic functions that rank the contradicting assertions of one
//! (subject, predicate) group and score how much they disagree. "Now" and trust are passed in;
//! ties are broken by id, so the same records always give the same answer.
#![forbid(unsafe_code)]

mod beliefs;
mod conflict;
mod evidence;
mod rank;
mod trust;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use stemedb_core::{AssertionId, Timestamp};

pub use conflict::{
    ValueCluster, agrees, cluster_key, conflict_score, conflict_score_pairwise, value_clusters,
    value_distance,
};
pub use evidence::{
    ACCURACY_MAX, ACCURACY_MIN, AgentReliability, EvidenceParams, FactClaim, FactEvidence,
    anchor_accuracy, claim_vote, earn_reliability, evidence_winners, fact_votes,
};
pub use rank::{rank, weighted_median};
pub use trust::{TrustEdge, TrustEntry, TrustMap, TrustParams, compute_trust};

/// The ways to resolve a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LensKind {
    /// The latest valid time wins; ties go to the later sequence.
    Recency,
    /// The highest trust × confidence wins.
    Authority,
    /// The weighted median (numbers) or the heaviest value (anything else) wins.
    Consensus,
    /// Ranks like authority; the lens for looking at disagreement.
    Conflict,
    /// Gold standards first, then authority (when some agent has a trust chain), then consensus.
    Layered,
    /// Votes by each agent's accuracy earned from all its claims; copies of an agent not
    /// counted twice (docs/lenses.md §Evidence). The default.
    Evidence,
}

impl LensKind {
    pub const ALL: [LensKind; 6] = [
        LensKind::Recency,
        LensKind::Authority,
        LensKind::Consensus,
        LensKind::Conflict,
        LensKind::Layered,
        LensKind::Evidence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LensKind::Recency => "recency",
            LensKind::Authority => "authority",
            LensKind::Consensus => "consensus",
            LensKind::Conflict => "conflict",
            LensKind::Layered => "layered",
            LensKind::Evidence => "evidence",
        }
    }
}

impl fmt::Display for LensKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name was not one of the lenses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown lens {0:?}; expected one of recency, authority, consensus, conflict, layered, evidence"
)]
pub struct UnknownLens(pub String);

impl FromStr for LensKind {
    type Err = UnknownLens;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LensKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownLens(s.to_owned()))
    }
}

/// One assertion as a lens sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub id: AssertionId,
    pub sequence: u64,
    pub timestamp: Timestamp,
    pub confidence: f64,
    /// The agent's trust in [0, 1] (docs/lenses.md §Trust).
    pub trust: f64,
    pub value: &'a Value,
    pub agent_id: &'a str,
    /// Trust-weighted vote balance: Σ trust(voter) × (±1) over live votes.
    pub vote_balance: f64,
    /// Marked as the gold standard by a curator.
    pub gold: bool,
    /// The agent has a trust chain from a root (its trust is not the default).
    pub rooted: bool,
    /// The agent's accuracy earned from evidence (the evidence lens; [`earn_reliability`]).
    pub accuracy: f64,
    /// The agent whose claims this agent's repeat (the evidence lens does not count the
    /// copy where both name the same value).
    pub copy_of: Option<&'a str>,
}

impl Candidate<'_> {
    /// The weight the authority lens and the conflict score use: confidence × trust.
    pub fn weight(&self) -> f64 {
        self.confidence * self.trust
    }

    /// The consensus weight: `weight × vote_factor(vote_balance)`.
    pub fn consensus_weight(&self) -> f64 {
        self.weight() * vote_factor(self.vote_balance)
    }
}

/// How votes scale an assertion's consensus weight: `e^tanh(balance)`, so always within
/// [1/e, e] (≈ 0.37 to 2.72), 1 with no votes, and monotone in the balance.
pub fn vote_factor(balance: f64) -> f64 {
    if balance.is_finite() {
        balance.tanh().exp()
    } else {
        1.0
    }
}

/// What a lens is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct LensContext {
    /// The evaluation time, passed in so that answers are reproducible.
    pub now: Timestamp,
}

/// A lens's answer for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// Indexes into the candidates, winner first. Empty only for an empty group.
    pub order: Vec<usize>,
    /// Disagreement in [0, 1]; the same whatever the lens.
    pub conflict_score: f64,
    /// Why the winner won, for people.
    pub explanation: String,
    /// For the layered lens: which layer decided (`gold_standard`, `authority`, `consensus`).
    pub layer: Option<&'static str>,
}
