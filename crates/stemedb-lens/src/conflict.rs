//! The conflict score: one formula for numbers and for categorical values (docs/lenses.md).
//!
//! With weights w = confidence × trust and W = Σw, and d(a, b) ∈ [0, 1] the distance between two
//! values, the score is `min(1, 2 · Σ_{i≠j} w_i·w_j·d(v_i, v_j) / W²)`: twice the chance that two
//! assertions drawn by weight disagree, weighted by how far apart they are. Two equal camps that
//! disagree completely score 1; a lone dissenter with little weight scores near 0.
use std::collections::BTreeMap;

use serde_json::Value;

use crate::Candidate;

/// Distance between two values: for two numbers `|a − b| / max(|a|, |b|)`; otherwise 0 when the
/// values are equal and 1 when they differ.
pub fn value_distance(a: &Value, b: &Value) -> f64 {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => {
            if x == y {
                0.0
            } else {
                ((x - y).abs() / x.abs().max(y.abs())).min(1.0)
            }
        }
        _ => {
            if a == b {
                0.0
            } else {
                1.0
            }
        }
    }
}

/// Whether two values agree: two numbers when their [`value_distance`] is at most the relative
/// `tolerance`, anything else only when equal.
pub fn agrees(a: &Value, b: &Value, tolerance: f64) -> bool {
    let distance = value_distance(a, b);
    if a.is_number() && b.is_number() {
        distance <= tolerance
    } else {
        distance == 0.0
    }
}

/// Clusters of equal values with their total weight (confidence × trust), in a deterministic
/// order.
pub(crate) fn clusters<'a>(candidates: &[Candidate<'a>]) -> Vec<(&'a Value, f64)> {
    clusters_by(candidates, |c| c.weight())
}

/// Clusters under another weight (consensus uses the vote-aware one). With zero total weight
/// every assertion counts 1.
pub(crate) fn clusters_by<'a>(
    candidates: &[Candidate<'a>],
    weight_of: fn(&Candidate<'_>) -> f64,
) -> Vec<(&'a Value, f64)> {
    value_clusters_by(candidates, weight_of)
        .into_iter()
        .map(|c| (c.value, c.weight))
        .collect()
}

/// One distinct value of a group: its total weight and the agents behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueCluster<'a> {
    pub value: &'a Value,
    pub weight: f64,
    /// Sorted, without repeats.
    pub agents: Vec<&'a str>,
}

/// The distinct values of a group with their weight (confidence × trust) and supporters.
pub fn value_clusters<'a>(candidates: &[Candidate<'a>]) -> Vec<ValueCluster<'a>> {
    value_clusters_by(candidates, |c| c.weight())
}

fn value_clusters_by<'a>(
    candidates: &[Candidate<'a>],
    weight_of: fn(&Candidate<'_>) -> f64,
) -> Vec<ValueCluster<'a>> {
    let mut by_key: BTreeMap<String, ValueCluster<'a>> = BTreeMap::new();
    let uniform = candidates.iter().map(weight_of).sum::<f64>() <= 0.0;
    for c in candidates {
        let weight = if uniform { 1.0 } else { weight_of(c) };
        let cluster = by_key
            .entry(cluster_key(c.value))
            .or_insert_with(|| ValueCluster {
                value: c.value,
                weight: 0.0,
                agents: Vec::new(),
            });
        cluster.weight += weight;
        cluster.agents.push(c.agent_id);
    }
    let mut out: Vec<ValueCluster<'a>> = by_key.into_values().collect();
    for cluster in &mut out {
        cluster.agents.sort_unstable();
        cluster.agents.dedup();
    }
    out
}

/// The key under which equal values cluster: equal numbers share a key whatever their
/// spelling; everything else keys by its JSON text. Two values are at distance 0 exactly when
/// their keys are equal.
pub fn cluster_key(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) => format!("n:{:016x}", (f + 0.0).to_bits()),
            None => format!("n:{n}"),
        },
        other => format!("j:{other}"),
    }
}

pub(crate) fn total_weight_by(
    candidates: &[Candidate<'_>],
    weight_of: fn(&Candidate<'_>) -> f64,
) -> f64 {
    candidates.iter().map(weight_of).sum()
}

/// The group's conflict score in [0, 1]. O(k log k) in the number k of distinct values (see
/// [`disagreement`]); equal to the pairwise sum up to floating-point rounding.
pub fn conflict_score(candidates: &[Candidate<'_>]) -> f64 {
    let clusters = clusters(candidates);
    let total: f64 = clusters.iter().map(|(_, w)| w).sum();
    if clusters.len() < 2 || total <= 0.0 {
        return 0.0;
    }
    // Σ_{i≠j} counts each unordered pair twice: 2 · 2 · Σ_{k<l}.
    (4.0 * disagreement(&clusters) / (total * total)).clamp(0.0, 1.0)
}

/// `Σ_{k<l} w_k·w_l·d(v_k, v_l)` over distinct values, without visiting every pair.
///
/// Two distinct values are at distance 1 unless both are numbers of the same sign; so the values
/// fall into parts (the positive numbers, the negative numbers, zero, and each other value on
/// its own) and every pair across two parts contributes `w_k·w_l`. Within the positive (or the
/// negative) numbers, with magnitudes `a_k < a_l`, `d = 1 − a_k/a_l`, so sorted by magnitude
/// the pairs ending at `l` contribute `(w_l/a_l) · Σ_{k<l} w_k·(a_l − a_k)`: two running sums.
pub(crate) fn disagreement(clusters: &[(&Value, f64)]) -> f64 {
    let (mut positive, mut negative) = (Vec::new(), Vec::new());
    let mut parts: Vec<f64> = Vec::new();
    let mut zero = 0.0;
    for &(value, weight) in clusters {
        match value.as_f64().filter(|_| value.is_number()) {
            Some(x) if x > 0.0 => positive.push((x, weight)),
            Some(x) if x < 0.0 => negative.push((-x, weight)),
            Some(_) => zero += weight,
            None => parts.push(weight),
        }
    }
    let mut within = 0.0;
    for side in [&mut positive, &mut negative] {
        within += same_sign_disagreement(side);
        parts.push(side.iter().map(|(_, w)| w).sum());
    }
    parts.push(zero);
    let (mut across, mut before) = (0.0, 0.0);
    for w in parts {
        across += w * before;
        before += w;
    }
    across + within
}

/// `Σ_{k<l} w_k·w_l·(1 − a_k/a_l)` over magnitudes `a` (distinct, positive), in O(k log k).
fn same_sign_disagreement(side: &mut [(f64, f64)]) -> f64 {
    side.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut sum, mut weight_before, mut weighted_before) = (0.0, 0.0, 0.0);
    for &(a, w) in side.iter() {
        sum += (w / a) * (a * weight_before - weighted_before).max(0.0);
        weight_before += w;
        weighted_before += w * a;
    }
    sum
}

/// The conflict score by its definition, visiting every pair of distinct values: O(k²). The
/// reference that [`conflict_score`] is tested against; not for large groups.
pub fn conflict_score_pairwise(candidates: &[Candidate<'_>]) -> f64 {
    let clusters = clusters(candidates);
    let total: f64 = clusters.iter().map(|(_, w)| w).sum();
    if clusters.len() < 2 || total <= 0.0 {
        return 0.0;
    }
    let mut disagreement = 0.0;
    for (i, (a, wa)) in clusters.iter().enumerate() {
        for (b, wb) in &clusters[i + 1..] {
            disagreement += wa * wb * value_distance(a, b);
        }
    }
    (4.0 * disagreement / (total * total)).clamp(0.0, 1.0)
}
