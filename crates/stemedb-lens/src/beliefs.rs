//! Beliefs of every fact's values in one flat buffer, and PooledInvestment over it: a pass over
//! a million claims makes ten rounds of beliefs, and one `Vec` per fact per round was most of
//! its allocations. The arithmetic is the one per-fact vectors did, term for term and in the
//! same order, so the numbers are the same to the bit (`tests` below holds the per-fact
//! version as the reference).
use crate::evidence::{FactClaim, FactEvidence};

/// One number per value of every fact: fact `i`'s are `values[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Beliefs {
    offsets: Vec<usize>,
    values: Vec<f64>,
}

impl Beliefs {
    /// Zero for every value of every fact.
    pub(crate) fn zeros(facts: &[FactEvidence]) -> Self {
        let mut offsets = Vec::with_capacity(facts.len() + 1);
        let mut total = 0;
        offsets.push(0);
        for fact in facts {
            total += fact.values;
            offsets.push(total);
        }
        Self {
            offsets,
            values: vec![0.0; total],
        }
    }

    pub(crate) fn of(&self, fact: usize) -> &[f64] {
        &self.values[self.offsets[fact]..self.offsets[fact + 1]]
    }

    pub(crate) fn of_mut(&mut self, fact: usize) -> &mut [f64] {
        &mut self.values[self.offsets[fact]..self.offsets[fact + 1]]
    }
}

/// Every fact's claims in one buffer, fact `i`'s at `claims[offsets[i]..offsets[i + 1]]`: the
/// rounds below read every claim twice a round, and a `Vec` per fact left them scattered over
/// the heap, so that most of those reads waited on memory (`fill_pools` was 8 % of a pass's
/// samples, most of them on its first load of a fact's claims; docs/benchmarks.md,
/// "Twentieth session").
struct FlatClaims {
    offsets: Vec<usize>,
    claims: Vec<FactClaim>,
}

impl FlatClaims {
    fn of(facts: &[FactEvidence]) -> Self {
        let mut offsets = Vec::with_capacity(facts.len() + 1);
        let mut claims = Vec::with_capacity(facts.iter().map(|f| f.claims.len()).sum());
        offsets.push(0);
        for fact in facts {
            claims.extend_from_slice(&fact.claims);
            offsets.push(claims.len());
        }
        Self { offsets, claims }
    }

    fn of_fact(&self, fact: usize) -> &[FactClaim] {
        &self.claims[self.offsets[fact]..self.offsets[fact + 1]]
    }
}

/// Sets `belief` to certainty in `value`.
pub(crate) fn set_certain(belief: &mut [f64], value: usize) {
    for (v, b) in belief.iter_mut().enumerate() {
        *b = if v == value { 1.0 } else { 0.0 };
    }
}

/// PooledInvestment's beliefs after `rounds`: agents invest their trust evenly in their
/// claims and are paid back by their share of each value's pool; a value's belief is its pool
/// sharpened by x^1.4 within the fact. Returned normalised per fact. `facts` must be well
/// formed (every claim's agent and value in range).
pub(crate) fn pooled_beliefs(
    agent_count: usize,
    facts: &[FactEvidence],
    claims: &[usize],
    rounds: usize,
) -> Beliefs {
    let mut trust = vec![1.0; agent_count];
    let mut belief = Beliefs::zeros(facts);
    for (i, fact) in facts.iter().enumerate() {
        belief.of_mut(i).fill(1.0 / fact.values.max(1) as f64);
    }
    let flat = FlatClaims::of(facts);
    // The pools of the current trust: made once per round and used twice, for paying the
    // agents and, after the trust they earn, for the next beliefs.
    let mut pool = Beliefs::zeros(facts);
    fill_pools(&mut pool, &flat, &trust, claims);
    for _ in 0..rounds {
        let mut next = vec![0.0; agent_count];
        for i in 0..facts.len() {
            pay(
                &mut next,
                flat.of_fact(i),
                belief.of(i),
                pool.of(i),
                &trust,
                claims,
            );
        }
        normalise_trust(&mut next);
        trust = next;
        fill_pools(&mut pool, &flat, &trust, claims);
        sharpen(&mut belief, &pool, facts);
    }
    for i in 0..facts.len() {
        let b = belief.of_mut(i);
        let total: f64 = b.iter().sum();
        if total > 0.0 {
            b.iter_mut().for_each(|x| *x /= total);
        }
    }
    belief
}

/// Pays each of a fact's claimants (`fact_claims`) its share of its value's belief `b`, in
/// proportion to what it put into the value's pool `p`.
fn pay(
    next: &mut [f64],
    fact_claims: &[FactClaim],
    b: &[f64],
    p: &[f64],
    trust: &[f64],
    claims: &[usize],
) {
    for c in fact_claims {
        if p[c.value] > 0.0 {
            next[c.agent] += b[c.value] * (trust[c.agent] / claims[c.agent] as f64) / p[c.value];
        }
    }
}

/// Scales the agents' trust to average 1.
fn normalise_trust(next: &mut [f64]) {
    let total: f64 = next.iter().sum();
    if total > 0.0 {
        let scale = next.len() as f64 / total;
        next.iter_mut().for_each(|t| *t *= scale);
    }
}

/// Each value's pool: the trust its claimants invest in it, each's trust over its claims.
fn fill_pools(pool: &mut Beliefs, facts: &FlatClaims, trust: &[f64], claims: &[usize]) {
    for i in 0..facts.offsets.len() - 1 {
        let p = pool.of_mut(i);
        p.fill(0.0);
        for c in facts.of_fact(i) {
            p[c.value] += trust[c.agent] / claims[c.agent] as f64;
        }
    }
}

/// Beliefs from pools: h · h^1.4 / Σ h^1.4 within a fact; a gold value is believed outright.
fn sharpen(belief: &mut Beliefs, pool: &Beliefs, facts: &[FactEvidence]) {
    const EXPONENT: f64 = 1.4;
    for (i, fact) in facts.iter().enumerate() {
        let b = belief.of_mut(i);
        if let Some(gold) = fact.gold {
            set_certain(b, gold);
            continue;
        }
        let p = pool.of(i);
        for (x, h) in b.iter_mut().zip(p) {
            *x = h.powf(EXPONENT);
        }
        let total: f64 = b.iter().sum();
        for (x, h) in b.iter_mut().zip(p) {
            *x = if total > 0.0 { h * *x / total } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{normalise_trust, pay, pooled_beliefs};
    use crate::evidence::{FactClaim, FactEvidence};

    /// PooledInvestment as it was written first, a vector per fact: the reference.
    fn reference(
        agent_count: usize,
        facts: &[FactEvidence],
        claims: &[usize],
        rounds: usize,
    ) -> Vec<Vec<f64>> {
        const EXPONENT: f64 = 1.4;
        let mut trust = vec![1.0; agent_count];
        let pools = |trust: &[f64]| -> Vec<Vec<f64>> {
            facts
                .iter()
                .map(|fact| {
                    let mut pool = vec![0.0; fact.values];
                    for c in &fact.claims {
                        pool[c.value] += trust[c.agent] / claims[c.agent] as f64;
                    }
                    pool
                })
                .collect()
        };
        let sharpen = |pools: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            pools
                .into_iter()
                .zip(facts)
                .map(|(pool, fact)| {
                    if let Some(gold) = fact.gold {
                        return (0..fact.values)
                            .map(|v| if v == gold { 1.0 } else { 0.0 })
                            .collect();
                    }
                    let total: f64 = pool.iter().map(|h| h.powf(EXPONENT)).sum();
                    pool.iter()
                        .map(|h| {
                            if total > 0.0 {
                                h * h.powf(EXPONENT) / total
                            } else {
                                0.0
                            }
                        })
                        .collect()
                })
                .collect()
        };
        let mut belief: Vec<Vec<f64>> = facts
            .iter()
            .map(|f| vec![1.0 / f.values.max(1) as f64; f.values])
            .collect();
        for _ in 0..rounds {
            let pool = pools(&trust);
            // Paying the agents is shared: what is under test is how beliefs are held.
            let mut next = vec![0.0; agent_count];
            for ((fact, b), p) in facts.iter().zip(&belief).zip(&pool) {
                pay(&mut next, &fact.claims, b, p, &trust, claims);
            }
            normalise_trust(&mut next);
            trust = next;
            belief = sharpen(pools(&trust));
        }
        belief
            .into_iter()
            .map(|b| {
                let total: f64 = b.iter().sum();
                if total > 0.0 {
                    b.iter().map(|x| x / total).collect()
                } else {
                    b
                }
            })
            .collect()
    }

    /// Random facts: `facts` of 1–5 values, 0–7 claims by `agents` agents, some gold, some
    /// values unclaimed (pools of zero), from `seed`.
    fn random_facts(seed: u64, agents: usize, facts: usize) -> Vec<FactEvidence> {
        let mut rng = stemedb_core::SplitMix64::new(seed);
        let mut below = |n: usize| (rng.next_u64() % n as u64) as usize;
        (0..facts)
            .map(|_| {
                let values = 1 + below(5);
                let claims = (0..below(8))
                    .map(|_| FactClaim {
                        agent: below(agents),
                        value: below(values),
                        time_micros: 0,
                    })
                    .collect();
                let gold = (below(10) == 0).then(|| below(values));
                FactEvidence {
                    values,
                    claims,
                    gold,
                    numbers: Vec::new(),
                }
            })
            .collect()
    }

    fn check(seed: u64, agents: usize, facts: usize, rounds: usize) {
        let facts = random_facts(seed, agents, facts);
        let mut claims = vec![0usize; agents];
        for c in facts.iter().flat_map(|f| &f.claims) {
            claims[c.agent] += 1;
        }
        let flat = pooled_beliefs(agents, &facts, &claims, rounds);
        let reference = reference(agents, &facts, &claims, rounds);
        for (i, want) in reference.iter().enumerate() {
            let got: Vec<u64> = flat.of(i).iter().map(|x| x.to_bits()).collect();
            let want: Vec<u64> = want.iter().map(|x| x.to_bits()).collect();
            assert_eq!(
                got, want,
                "seed {seed}, {agents} agents, fact {i}, {rounds} rounds"
            );
        }
    }

    #[test]
    fn flat_pooled_beliefs_equal_the_per_fact_reference_to_the_bit() {
        for seed in 0..40 {
            for (agents, facts, rounds) in [(1, 5, 10), (3, 40, 0), (7, 200, 1), (30, 500, 10)] {
                check(seed, agents, facts, rounds);
            }
        }
    }
}
