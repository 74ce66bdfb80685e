//! Worlds: facts with a known truth, agents with a persona, and the claims they make, all drawn
//! from one seed. Honest agents speak on the first simulated day; trolls and sybils on the
//! second (so "the latest claim wins" is what they exploit); copiers a few minutes after the
//! agent they copy.
use serde_json::{Value, json};
use stemedb_core::SplitMix64;

/// How an agent behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    /// Right 90 % of the time.
    Expert,
    /// Right 70 % of the time.
    Ordinary,
    /// Right 55 % of the time.
    Noisy,
    /// Right 70 % of the time, but on half of what it gets right it first said something wrong
    /// (and corrects itself later without naming the old claim).
    Changer,
    /// Coordinated: on the targeted facts every troll asserts the same wrong value, late and
    /// with full confidence; elsewhere it tells the truth (camouflage).
    Troll,
    /// A fresh key of a swarm: asserts the trolls' value on targeted facts, nothing else.
    Sybil,
    /// Repeats what the leader (the first noisy agent) said, errors included, minutes later.
    Copier,
}

impl Persona {
    pub fn name(self) -> &'static str {
        match self {
            Persona::Expert => "expert",
            Persona::Ordinary => "ordinary",
            Persona::Noisy => "noisy",
            Persona::Changer => "changer",
            Persona::Troll => "troll",
            Persona::Sybil => "sybil",
            Persona::Copier => "copier",
        }
    }

    /// The chance that an independent claim of this agent is the truth.
    fn accuracy(self) -> f64 {
        match self {
            Persona::Expert => 0.9,
            Persona::Ordinary | Persona::Changer => 0.7,
            Persona::Noisy => 0.55,
            Persona::Troll | Persona::Sybil | Persona::Copier => 1.0,
        }
    }

    /// The confidence this agent states (before jitter).
    fn confidence(self) -> f64 {
        match self {
            Persona::Expert => 0.9,
            Persona::Ordinary | Persona::Changer => 0.75,
            Persona::Noisy => 0.6,
            Persona::Troll => 1.0,
            Persona::Sybil => 0.95,
            Persona::Copier => 0.8,
        }
    }

    /// Speaks for itself on every fact it covers (not a troll, sybil or copier).
    pub fn is_honest(self) -> bool {
        matches!(
            self,
            Persona::Expert | Persona::Ordinary | Persona::Noisy | Persona::Changer
        )
    }
}

/// A world's cast and the share of facts that trolls and sybils attack.
#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    cast: [(Persona, usize); 7],
    targeted_share: f64,
}

/// A scenario: `honest` counts experts, ordinary, noisy and changers; `attackers` trolls,
/// sybils and copiers.
const fn scenario(
    name: &'static str,
    about: &'static str,
    honest: [usize; 4],
    attackers: [usize; 3],
    targeted_share: f64,
) -> Scenario {
    Scenario {
        name,
        about,
        cast: [
            (Persona::Expert, honest[0]),
            (Persona::Ordinary, honest[1]),
            (Persona::Noisy, honest[2]),
            (Persona::Changer, honest[3]),
            (Persona::Troll, attackers[0]),
            (Persona::Sybil, attackers[1]),
            (Persona::Copier, attackers[2]),
        ],
        targeted_share,
    }
}

/// The scenarios of docs/truth-quality.md.
pub const SCENARIOS: [Scenario; 6] = [
    scenario(
        "honest",
        "3 experts, 10 ordinary and 4 noisy agents, nobody lying",
        [3, 10, 4, 0],
        [0, 0, 0],
        0.0,
    ),
    scenario(
        "trolls",
        "the honest cast and 6 coordinated trolls on 40 % of the facts",
        [3, 10, 4, 0],
        [6, 0, 0],
        0.4,
    ),
    scenario(
        "sybils",
        "the honest cast, 2 trolls and a swarm of 40 sybil keys on 40 % of the facts",
        [3, 10, 4, 0],
        [2, 40, 0],
        0.4,
    ),
    scenario(
        "swarm",
        "the honest cast and 30 coordinated trolls, a majority that tells the truth elsewhere, on 40 % of the facts",
        [3, 10, 4, 0],
        [30, 0, 0],
        0.4,
    ),
    scenario(
        "copiers",
        "the honest cast and 10 agents copying a noisy one, errors included",
        [3, 10, 4, 0],
        [0, 0, 10],
        0.0,
    ),
    scenario(
        "changes",
        "3 experts, 4 ordinary, 2 noisy and 8 agents that correct their own mistakes",
        [3, 4, 2, 8],
        [0, 0, 0],
        0.0,
    ),
];

impl Scenario {
    pub fn named(name: &str) -> Option<&'static Scenario> {
        SCENARIOS.iter().find(|s| s.name == name)
    }
}

/// One agent of a world: `name` is unique in it (`expert-0`, `sybil-17`).
#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    pub persona: Persona,
}

/// A (subject, predicate) whose true value is known: half numbers, half categories.
#[derive(Debug, Clone)]
pub struct Fact {
    /// Relative to the run's prefix, e.g. `f000042`.
    pub subject: String,
    pub predicate: String,
    pub truth: Value,
    /// The values other than the truth that agents may claim.
    pub wrong: Vec<Value>,
}

/// One claim: `agent` and `fact` index the world's lists; `offset_secs` after the world's start.
#[derive(Debug, Clone)]
pub struct Claim {
    pub agent: usize,
    pub fact: usize,
    pub value: Value,
    pub confidence: f64,
    pub offset_secs: u64,
}

/// A generated world.
#[derive(Debug)]
pub struct World {
    pub scenario: &'static Scenario,
    pub seed: u64,
    pub agents: Vec<Agent>,
    pub facts: Vec<Fact>,
    /// In the order they are posted: the honest claims fact by fact, then the trolls' and
    /// sybils', then the copies; times are in `offset_secs`.
    pub claims: Vec<Claim>,
}

/// The chance that an honest agent speaks on a given fact.
const COVERAGE: f64 = 0.35;
const DAY_SECS: u64 = 86_400;

struct Draw(SplitMix64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn secs(&mut self, from: u64, span: u64) -> u64 {
        from + self.0.next_u64() % span
    }
    /// `base` moved by up to ±0.05, kept in (0, 1].
    fn jitter(&mut self, base: f64) -> f64 {
        let moved = base + (self.below(101) as f64 - 50.0) / 1000.0;
        (moved * 1000.0).round().clamp(1.0, 1000.0) / 1000.0
    }
}

impl World {
    /// The world of `scenario` with `fact_count` facts, drawn from `seed`.
    pub fn generate(scenario: &'static Scenario, fact_count: usize, seed: u64) -> World {
        let mut draw = Draw(SplitMix64::new(seed));
        let facts = (0..fact_count).map(|i| fact(i, &mut draw)).collect();
        let agents = scenario
            .cast
            .iter()
            .flat_map(|&(persona, count)| {
                (0..count).map(move |n| Agent {
                    name: format!("{}-{n}", persona.name()),
                    persona,
                })
            })
            .collect();
        let mut world = World {
            scenario,
            seed,
            agents,
            facts,
            claims: Vec::new(),
        };
        world.honest_claims(&mut draw);
        world.attacks(&mut draw);
        world.copies(&mut draw);
        world
    }

    fn honest_claims(&mut self, draw: &mut Draw) {
        let honest: Vec<usize> = (0..self.agents.len())
            .filter(|&a| self.agents[a].persona.is_honest())
            .collect();
        for fact in 0..self.facts.len() {
            let mut speakers: Vec<usize> = honest
                .iter()
                .copied()
                .filter(|_| draw.chance(COVERAGE))
                .collect();
            if speakers.is_empty() && !honest.is_empty() {
                speakers.push(honest[draw.below(honest.len())]);
            }
            for agent in speakers {
                self.honest_claim(agent, fact, draw);
            }
        }
    }

    fn honest_claim(&mut self, agent: usize, fact: usize, draw: &mut Draw) {
        let persona = self.agents[agent].persona;
        let right = draw.chance(persona.accuracy());
        let value = if right {
            self.facts[fact].truth.clone()
        } else {
            self.wrong_value(fact, draw)
        };
        let offset_secs = draw.secs(0, DAY_SECS / 2);
        if persona == Persona::Changer && right && draw.chance(0.5) {
            let first = self.wrong_value(fact, draw);
            self.push(agent, fact, first, draw, offset_secs);
            let later = draw.secs(DAY_SECS / 2, DAY_SECS / 2);
            self.push(agent, fact, value, draw, later);
        } else {
            self.push(agent, fact, value, draw, offset_secs);
        }
    }

    fn wrong_value(&self, fact: usize, draw: &mut Draw) -> Value {
        let wrong = &self.facts[fact].wrong;
        wrong[draw.below(wrong.len())].clone()
    }

    fn push(&mut self, agent: usize, fact: usize, value: Value, draw: &mut Draw, offset: u64) {
        let confidence = draw.jitter(self.agents[agent].persona.confidence());
        self.claims.push(Claim {
            agent,
            fact,
            value,
            confidence,
            offset_secs: offset,
        });
    }

    /// Trolls and sybils: one wrong value per targeted fact, asserted on the second day.
    fn attacks(&mut self, draw: &mut Draw) {
        let attackers = |persona| {
            (0..self.agents.len())
                .filter(|&a| self.agents[a].persona == persona)
                .collect::<Vec<_>>()
        };
        let (trolls, sybils) = (attackers(Persona::Troll), attackers(Persona::Sybil));
        if trolls.is_empty() && sybils.is_empty() {
            return;
        }
        for fact in 0..self.facts.len() {
            let targeted = draw.chance(self.scenario.targeted_share);
            let lie = self.wrong_value(fact, draw);
            for &troll in &trolls {
                if targeted && draw.chance(0.9) {
                    let at = draw.secs(DAY_SECS, DAY_SECS);
                    self.push(troll, fact, lie.clone(), draw, at);
                } else if !targeted && draw.chance(COVERAGE) {
                    let (truth, at) = (self.facts[fact].truth.clone(), draw.secs(0, DAY_SECS));
                    self.push(troll, fact, truth, draw, at);
                }
            }
            for &sybil in &sybils {
                if targeted && draw.chance(0.5) {
                    let at = draw.secs(DAY_SECS, DAY_SECS);
                    self.push(sybil, fact, lie.clone(), draw, at);
                }
            }
        }
    }

    /// Copiers repeat the first noisy agent's claims, each with chance 0.9, minutes later.
    fn copies(&mut self, draw: &mut Draw) {
        let copiers: Vec<usize> = (0..self.agents.len())
            .filter(|&a| self.agents[a].persona == Persona::Copier)
            .collect();
        let Some(leader) = self.agents.iter().position(|a| a.persona == Persona::Noisy) else {
            return;
        };
        let originals: Vec<Claim> = self
            .claims
            .iter()
            .filter(|c| c.agent == leader)
            .cloned()
            .collect();
        for original in originals {
            for &copier in &copiers {
                if draw.chance(0.9) {
                    let at = original.offset_secs + draw.secs(60, 600);
                    self.push(copier, original.fact, original.value.clone(), draw, at);
                }
            }
        }
    }
}

/// Fact `i`: even ones are numbers (wrong values off by 20 % to 100 %), odd ones one of four
/// categories.
fn fact(i: usize, draw: &mut Draw) -> Fact {
    let (truth, wrong) = if i.is_multiple_of(2) {
        let truth = 1.0 + draw.below(10_000) as f64 / 10.0;
        let wrong = [0.5, 0.8, 1.25, 2.0]
            .iter()
            .map(|f| json!(truth * f))
            .collect();
        (json!(truth), wrong)
    } else {
        let options: Vec<Value> = ["amber", "blue", "cyan", "dune"]
            .iter()
            .map(|o| json!(format!("{o}-{}", i % 7)))
            .collect();
        let right = draw.below(options.len());
        let wrong = options
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != right)
            .map(|(_, v)| v.clone())
            .collect();
        (options[right].clone(), wrong)
    };
    Fact {
        subject: format!("f{i:06}"),
        predicate: if i.is_multiple_of(2) {
            "amount"
        } else {
            "kind"
        }
        .to_owned(),
        truth,
        wrong,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_world_replays_from_its_seed_and_every_fact_has_an_honest_claim() {
        for scenario in &SCENARIOS {
            let (a, b) = (
                World::generate(scenario, 200, 7),
                World::generate(scenario, 200, 7),
            );
            let shape = |w: &World| {
                w.claims
                    .iter()
                    .map(|c| (c.agent, c.fact, c.value.to_string(), c.offset_secs))
                    .collect::<Vec<_>>()
            };
            assert_eq!(shape(&a), shape(&b), "{}", scenario.name);
            for fact in 0..a.facts.len() {
                assert!(
                    a.claims
                        .iter()
                        .any(|c| c.fact == fact && a.agents[c.agent].persona.is_honest()),
                    "{}: fact {fact} has an honest claim",
                    scenario.name
                );
            }
            let other = World::generate(scenario, 200, 8);
            assert_ne!(shape(&a), shape(&other), "another seed, another world");
        }
    }

    #[test]
    fn attackers_lie_together_on_the_second_day() {
        let world = World::generate(Scenario::named("sybils").unwrap(), 300, 3);
        let attacks: Vec<&Claim> = world
            .claims
            .iter()
            .filter(|c| !world.agents[c.agent].persona.is_honest())
            .filter(|c| c.value != world.facts[c.fact].truth)
            .collect();
        assert!(!attacks.is_empty());
        for claim in &attacks {
            assert!(claim.offset_secs >= DAY_SECS, "late: {claim:?}");
            let same_fact = attacks.iter().filter(|c| c.fact == claim.fact);
            assert!(
                same_fact.clone().all(|c| c.value == claim.value),
                "one lie per fact"
            );
        }
    }
}
