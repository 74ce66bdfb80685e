//! The Arena (issue 15): seeded simulated worlds in which agents of known reliability make
//! claims about facts whose truth is known, and the classic truth-discovery algorithms that
//! StemeDB's lenses are measured against on the same claims.
//!
//! Everything here is pure and deterministic: a world is a function of its scenario, its size
//! and a seed, so any figure replays from the seed it was printed with. Talking to a server
//! (signing, posting, querying through each lens) is the `stemedb arena` command's job.
#![forbid(unsafe_code)]

mod baselines;
mod evidence;
mod world;

pub use baselines::{
    Baseline, FactClaims, latest_claims, majority_vote, pooled_investment, truth_finder,
};
pub use evidence::{evidence_answers, fact_evidence};
pub use world::{Agent, Claim, Fact, Persona, SCENARIOS, Scenario, World};

use serde_json::Value;

/// Whether `answer` is the truth `truth`: equal values, with numbers equal within a relative
/// 1e-9 (a number that went through JSON and back is the same number).
pub fn is_correct(answer: &Value, truth: &Value) -> bool {
    match (answer.as_f64(), truth.as_f64()) {
        (Some(a), Some(t)) => (a - t).abs() <= 1e-9 * t.abs().max(1.0),
        _ => answer == truth,
    }
}

/// The share of `answers` (one per fact, `None` for no answer) that are correct.
pub fn accuracy(facts: &[Fact], answers: &[Option<Value>]) -> f64 {
    if facts.is_empty() {
        return 0.0;
    }
    let correct = facts
        .iter()
        .zip(answers)
        .filter(|(fact, answer)| answer.as_ref().is_some_and(|a| is_correct(a, &fact.truth)))
        .count();
    correct as f64 / facts.len() as f64
}
