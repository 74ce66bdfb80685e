//! Ranking a group under each lens, winner first, with an explanation.
use std::cmp::Ordering;

use serde_json::Value;

use crate::conflict::{cluster_key, clusters, clusters_by, conflict_score, total_weight_by};
use crate::{Candidate, LensContext, LensKind, Ranking};

/// Ranks `candidates` under `lens`. Deterministic: every ordering ends with the id.
pub fn rank(lens: LensKind, candidates: &[Candidate<'_>], _ctx: &LensContext) -> Ranking {
    let conflict_score = conflict_score(candidates);
    if candidates.is_empty() {
        return Ranking {
            order: Vec::new(),
            conflict_score,
            explanation: "no assertions".into(),
            layer: None,
        };
    }
    let mut layer = None;
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    let explanation = match lens {
        LensKind::Recency => {
            order.sort_by(|&a, &b| by_recency(&candidates[a], &candidates[b]));
            let w = &candidates[order[0]];
            format!(
                "recency: the latest timestamp ({}) of {} assertion(s), by {}",
                w.timestamp,
                candidates.len(),
                w.agent_id
            )
        }
        LensKind::Authority | LensKind::Conflict => {
            order.sort_by(|&a, &b| by_authority(&candidates[a], &candidates[b]));
            let w = &candidates[order[0]];
            let lead = if lens == LensKind::Conflict {
                format!(
                    "conflict: score {conflict_score:.3} across {} distinct value(s); ",
                    clusters(candidates).len()
                )
            } else {
                "authority: ".to_owned()
            };
            format!(
                "{lead}the highest trust × confidence ({:.3} = trust {:.3} × confidence {:.3}) of {} assertion(s), by {}",
                w.weight(),
                w.trust,
                w.confidence,
                candidates.len(),
                w.agent_id
            )
        }
        LensKind::Consensus => consensus(candidates, &mut order),
        LensKind::Evidence => crate::evidence::rank_evidence(candidates, &mut order),
        LensKind::Layered => {
            let (decided, text) = layered(candidates, &mut order);
            layer = Some(decided);
            text
        }
    };
    Ranking {
        order,
        conflict_score,
        explanation,
        layer,
    }
}

/// Layered: a curator's gold standard wins first; without one, authority decides when some
/// agent has a trust chain from a root; otherwise consensus decides.
fn layered(candidates: &[Candidate<'_>], order: &mut [usize]) -> (&'static str, String) {
    if candidates.iter().any(|c| c.gold) {
        order.sort_by(|&a, &b| {
            let (ca, cb) = (&candidates[a], &candidates[b]);
            cb.gold.cmp(&ca.gold).then_with(|| by_authority(ca, cb))
        });
        let w = &candidates[order[0]];
        let text = format!(
            "layered: the gold-standard layer decided; {} is marked gold by a curator (value {}, by {})",
            w.id, w.value, w.agent_id
        );
        return ("gold_standard", text);
    }
    if candidates.iter().any(|c| c.rooted) {
        order.sort_by(|&a, &b| by_authority(&candidates[a], &candidates[b]));
        let w = &candidates[order[0]];
        let text = format!(
            "layered: no gold standard; the authority layer decided: the highest trust × confidence ({:.3} = trust {:.3} × confidence {:.3}), by {}",
            w.weight(),
            w.trust,
            w.confidence,
            w.agent_id
        );
        return ("authority", text);
    }
    let text = consensus(candidates, order);
    (
        "consensus",
        format!(
            "layered: no gold standard and no agent with a trust chain; the consensus layer decided: {text}"
        ),
    )
}

fn by_id(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    a.id.cmp(&b.id)
}

fn by_recency(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    b.timestamp
        .cmp(&a.timestamp)
        .then(b.sequence.cmp(&a.sequence))
        .then_with(|| by_id(a, b))
}

pub(crate) fn by_authority(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    b.weight()
        .total_cmp(&a.weight())
        .then_with(|| by_recency(a, b))
}

/// Consensus: numbers take the (lower) weighted median; anything else takes the value with the
/// greatest total weight (ties: the smaller JSON text). Holders of the consensus value come
/// first (by authority), then the rest by closeness to it.
fn consensus(candidates: &[Candidate<'_>], order: &mut [usize]) -> String {
    let all_numbers = candidates.iter().all(|c| c.value.is_number());
    let (winner_value, detail): (Value, String) = if all_numbers {
        let (median, on_it, total) = weighted_median_by(candidates, |c| c.consensus_weight());
        (
            median.clone(),
            format!(
                "the weighted median of {} numeric value(s) is {median} ({on_it:.3} of total weight {total:.3} holds it)",
                candidates.len()
            ),
        )
    } else {
        let clusters = clusters_by(candidates, |c| c.consensus_weight());
        let total: f64 = clusters.iter().map(|(_, w)| w).sum();
        let mut best = clusters[0];
        for c in &clusters[1..] {
            if c.1 > best.1 {
                best = *c;
            }
        }
        (
            best.0.clone(),
            format!(
                "value {} carries the greatest total weight ({:.3} of {total:.3}) among {} distinct value(s)",
                best.0,
                best.1,
                clusters.len()
            ),
        )
    };
    let winner_key = cluster_key(&winner_value);
    // Each distance once (a key is a string): the comparator only reads them.
    let distances: Vec<f64> = candidates
        .iter()
        .map(|c| {
            if cluster_key(c.value) == winner_key {
                0.0
            } else {
                crate::value_distance(c.value, &winner_value).max(f64::MIN_POSITIVE)
            }
        })
        .collect();
    order.sort_by(|&a, &b| {
        distances[a]
            .total_cmp(&distances[b])
            .then_with(|| by_authority(&candidates[a], &candidates[b]))
    });
    format!(
        "consensus: {detail}; winner by {}",
        candidates[order[0]].agent_id
    )
}

/// The lower weighted median: the smallest value at which the running weight reaches half the
/// total. With zero total weight every assertion counts 1. Returns (value, weight on it, total).
fn weighted_median_by(
    candidates: &[Candidate<'_>],
    weight_of: fn(&Candidate<'_>) -> f64,
) -> (Value, f64, f64) {
    let uniform = total_weight_by(candidates, weight_of) <= 0.0;
    let weight = |c: &Candidate<'_>| if uniform { 1.0 } else { weight_of(c) };
    let mut sorted: Vec<&Candidate<'_>> = candidates.iter().collect();
    sorted.sort_by(|a, b| {
        num(a.value)
            .total_cmp(&num(b.value))
            .then_with(|| by_id(a, b))
    });
    let total: f64 = sorted.iter().map(|c| weight(c)).sum();
    let mut running = 0.0;
    let mut chosen = sorted[sorted.len() - 1];
    for c in &sorted {
        running += weight(c);
        if running * 2.0 >= total {
            chosen = c;
            break;
        }
    }
    // Distance 0 exactly when the cluster keys are equal, without a string per candidate.
    let on_it: f64 = sorted
        .iter()
        .filter(|c| crate::value_distance(c.value, chosen.value) == 0.0)
        .map(|c| weight(c))
        .sum();
    (chosen.value.clone(), on_it, total)
}

fn num(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

/// The lower weighted median (weights: confidence × trust) when every value is a number.
pub fn weighted_median(candidates: &[Candidate<'_>]) -> Option<Value> {
    if candidates.is_empty() || !candidates.iter().all(|c| c.value.is_number()) {
        return None;
    }
    Some(weighted_median_by(candidates, |c| c.weight()).0)
}
