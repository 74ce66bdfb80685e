//! The classic truth-discovery algorithms, run on a world's claims as the yardstick for the
//! lenses: majority vote; TruthFinder (Yin, Han & Yu, KDD 2007) without implications between
//! values; PooledInvestment (Pasternack & Roth, COLING 2010). Each sees one claim per agent and
//! fact, its latest, as the published datasets they were designed for hold. Ties go to the
//! smallest value text, so every answer is deterministic.
use std::collections::BTreeMap;

use serde_json::Value;

use crate::World;

/// Each fact's claims, one per agent (its latest): `facts[f]` lists (agent, value).
#[derive(Debug, Clone)]
pub struct FactClaims {
    pub agent_count: usize,
    pub facts: Vec<Vec<(usize, Value)>>,
}

/// Every agent's latest claim on each fact it spoke on: (fact, agent) → (time, value).
pub(crate) fn latest_by_fact_and_agent(world: &World) -> BTreeMap<(usize, usize), (u64, &Value)> {
    let mut latest: BTreeMap<(usize, usize), (u64, &Value)> = BTreeMap::new();
    for claim in &world.claims {
        let entry = latest
            .entry((claim.fact, claim.agent))
            .or_insert((claim.offset_secs, &claim.value));
        if claim.offset_secs >= entry.0 {
            *entry = (claim.offset_secs, &claim.value);
        }
    }
    latest
}

/// Every agent's latest claim on each fact it spoke on.
pub fn latest_claims(world: &World) -> FactClaims {
    let mut facts = vec![Vec::new(); world.facts.len()];
    for ((fact, agent), (_, value)) in latest_by_fact_and_agent(world) {
        facts[fact].push((agent, value.clone()));
    }
    FactClaims {
        agent_count: world.agents.len(),
        facts,
    }
}

/// The algorithms the arena compares the lenses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    MajorityVote,
    TruthFinder,
    PooledInvestment,
}

impl Baseline {
    pub const ALL: [Baseline; 3] = [
        Baseline::MajorityVote,
        Baseline::TruthFinder,
        Baseline::PooledInvestment,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Baseline::MajorityVote => "majority-vote",
            Baseline::TruthFinder => "truthfinder",
            Baseline::PooledInvestment => "pooled-investment",
        }
    }

    /// One answer per fact (`None` for a fact nobody spoke on).
    pub fn answer(self, claims: &FactClaims) -> Vec<Option<Value>> {
        match self {
            Baseline::MajorityVote => majority_vote(claims),
            Baseline::TruthFinder => truth_finder(claims),
            Baseline::PooledInvestment => pooled_investment(claims),
        }
    }
}

/// Claims grouped by value: for each fact, its distinct values and who claimed each.
struct Candidates {
    /// `values[f][k]`: the k-th distinct value of fact f, sorted by text.
    values: Vec<Vec<Value>>,
    /// `claimants[f][k]`: the agents claiming `values[f][k]`.
    claimants: Vec<Vec<Vec<usize>>>,
    /// How many facts each agent spoke on.
    claim_counts: Vec<usize>,
}

impl Candidates {
    fn new(claims: &FactClaims) -> Candidates {
        let mut values = Vec::with_capacity(claims.facts.len());
        let mut claimants = Vec::with_capacity(claims.facts.len());
        let mut claim_counts = vec![0usize; claims.agent_count];
        for fact in &claims.facts {
            let mut by_value: BTreeMap<String, (Value, Vec<usize>)> = BTreeMap::new();
            for (agent, value) in fact {
                claim_counts[*agent] += 1;
                by_value
                    .entry(value.to_string())
                    .or_insert_with(|| (value.clone(), Vec::new()))
                    .1
                    .push(*agent);
            }
            let (v, c): (Vec<Value>, Vec<Vec<usize>>) = by_value.into_values().unzip();
            values.push(v);
            claimants.push(c);
        }
        Candidates {
            values,
            claimants,
            claim_counts,
        }
    }

    /// For each fact, the value with the highest score (the first of equal ones).
    fn best(&self, scores: &[Vec<f64>]) -> Vec<Option<Value>> {
        self.values
            .iter()
            .zip(scores)
            .map(|(values, scores)| {
                let mut best: Option<usize> = None;
                for (k, score) in scores.iter().enumerate() {
                    if best.is_none_or(|b| *score > scores[b]) {
                        best = Some(k);
                    }
                }
                best.map(|k| values[k].clone())
            })
            .collect()
    }
}

/// The value most agents claim.
pub fn majority_vote(claims: &FactClaims) -> Vec<Option<Value>> {
    let candidates = Candidates::new(claims);
    let scores: Vec<Vec<f64>> = candidates
        .claimants
        .iter()
        .map(|fact| fact.iter().map(|agents| agents.len() as f64).collect())
        .collect();
    candidates.best(&scores)
}

/// TruthFinder's parameters as in the paper: dampening γ 0.3, initial trust 0.9.
const TF_GAMMA: f64 = 0.3;
const TF_TRUST_START: f64 = 0.9;
const TF_ROUNDS_MAX: usize = 20;
/// Trust is kept below 1 so that −ln(1 − t) stays finite.
const TF_TRUST_MAX: f64 = 0.999_999;

/// TruthFinder: a value's confidence is 1 − Π(1 − trust) of its claimants (through the
/// dampened logistic); an agent's trust is the mean confidence of its claims; repeated until
/// the trusts settle.
pub fn truth_finder(claims: &FactClaims) -> Vec<Option<Value>> {
    let candidates = Candidates::new(claims);
    let mut trust = vec![TF_TRUST_START; claims.agent_count];
    let mut confidence: Vec<Vec<f64>> = Vec::new();
    for _ in 0..TF_ROUNDS_MAX {
        confidence = candidates
            .claimants
            .iter()
            .map(|fact| {
                fact.iter()
                    .map(|agents| {
                        let sigma: f64 = agents
                            .iter()
                            .map(|a| -(1.0 - trust[*a].min(TF_TRUST_MAX)).ln())
                            .sum();
                        1.0 / (1.0 + (-TF_GAMMA * sigma).exp())
                    })
                    .collect()
            })
            .collect();
        let next = mean_per_agent(&candidates, &confidence, claims.agent_count);
        let change: f64 = next.iter().zip(&trust).map(|(a, b)| (a - b).abs()).sum();
        trust = next;
        if change < 1e-9 {
            break;
        }
    }
    candidates.best(&confidence)
}

/// Each agent's mean of `score` over the values it claimed.
fn mean_per_agent(candidates: &Candidates, score: &[Vec<f64>], agent_count: usize) -> Vec<f64> {
    let mut sum = vec![0.0; agent_count];
    for (fact, scores) in candidates.claimants.iter().zip(score) {
        for (agents, s) in fact.iter().zip(scores) {
            for a in agents {
                sum[*a] += s;
            }
        }
    }
    sum.iter()
        .zip(&candidates.claim_counts)
        .map(|(s, n)| if *n == 0 { 0.0 } else { s / *n as f64 })
        .collect()
}

/// PooledInvestment's exponent (the paper's g) and rounds.
const PI_EXPONENT: f64 = 1.4;
const PI_ROUNDS: usize = 10;

/// PooledInvestment: each agent invests its trust evenly in its claims; a value's belief is
/// its pooled investment, sharpened by x^1.4 within its fact; an agent earns back from each
/// value in proportion to its share of the investment there.
pub fn pooled_investment(claims: &FactClaims) -> Vec<Option<Value>> {
    let candidates = Candidates::new(claims);
    let counts = &candidates.claim_counts;
    let mut trust = vec![1.0; claims.agent_count];
    // The uniform prior: each of a fact's values believed 1 / (the fact's values).
    let mut belief: Vec<Vec<f64>> = candidates
        .values
        .iter()
        .map(|values| vec![1.0 / values.len() as f64; values.len()])
        .collect();
    for _ in 0..PI_ROUNDS {
        let invested = investments(&candidates, &trust);
        let mut next = vec![0.0; claims.agent_count];
        for ((fact, beliefs), pools) in candidates.claimants.iter().zip(&belief).zip(&invested) {
            for ((agents, b), pool) in fact.iter().zip(beliefs).zip(pools) {
                for a in agents {
                    let share = trust[*a] / counts[*a] as f64;
                    if *pool > 0.0 {
                        next[*a] += b * share / pool;
                    }
                }
            }
        }
        let total: f64 = next.iter().sum();
        if total > 0.0 {
            let scale = claims.agent_count as f64 / total;
            next.iter_mut().for_each(|t| *t *= scale);
        }
        trust = next;
        belief = pooled_beliefs(&candidates, &trust);
    }
    candidates.best(&belief)
}

/// H(v): the sum over v's claimants of trust / claims made.
fn investments(candidates: &Candidates, trust: &[f64]) -> Vec<Vec<f64>> {
    candidates
        .claimants
        .iter()
        .map(|fact| {
            fact.iter()
                .map(|agents| {
                    agents
                        .iter()
                        .map(|a| trust[*a] / candidates.claim_counts[*a] as f64)
                        .sum()
                })
                .collect()
        })
        .collect()
}

/// B(v) = H(v) · H(v)^g / Σ over the fact's values w of H(w)^g.
fn pooled_beliefs(candidates: &Candidates, trust: &[f64]) -> Vec<Vec<f64>> {
    investments(candidates, trust)
        .into_iter()
        .map(|pools| {
            let total: f64 = pools.iter().map(|h| h.powf(PI_EXPONENT)).sum();
            pools
                .iter()
                .map(|h| {
                    if total > 0.0 {
                        h * h.powf(PI_EXPONENT) / total
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(agent_count: usize, facts: &[&[(usize, &str)]]) -> FactClaims {
        FactClaims {
            agent_count,
            facts: facts
                .iter()
                .map(|f| f.iter().map(|(a, v)| (*a, json!(v))).collect())
                .collect(),
        }
    }

    fn check(baseline: Baseline, input: &FactClaims, expected: &[&str]) {
        let answers = baseline.answer(input);
        let got: Vec<String> = answers
            .iter()
            .map(|a| a.as_ref().and_then(Value::as_str).unwrap_or("-").to_owned())
            .collect();
        assert_eq!(got, expected, "{}", baseline.name());
    }

    #[test]
    fn every_baseline_follows_a_clear_majority_and_breaks_ties_by_value() {
        let input = claims(
            3,
            &[&[(0, "a"), (1, "a"), (2, "b")], &[(0, "y"), (1, "x")], &[]],
        );
        for baseline in Baseline::ALL {
            check(baseline, &input, &["a", "x", "-"]);
        }
    }

    /// Agents 0 and 1 agree on every other fact, agent 2 never does; on the last fact 0 stands
    /// alone against 2. Majority cannot tell (a tie, broken by text: "q" < "z"); the iterative
    /// algorithms learn that 0 is reliable and side with it.
    #[test]
    fn the_iterative_baselines_learn_who_is_reliable() {
        let mut facts: Vec<Vec<(usize, &str)>> =
            (0..6).map(|_| vec![(0, "t"), (1, "t"), (2, "f")]).collect();
        facts.push(vec![(0, "z"), (2, "q")]);
        let refs: Vec<&[(usize, &str)]> = facts.iter().map(Vec::as_slice).collect();
        let input = claims(3, &refs);
        let mut expected = vec!["t"; 6];
        check(
            Baseline::MajorityVote,
            &input,
            &[expected.clone(), vec!["q"]].concat(),
        );
        expected.push("z");
        check(Baseline::TruthFinder, &input, &expected);
        check(Baseline::PooledInvestment, &input, &expected);
    }
}
