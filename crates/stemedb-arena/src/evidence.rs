//! The evidence lens's algorithm run in-process on a world's claims: the reference the
//! server's answers are checked against, and the quick way to try a change to it.

use serde_json::Value;
use stemedb_lens::{
    AgentReliability, EvidenceParams, FactClaim, FactEvidence, anchor_accuracy, cluster_key,
    earn_reliability, evidence_winners,
};

use crate::World;

/// Each fact's distinct values (sorted by text) and every agent's latest claim, as the
/// reliability table sees them.
pub fn fact_evidence(world: &World) -> (Vec<Vec<Value>>, Vec<FactEvidence>) {
    let latest = crate::baselines::latest_by_fact_and_agent(world);
    let mut per_fact: Vec<Vec<(usize, u64, &Value)>> = vec![Vec::new(); world.facts.len()];
    for ((fact, agent), (at, value)) in latest {
        per_fact[fact].push((agent, at, value));
    }
    per_fact
        .into_iter()
        .map(|claims| {
            // Ordered and told apart as the lens does (by cluster key), so that ties fall alike.
            let mut values: Vec<Value> = claims.iter().map(|(_, _, v)| (*v).clone()).collect();
            values.sort_by_key(cluster_key);
            values.dedup_by_key(|v| cluster_key(v));
            let claims = claims
                .iter()
                .map(|(agent, at, value)| FactClaim {
                    agent: *agent,
                    value: values
                        .iter()
                        .position(|v| cluster_key(v) == cluster_key(value))
                        .unwrap_or(0),
                    time_micros: (*at as i64).saturating_mul(1_000_000),
                })
                .collect();
            let numbers = values.iter().map_while(Value::as_f64).collect();
            let fact = FactEvidence {
                values: values.len(),
                claims,
                gold: None,
                numbers,
            };
            (values, fact)
        })
        .unzip()
}

/// The evidence lens's answer to every fact, with `roots` (agent indexes) anchored as trust
/// roots are.
pub fn evidence_answers(
    world: &World,
    roots: &[usize],
    params: &EvidenceParams,
) -> (Vec<Option<Value>>, Vec<AgentReliability>) {
    let (values, facts) = fact_evidence(world);
    let anchors: Vec<Option<f64>> = (0..world.agents.len())
        .map(|a| roots.contains(&a).then(|| anchor_accuracy(1.0)))
        .collect();
    let reliability = earn_reliability(world.agents.len(), &anchors, &facts, params);
    let answers = evidence_winners(&facts, &reliability)
        .into_iter()
        .zip(&values)
        .map(|(w, values)| w.and_then(|k| values.get(k).cloned()))
        .collect();
    (answers, reliability)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Baseline, Persona, SCENARIOS, accuracy, latest_claims};

    /// Not a test, an exploration that prints and checks nothing (hence ignored):
    /// `STEMEDB_ARENA_TRY=2000 cargo test -p stemedb-arena try_evidence -- --ignored --nocapture`
    /// prints the evidence algorithm next to the baselines on every scenario.
    #[test]
    #[ignore = "an exploration that only prints: run it with --ignored --nocapture"]
    fn try_evidence() {
        let facts: usize = std::env::var("STEMEDB_ARENA_TRY").map_or(2000, |facts| {
            facts
                .parse()
                .unwrap_or_else(|_| panic!("STEMEDB_ARENA_TRY={facts:?} is not a count of facts"))
        });
        let mut params = EvidenceParams::default();
        let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
        if let Some(v) = var("TRY_ROUNDS") {
            params.rounds = v as usize;
        }
        if let Some(v) = var("TRY_PRIOR") {
            params.prior_accuracy = v;
        }
        if let Some(v) = var("TRY_STRENGTH") {
            params.prior_strength = v;
        }
        if let Some(v) = var("TRY_POOLED") {
            params.pooled_rounds = v as usize;
        }
        for scenario in &SCENARIOS {
            let seed = std::env::var("TRY_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            let world = World::generate(scenario, facts, seed);
            let claims = latest_claims(&world);
            let base: Vec<String> = Baseline::ALL
                .iter()
                .map(|b| format!("{:.1}", 100.0 * accuracy(&world.facts, &b.answer(&claims))))
                .collect();
            let roots: Vec<usize> = (0..world.agents.len())
                .filter(|&a| world.agents[a].persona == Persona::Expert)
                .collect();
            let (plain, rel) = evidence_answers(&world, &[], &params);
            let (rooted, _) = evidence_answers(&world, &roots, &params);
            let copies = rel.iter().filter(|r| r.copy_of.is_some()).count();
            if std::env::var("TRY_PERSONAS").is_ok() {
                let mut by: std::collections::BTreeMap<&str, (f64, usize)> = Default::default();
                for (a, r) in rel.iter().enumerate() {
                    let e = by.entry(world.agents[a].persona.name()).or_default();
                    e.0 += r.accuracy;
                    e.1 += 1;
                }
                let text: Vec<String> = by
                    .iter()
                    .map(|(k, (s, n))| format!("{k} {:.3}", s / *n as f64))
                    .collect();
                println!("  {}", text.join(", "));
            }
            println!(
                "{:8} evidence {:.1} roots {:.1} | mv/tf/pi {} | copies {copies}",
                scenario.name,
                100.0 * accuracy(&world.facts, &plain),
                100.0 * accuracy(&world.facts, &rooted),
                base.join(" / ")
            );
        }
    }
}
