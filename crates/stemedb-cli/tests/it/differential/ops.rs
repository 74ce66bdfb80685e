//! The operations of a differential sequence: a small universe (4 agents, 4 data subjects, 3
//! sources, 4 valid times) so that records interact often, and a seeded generator of signed
//! writes, batches and role grants over it, invalid ones included now and then.
use serde_json::{Value, json};
use stemedb::Role;
use stemedb::core::{Limits, SecretKey, SignedAssertion, SplitMix64};
use stemedb_client::Draft;

pub const AGENTS: [&str; 4] = ["a0", "a1", "a2", "a3"];
pub const DATA_SUBJECTS: [&str; 4] = ["drug/d0", "drug/d1", "guide/g0", "guide/g1"];
pub const SOURCES: [&str; 3] = ["source/S0", "source/S1", "source/S2"];
pub const PREDICATE: &str = "p";
pub const VALID_TIMES: [&str; 4] = [
    "2025-01-01T00:00:00Z",
    "2025-01-02T00:00:00Z",
    "2025-01-03T00:00:00Z",
    "2025-01-04T00:00:00Z",
];
/// Far past the test clock plus the allowed skew: refused (`not_in_future`).
pub const FUTURE: &str = "2031-01-01T00:00:00Z";
pub const EPOCH_PREFIXES: [&str; 2] = ["drug/", "guide/"];

pub fn key_of(agent: usize) -> SecretKey {
    SecretKey::from_seed(&[agent as u8 + 1; 32])
}

/// A key no agent is bound to: signing as a bound agent with it is an agent-key conflict.
fn impostor_key() -> SecretKey {
    SecretKey::from_seed(&[99; 32])
}

/// One signed record to write, with a readable label for failure reports.
#[derive(Debug, Clone)]
pub struct Item {
    pub wire: Value,
    pub label: String,
}

impl Item {
    /// The same record with `field` set (so another id), signed again.
    pub fn with(self, field: &str, value: Value) -> Item {
        let mut body = self.wire.as_object().cloned().unwrap();
        body.remove("signature");
        body.insert(field.into(), value.clone());
        let agent = agent_of(&self).unwrap();
        Item {
            wire: stemedb_client::sign(body, &key_of(agent)).unwrap(),
            label: format!("{} {field} {value}", self.label),
        }
    }

    /// The record's id, `None` when its body breaks a rule (then the Db refuses it).
    pub fn id(&self) -> Option<String> {
        SignedAssertion::from_wire(self.wire.clone(), &Limits::default())
            .ok()
            .map(|a| a.id.to_hex())
    }
}

#[derive(Debug, Clone)]
pub enum Op {
    Write(Item),
    Batch(Vec<Item>),
    Grant { role: Role, agent: usize },
}

impl Op {
    pub fn describe(&self) -> String {
        match self {
            Op::Write(item) => item.label.clone(),
            Op::Batch(items) => {
                let labels: Vec<&str> = items.iter().map(|i| i.label.as_str()).collect();
                format!("batch [{}]", labels.join("; "))
            }
            Op::Grant { role, agent } => format!("grant {} {}", role.as_str(), AGENTS[*agent]),
        }
    }
}

/// What the generator knows of the log so far (from the Db's answers): stored records by
/// sequence, so that new records can cite, derive from, supersede, vote on and retract them.
#[derive(Debug, Default, Clone)]
pub struct Known {
    /// Ordinary records: (sequence, id, agent index).
    pub ordinary: Vec<(u64, String, usize)>,
    /// Retraction records: (sequence, id).
    pub retractions: Vec<(u64, String)>,
    /// Agents bound to their key (they have a stored record).
    pub bound: [bool; 4],
    /// Wires stored, for resending (a duplicate).
    pub wires: Vec<Value>,
}

impl Known {
    /// Notes a stored record.
    pub fn stored(&mut self, seq: u64, item: &Item) {
        let Some(id) = item.id() else { return };
        let agent = item.wire["agent_id"].as_str().unwrap_or_default();
        let agent = AGENTS.iter().position(|a| *a == agent).unwrap_or(0);
        self.bound[agent] = true;
        self.wires.push(item.wire.clone());
        match item.wire["predicate"].as_str() {
            Some(PREDICATE) => self.ordinary.push((seq, id, agent)),
            Some(stemedb::core::control::RETRACTS) => self.retractions.push((seq, id)),
            _ => {}
        }
    }
}

/// The seeded generator of one sequence.
pub struct Gen {
    rng: SplitMix64,
}

/// Records of the batch being generated, citable by later items of the same batch.
type Pending = Vec<(String, usize)>;

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
        }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.rng.next_u64() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len()))
        }
    }

    fn time(&mut self) -> &'static str {
        VALID_TIMES[self.below(VALID_TIMES.len())]
    }

    pub fn op(&mut self, known: &Known) -> Op {
        let roll = self.below(100);
        if roll < 10 {
            let len = 2 + self.below(4);
            let mut pending = Pending::new();
            let items = (0..len)
                .map(|_| {
                    let item = self.item(known, &pending);
                    if let (Some(id), Some(agent)) = (item.id(), agent_of(&item))
                        && item.wire["predicate"] == PREDICATE
                    {
                        pending.push((id, agent));
                    }
                    item
                })
                .collect();
            return Op::Batch(items);
        }
        if roll < 15 {
            let role = if self.chance(60) {
                Role::Curator
            } else {
                Role::TrustRoot
            };
            return Op::Grant {
                role,
                agent: self.below(AGENTS.len()),
            };
        }
        Op::Write(self.item(known, &Pending::new()))
    }

    /// One record of any kind (weights in percent).
    fn item(&mut self, known: &Known, pending: &Pending) -> Item {
        let agent = self.below(AGENTS.len());
        let roll = self.below(100);
        match roll {
            0..35 => self.assert(known, pending, agent),
            35..52 if self.chance(30) && !pending.is_empty() => self.act_on_pending(pending, agent),
            35..52 => self.retract_id(known, agent),
            70..78 if self.chance(30) && !pending.is_empty() => self.act_on_pending(pending, agent),
            52..63 => self.retract_subject(agent),
            63..70 => self.reinstate(known, agent),
            70..78 => self.vote(known, agent),
            78..84 => self.trust(agent),
            84..88 => self.epoch(agent),
            88..91 => self.gold(known, agent),
            91..94 => self.review(known, agent),
            94..96 => self.duplicate(known, agent),
            _ => self.invalid(known, agent),
        }
    }

    fn sign(&mut self, agent: usize, draft: Draft, label: String) -> Item {
        Item {
            wire: draft.sign(&key_of(agent)).unwrap(),
            label: format!("{} {label}", AGENTS[agent]),
        }
    }

    fn control(
        &mut self,
        agent: usize,
        subject: &str,
        predicate: &str,
        value: Value,
        label: String,
    ) -> Item {
        let time = self.time();
        let draft = Draft::new(AGENTS[agent], subject, predicate, value, time);
        self.sign(agent, draft, label)
    }

    /// An ordinary assertion, maybe citing sources, deriving from and superseding records.
    fn assert(&mut self, known: &Known, pending: &Pending, agent: usize) -> Item {
        let subject = if self.chance(70) {
            DATA_SUBJECTS[self.below(DATA_SUBJECTS.len())]
        } else {
            SOURCES[self.below(SOURCES.len())]
        };
        let value = 1 + self.below(3);
        let time = self.time();
        let mut label = format!("assert {subject}={value} @{}", &time[8..10]);
        let mut draft = Draft::new(AGENTS[agent], subject, PREDICATE, json!(value), time)
            .confidence([0.5, 0.9, 1.0][self.below(3)]);
        let sources: Vec<&str> = SOURCES
            .iter()
            .copied()
            .filter(|_| self.chance(25))
            .collect();
        if !sources.is_empty() {
            label.push_str(&format!(" sources {sources:?}"));
            draft = draft.sources(&sources);
        }
        let mut parents: Vec<String> = Vec::new();
        let mut parent_labels: Vec<String> = Vec::new();
        for _ in 0..self.below(3) {
            if !pending.is_empty() && self.chance(50) {
                let i = self.below(pending.len());
                parents.push(pending[i].0.clone());
                parent_labels.push(format!("batch item {i}"));
            } else if let Some((seq, id, _)) = self.pick(&known.ordinary).cloned() {
                parents.push(id);
                parent_labels.push(format!("#{seq}"));
            }
        }
        parents.dedup();
        if !parents.is_empty() {
            label.push_str(&format!(" derived_from {parent_labels:?}"));
            draft = draft.field("derived_from", json!(parents));
        }
        if self.chance(20) {
            // Mostly the agent's own records (effective), sometimes another's (no effect).
            let own: Vec<_> = known
                .ordinary
                .iter()
                .filter(|(_, _, a)| *a == agent)
                .cloned()
                .collect();
            let from = if self.chance(70) && !own.is_empty() {
                &own
            } else {
                &known.ordinary
            };
            if let Some((seq, id, _)) = self.pick(from).cloned() {
                label.push_str(&format!(" supersedes #{seq}"));
                draft = draft.field("supersedes", json!(id));
            }
        }
        self.sign(agent, draft, label)
    }

    /// A retraction or vote naming an earlier item of the same batch (docs/truth.md: a
    /// control record may name one, once that item is accepted).
    fn act_on_pending(&mut self, pending: &Pending, agent: usize) -> Item {
        let i = self.below(pending.len());
        let id = pending[i].0.clone();
        if self.chance(50) {
            let value = json!({"reason": "wrong", "cascade": false});
            let label = format!("retract batch item {i}");
            self.control(agent, &id, stemedb::core::control::RETRACTS, value, label)
        } else {
            let label = format!("vote batch item {i} up");
            self.control(agent, &id, stemedb::core::control::VOTE, json!(1), label)
        }
    }

    fn retract_id(&mut self, known: &Known, agent: usize) -> Item {
        let Some((seq, id, _)) = self.pick(&known.ordinary).cloned() else {
            return self.assert(known, &Pending::new(), agent);
        };
        let cascade = self.chance(50);
        let value = json!({"reason": "wrong", "cascade": cascade});
        let label = format!("retract #{seq} cascade={cascade}");
        self.control(agent, &id, stemedb::core::control::RETRACTS, value, label)
    }

    fn retract_subject(&mut self, agent: usize) -> Item {
        let subject = if self.chance(60) {
            SOURCES[self.below(SOURCES.len())]
        } else {
            DATA_SUBJECTS[self.below(DATA_SUBJECTS.len())]
        };
        let cascade = self.chance(60);
        let value = json!({"reason": "bad source", "cascade": cascade});
        let label = format!("retract subject {subject} cascade={cascade}");
        self.control(
            agent,
            subject,
            stemedb::core::control::RETRACTS,
            value,
            label,
        )
    }

    /// A retraction of a retraction: reinstates when its signer may.
    fn reinstate(&mut self, known: &Known, agent: usize) -> Item {
        let Some((seq, id)) = self.pick(&known.retractions).cloned() else {
            return self.retract_subject(agent);
        };
        let value = json!({"reason": "reinstated"});
        let label = format!("reinstate #{seq}");
        self.control(agent, &id, stemedb::core::control::RETRACTS, value, label)
    }

    fn vote(&mut self, known: &Known, agent: usize) -> Item {
        let Some((seq, id, _)) = self.pick(&known.ordinary).cloned() else {
            return self.trust(agent);
        };
        let up = self.chance(50);
        let value = json!(if up { 1 } else { -1 });
        let label = format!("vote #{seq} {}", if up { "up" } else { "down" });
        self.control(agent, &id, stemedb::core::control::VOTE, value, label)
    }

    fn trust(&mut self, agent: usize) -> Item {
        let trustee = AGENTS[self.below(AGENTS.len())];
        let weight = [0.0, 0.5, 1.0][self.below(3)];
        let label = format!("trust {trustee} {weight}");
        let subject = format!("agent/{trustee}");
        self.control(
            agent,
            &subject,
            stemedb::core::control::TRUSTS,
            json!(weight),
            label,
        )
    }

    fn epoch(&mut self, agent: usize) -> Item {
        let prefix = EPOCH_PREFIXES[self.below(EPOCH_PREFIXES.len())];
        let before = VALID_TIMES[1 + self.below(VALID_TIMES.len() - 1)];
        let label = format!("epoch {prefix} before {}", &before[8..10]);
        let value = json!({"before": before, "reason": "new guideline"});
        self.control(agent, prefix, stemedb::core::control::EPOCH, value, label)
    }

    fn gold(&mut self, known: &Known, agent: usize) -> Item {
        let Some((seq, id, _)) = self.pick(&known.ordinary).cloned() else {
            return self.epoch(agent);
        };
        let label = format!("gold #{seq}");
        let gold = stemedb::core::control::GOLD_STANDARD;
        self.control(agent, &id, gold, json!(true), label)
    }

    fn review(&mut self, known: &Known, agent: usize) -> Item {
        let Some((seq, id, _)) = self.pick(&known.ordinary).cloned() else {
            return self.epoch(agent);
        };
        let approve = self.chance(50);
        let (value, label) = if approve {
            (json!({"decision": "approve"}), format!("approve #{seq}"))
        } else {
            let value = json!({"decision": "reject", "reason": "no"});
            (value, format!("reject #{seq}"))
        };
        self.control(agent, &id, stemedb::core::control::REVIEW, value, label)
    }

    /// A stored record sent again: answered as a duplicate.
    fn duplicate(&mut self, known: &Known, agent: usize) -> Item {
        match self.pick(&known.wires).cloned() {
            Some(wire) => Item {
                label: format!("resend {}", short(&wire)),
                wire,
            },
            None => self.assert(known, &Pending::new(), agent),
        }
    }

    /// A record the Db must refuse: a future timestamp, a control record naming no stored
    /// assertion, a vote of 2, or a bound agent signing with another key.
    fn invalid(&mut self, known: &Known, agent: usize) -> Item {
        match self.below(4) {
            0 => {
                let draft = Draft::new(AGENTS[agent], "drug/d0", PREDICATE, json!(1), FUTURE);
                self.sign(agent, draft, "assert in the future".into())
            }
            1 => {
                let missing = "0".repeat(64);
                let value = json!({"reason": "r"});
                let label = "retract a missing id".to_owned();
                self.control(
                    agent,
                    &missing,
                    stemedb::core::control::RETRACTS,
                    value,
                    label,
                )
            }
            2 => {
                let draft = Draft::new(
                    AGENTS[agent],
                    "0".repeat(63).as_str(),
                    stemedb::core::control::VOTE,
                    json!(2),
                    VALID_TIMES[0],
                );
                // Signed without the client's checks, so that the Db judges the body.
                let body = draft.into_body(&key_of(agent));
                let canonical = serde_json_canonicalizer::to_vec(&body).unwrap();
                let id = stemedb::core::AssertionId::of_canonical(&canonical);
                let mut wire = Value::Object(body);
                wire["signature"] = json!(key_of(agent).sign(&id).to_hex());
                Item {
                    wire,
                    label: format!("{} vote 2 on a malformed id", AGENTS[agent]),
                }
            }
            _ => {
                let bound: Vec<usize> = (0..AGENTS.len()).filter(|a| known.bound[*a]).collect();
                let Some(&victim) = self.pick(&bound) else {
                    return self.trust(agent);
                };
                let time = self.time();
                let draft = Draft::new(AGENTS[victim], "drug/d1", PREDICATE, json!(3), time);
                Item {
                    wire: draft.sign(&impostor_key()).unwrap(),
                    label: format!("impostor as {}", AGENTS[victim]),
                }
            }
        }
    }
}

/// An ordinary assertion (value 1, the first valid time) for a regression case.
pub fn assertion(agent: usize, subject: &str, sources: &[&str], derived_from: &[&Item]) -> Item {
    let mut draft = Draft::new(AGENTS[agent], subject, PREDICATE, json!(1), VALID_TIMES[0]);
    draft = draft.sources(sources);
    let parents: Vec<String> = derived_from.iter().filter_map(|i| i.id()).collect();
    if !parents.is_empty() {
        draft = draft.field("derived_from", json!(parents));
    }
    Item {
        wire: draft.sign(&key_of(agent)).unwrap(),
        label: format!(
            "{} assert {subject} sources {sources:?} derived_from {}",
            AGENTS[agent],
            derived_from.len()
        ),
    }
}

/// A retraction of a subject (or of an assertion, by its id) for a regression case.
pub fn retraction(agent: usize, target: &str, cascade: bool) -> Item {
    let value = json!({"reason": "r", "cascade": cascade});
    let draft = Draft::new(
        AGENTS[agent],
        target,
        stemedb::core::control::RETRACTS,
        value,
        VALID_TIMES[1],
    );
    Item {
        wire: draft.sign(&key_of(agent)).unwrap(),
        label: format!("{} retract {target} cascade={cascade}", AGENTS[agent]),
    }
}

/// A curator's epoch over `prefix` for a regression case.
pub fn epoch(agent: usize, prefix: &str, before: &str) -> Item {
    let value = json!({"before": before, "reason": "new guideline"});
    let epoch = stemedb::core::control::EPOCH;
    let draft = Draft::new(AGENTS[agent], prefix, epoch, value, VALID_TIMES[1]);
    Item {
        wire: draft.sign(&key_of(agent)).unwrap(),
        label: format!("{} epoch {prefix} before {before}", AGENTS[agent]),
    }
}

/// A gold-standard mark on `target` for a regression case.
pub fn gold(agent: usize, target: &Item) -> Item {
    let gold = stemedb::core::control::GOLD_STANDARD;
    let id = target.id().unwrap();
    let draft = Draft::new(AGENTS[agent], &id, gold, json!(true), VALID_TIMES[1]);
    Item {
        wire: draft.sign(&key_of(agent)).unwrap(),
        label: format!("{} gold {}", AGENTS[agent], &id[..8]),
    }
}

pub fn write(item: &Item) -> Op {
    Op::Write(item.clone())
}

fn agent_of(item: &Item) -> Option<usize> {
    let agent = item.wire["agent_id"].as_str()?;
    AGENTS.iter().position(|a| *a == agent)
}

fn short(wire: &Value) -> String {
    format!(
        "{} {} {}",
        wire["agent_id"].as_str().unwrap_or_default(),
        wire["predicate"].as_str().unwrap_or_default(),
        wire["subject"]
            .as_str()
            .map(|s| &s[..s.len().min(12)])
            .unwrap_or_default()
    )
}
