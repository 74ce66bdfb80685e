//! The reference model: the log as a `Vec` of records in sequence order, and every record's
//! stage recomputed from the whole log, from the first record, after every write, following
//! docs/truth.md as written (not the store's incremental code: no indexes, no events, no undo).
//!
//! Covered: which writes are stored, answered as duplicates or refused (future timestamps,
//! control records naming no stored assertion, agent-key conflicts; body rules are the core
//! parser's, taken as given); retraction of an assertion by its author or a curator, and by
//! anyone else as a dispute (a down-vote); retraction of a subject by a curator, by the
//! subject's definer, and by anyone else (its own assertions only); cascades through `sources`
//! and `derived_from`, also for later arrivals; reinstatement (the retraction itself becomes
//! retracted, what it alone retracted returns to the stage it would have without it);
//! retraction of a reinstatement (changes nothing else); `supersedes` from the author or a
//! curator; curators' epochs, for the records there and later arrivals; curators' reviews of
//! quarantined records; roles acting from the sequence after their grant; votes (the latest
//! per agent, disputes as down-votes); each answer's `changed` and `effective`; the recency
//! lens's winner of every group.
//!
//! Epochs, like supersession, set a record's stage *without* retraction: a record retracted
//! when an epoch opens, or arriving retracted under one, is superseded by it once reinstated
//! ("returns to the stage it would have without it").
//!
//! Not covered (compared only between live and re-derived): trust (so whether the
//! low-trust quarantine rule holds a record is taken from the Db's answer, not computed),
//! gold standards' effect on lenses, the lenses other than recency, the new-subject rule
//! (never reached with 4 agents), time travel.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use stemedb::Role;
use stemedb::core::{Limits, SignedAssertion, Timestamp};

use super::ops::{AGENTS, Item, Op, PREDICATE};
use super::{Answer, Snapshot};

/// How far ahead of the clock a timestamp may be (docs/signing.md §1).
const FUTURE_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Id(String),
    Subject(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Ordinary,
    Retract {
        target: Target,
        cascade: bool,
    },
    Vote {
        target: String,
        up: bool,
    },
    Epoch {
        prefix: String,
        before: i64,
    },
    Review {
        target: String,
        approve: bool,
    },
    /// Trust statements: no stage effect.
    Trust,
    /// Gold marks: no stage effect here (effective from curators).
    Gold {
        target: String,
    },
}

#[derive(Debug, Clone)]
struct Rec {
    id: String,
    agent: String,
    public_key: String,
    subject: String,
    timestamp: i64,
    sources: Vec<String>,
    derived_from: Vec<String>,
    supersedes: Option<String>,
    kind: Kind,
    /// Held in quarantine at ingest: the Db's answer (the model does not compute trust).
    held: bool,
}

impl Rec {
    /// A role grant: the server's record, with no stage effect. Its id (the server key's
    /// signature over a body stamped by the Db's clock) is not the model's business: empty.
    fn grant() -> Rec {
        Rec {
            id: String::new(),
            agent: "stemedb/server".into(),
            public_key: String::new(),
            subject: String::new(),
            timestamp: 0,
            sources: Vec::new(),
            derived_from: Vec::new(),
            supersedes: None,
            kind: Kind::Trust,
            held: false,
        }
    }

    fn from_wire(wire: &Value, id: String) -> Rec {
        let text = |f: &str| wire[f].as_str().unwrap_or_default().to_owned();
        let list = |f: &str| -> Vec<String> {
            wire[f]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let subject = text("subject");
        let value = &wire["value"];
        let is_id = subject.len() == 64 && subject.bytes().all(|b| b.is_ascii_hexdigit());
        let kind = match wire["predicate"].as_str().unwrap_or_default() {
            PREDICATE => Kind::Ordinary,
            "stemedb:retracts" => Kind::Retract {
                target: if is_id {
                    Target::Id(subject.clone())
                } else {
                    Target::Subject(subject.clone())
                },
                cascade: value["cascade"].as_bool().unwrap_or(false),
            },
            "stemedb:vote" => Kind::Vote {
                target: subject.clone(),
                up: value.as_i64() == Some(1),
            },
            "stemedb:epoch" => Kind::Epoch {
                prefix: subject.clone(),
                before: micros(value["before"].as_str().unwrap_or_default()),
            },
            "stemedb:review" => Kind::Review {
                target: subject.clone(),
                approve: value["decision"] == "approve",
            },
            "stemedb:gold-standard" => Kind::Gold {
                target: subject.clone(),
            },
            _ => Kind::Trust,
        };
        Rec {
            id,
            agent: text("agent_id"),
            public_key: text("public_key"),
            timestamp: micros(&text("timestamp")),
            sources: list("sources"),
            derived_from: list("derived_from"),
            supersedes: wire["supersedes"].as_str().map(str::to_owned),
            subject,
            kind,
            held: false,
        }
    }

    /// The assertion a control record must name (it must be stored).
    fn named_assertion(&self) -> Option<&String> {
        match &self.kind {
            Kind::Retract {
                target: Target::Id(id),
                ..
            } => Some(id),
            Kind::Vote { target, .. } | Kind::Review { target, .. } | Kind::Gold { target } => {
                Some(target)
            }
            _ => None,
        }
    }
}

fn micros(text: &str) -> i64 {
    Timestamp::parse_field(text, "t").map_or(0, Timestamp::micros)
}

/// A record's stage without any retraction: from supersession, epochs, quarantine, reviews.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Base {
    Active,
    /// By the record at this index.
    Superseded(usize),
    Quarantined,
    Rejected,
}

/// The derived state of every record (indexes into the log).
#[derive(Debug, Clone, PartialEq)]
struct State {
    stage: Vec<&'static str>,
    /// The retraction or superseding record (index) behind a retracted or superseded stage.
    cause: Vec<Option<usize>>,
    effective: Vec<bool>,
    /// target index → agent → (index of the vote or dispute, +1 or −1).
    votes: BTreeMap<usize, BTreeMap<String, (usize, i8)>>,
}

#[derive(Debug, Default)]
pub struct Model {
    log: Vec<Rec>,
    /// (role, agent) → the sequence after which it holds (the first grant's).
    roles: BTreeMap<(&'static str, String), u64>,
}

impl Model {
    fn index_of(&self, id: &str) -> Option<usize> {
        self.log.iter().position(|r| r.id == id)
    }

    /// Applies an operation and checks the Db's answers against the model's. The Db's answer
    /// is used for one thing only: whether the quarantine rule held a stored record.
    pub fn apply(&mut self, op: &Op, answers: &[Answer], now: Timestamp) -> Option<String> {
        let items: Vec<&Item> = match op {
            Op::Grant { role, agent } => {
                // A grant is a record (`stemedb:grants-role`, signed by the server key) at the
                // next sequence, and holds after it; granting again writes nothing and answers
                // the first grant's sequence.
                let key = (role.as_str(), AGENTS[*agent].to_owned());
                let granted = match self.roles.get(&key) {
                    Some(granted) => *granted,
                    None => {
                        self.log.push(Rec::grant());
                        let granted = self.log.len() as u64;
                        self.roles.insert(key, granted);
                        granted
                    }
                };
                let want = Answer::Stored {
                    sequence: granted,
                    changed: 0,
                    effective: true,
                    quarantined: false,
                };
                return (answers != [want.clone()])
                    .then(|| format!("grant: model {want:?}, Db {answers:?}"));
            }
            Op::Write(item) => vec![item],
            Op::Batch(items) => items.iter().collect(),
        };
        // A control record's target must be stored: before the batch, or earlier in it.
        for (i, (item, got)) in items.into_iter().zip(answers).enumerate() {
            let want = self.write(item, got, now);
            if want != *got {
                return Some(format!(
                    "record {i} ({}): model {want:?}, Db {got:?}",
                    item.label
                ));
            }
        }
        None
    }

    fn write(&mut self, item: &Item, got: &Answer, now: Timestamp) -> Answer {
        let id = match SignedAssertion::from_wire(item.wire.clone(), &Limits::default()) {
            Ok(a) => a.id.to_hex(),
            Err(stemedb::core::CoreError::Invalid(v)) => return Answer::Refused(v.rule.into()),
            Err(e) => return Answer::Refused(format!("core: {e}")),
        };
        let mut rec = Rec::from_wire(&item.wire, id);
        if rec.timestamp > now.micros() + FUTURE_SKEW_MICROS {
            return Answer::Refused("not_in_future".into());
        }
        if let Some(target) = rec.named_assertion()
            && !self.log.iter().any(|r| &r.id == target)
        {
            return Answer::Refused("target_exists".into());
        }
        if let Some(i) = self.index_of(&rec.id) {
            return Answer::Duplicate {
                sequence: i as u64 + 1,
            };
        }
        // The first stored record of an agent binds it to its key.
        if let Some(first) = self.log.iter().find(|r| r.agent == rec.agent)
            && first.public_key != rec.public_key
        {
            return Answer::Refused("agent_key_conflict".into());
        }
        rec.held = matches!(
            got,
            Answer::Stored {
                quarantined: true,
                ..
            }
        );
        let before = self.derive();
        self.log.push(rec);
        let after = self.derive();
        let new = self.log.len() - 1;
        let changed = (0..new)
            .filter(|&i| self.log[i].kind == Kind::Ordinary && before.stage[i] != after.stage[i])
            .count() as u64;
        Answer::Stored {
            sequence: new as u64 + 1,
            changed,
            effective: after.effective[new],
            quarantined: self.log[new].held,
        }
    }

    fn is_curator(&self, agent: &str, index: usize) -> bool {
        // A role holds for every record after the sequence it was granted at.
        self.roles
            .get(&(Role::Curator.as_str(), agent.to_owned()))
            .is_some_and(|&after| after < index as u64 + 1)
    }

    /// Ordinary records before `end` whose `derived_from` reaches one of `roots`, transitively,
    /// with the roots.
    fn derived_closure(&self, roots: BTreeSet<usize>, end: usize) -> BTreeSet<usize> {
        let mut reached = roots;
        loop {
            let more: Vec<usize> = (0..end)
                .filter(|i| !reached.contains(i) && self.log[*i].kind == Kind::Ordinary)
                .filter(|i| {
                    let parents = &self.log[*i].derived_from;
                    parents
                        .iter()
                        .any(|p| self.index_of(p).is_some_and(|p| reached.contains(&p)))
                })
                .collect();
            if more.is_empty() {
                return reached;
            }
            reached.extend(more);
        }
    }

    /// Retraction `x` reaches `roots` and, when it cascades, what derives from them.
    fn reach(
        &self,
        roots: BTreeSet<usize>,
        cascade: bool,
        x: usize,
        reached: &mut [BTreeSet<usize>],
    ) {
        let tree = if cascade {
            self.derived_closure(roots, x)
        } else {
            roots
        };
        for i in tree {
            reached[i].insert(x);
        }
    }

    /// Every record's stage, recomputed from the whole log in order.
    fn derive(&self) -> State {
        let n = self.log.len();
        let mut base = vec![Base::Active; n];
        // Retractions reaching each record (indexes of retraction records).
        let mut reached: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        // A retraction record that is itself retracted (reinstated): by which.
        let mut undone: Vec<Option<usize>> = vec![None; n];
        // Subject retractions that stand for later arrivals: (index, subject, cascade, curator).
        let mut standing: Vec<(usize, String, bool, bool)> = Vec::new();
        // Curators' epochs: (index, prefix, before).
        let mut epochs: Vec<(usize, String, i64)> = Vec::new();
        let mut effective = vec![false; n];
        let mut votes: BTreeMap<usize, BTreeMap<String, (usize, i8)>> = BTreeMap::new();
        let cascades = |x: usize| matches!(self.log[x].kind, Kind::Retract { cascade: true, .. });
        for s in 0..n {
            let r = &self.log[s];
            let curator = self.is_curator(&r.agent, s);
            let live = |x: usize, undone: &[Option<usize>]| undone[x].is_none();
            let stage_of =
                |i: usize, base: &[Base], reached: &[BTreeSet<usize>], undone: &[Option<usize>]| {
                    if reached[i].iter().any(|x| live(*x, undone)) {
                        "retracted"
                    } else {
                        base_stage(base[i])
                    }
                };
            match &r.kind {
                Kind::Ordinary => {
                    effective[s] = true;
                    if let Some(old) = r.supersedes.as_deref().and_then(|id| self.index_of(id))
                        && (self.log[old].agent == r.agent || curator)
                        && matches!(base[old], Base::Active | Base::Quarantined)
                    {
                        base[old] = Base::Superseded(s);
                    }
                    // Later arrivals: deriving from a record a cascading retraction reaches.
                    let mut by: BTreeSet<usize> = BTreeSet::new();
                    for parent in r.derived_from.iter().filter_map(|p| self.index_of(p)) {
                        if parent < s {
                            by.extend(reached[parent].iter().filter(|x| cascades(**x)));
                        }
                    }
                    // About a retracted subject (curator: anyone's; definer: its own), or
                    // citing one under a cascade.
                    for (x, subject, cascade, by_curator) in &standing {
                        let about =
                            *subject == r.subject && (*by_curator || self.log[*x].agent == r.agent);
                        let citing = *cascade && r.sources.contains(subject);
                        if about || citing {
                            by.insert(*x);
                        }
                    }
                    reached[s] = by.into_iter().filter(|x| live(*x, &undone)).collect();
                    // Whether it arrives retracted or not: the epoch is its stage without
                    // the retraction.
                    let epoch = epochs.iter().find(|(_, prefix, before)| {
                        r.subject.starts_with(prefix.as_str()) && r.timestamp < *before
                    });
                    base[s] = match (epoch, r.held) {
                        (Some((e, _, _)), _) => Base::Superseded(*e),
                        (None, true) => Base::Quarantined,
                        (None, false) => Base::Active,
                    };
                }
                Kind::Retract { target, cascade } => match target {
                    Target::Id(id) => {
                        let Some(t) = self.index_of(id) else { continue };
                        if self.log[t].agent != r.agent && !curator {
                            // A dispute: a down-vote by the signer.
                            votes.entry(t).or_default().insert(r.agent.clone(), (s, -1));
                            continue;
                        }
                        effective[s] = true;
                        if matches!(self.log[t].kind, Kind::Retract { .. }) {
                            // Reinstatement (or a retraction of one): once, for good.
                            undone[t].get_or_insert(s);
                        } else {
                            self.reach(BTreeSet::from([t]), *cascade, s, &mut reached);
                        }
                    }
                    Target::Subject(subject) => {
                        let about: Vec<usize> = (0..s)
                            .filter(|i| {
                                self.log[*i].kind == Kind::Ordinary
                                    && self.log[*i].subject == *subject
                            })
                            .collect();
                        let citers: Vec<usize> = (0..s)
                            .filter(|i| {
                                self.log[*i].kind == Kind::Ordinary
                                    && self.log[*i].sources.contains(subject)
                            })
                            .collect();
                        // The definer signed the earliest assertion about the subject, and
                        // nobody cited it before that (that assertion may cite the subject itself).
                        let definer = !curator
                            && about.first().is_some_and(|&first| {
                                self.log[first].agent == r.agent
                                    && citers.first().is_none_or(|&c| c >= first)
                            });
                        let mut roots: BTreeSet<usize> = about
                            .into_iter()
                            .filter(|i| curator || self.log[*i].agent == r.agent)
                            .collect();
                        let stands = curator || definer;
                        if *cascade && stands {
                            roots.extend(citers);
                        }
                        effective[s] = stands || !roots.is_empty();
                        self.reach(roots, *cascade, s, &mut reached);
                        if stands {
                            standing.push((s, subject.clone(), *cascade, curator));
                        }
                    }
                },
                Kind::Vote { target, up } => {
                    effective[s] = true;
                    if let Some(t) = self.index_of(target) {
                        let vote = if *up { 1 } else { -1 };
                        votes
                            .entry(t)
                            .or_default()
                            .insert(r.agent.clone(), (s, vote));
                    }
                }
                Kind::Epoch { prefix, before } => {
                    effective[s] = curator;
                    if curator {
                        // Retracted records too: `base` is the stage without retraction.
                        for (old, stage) in self.log[..s].iter().zip(base.iter_mut()) {
                            if old.kind == Kind::Ordinary
                                && old.subject.starts_with(prefix.as_str())
                                && old.timestamp < *before
                                && *stage == Base::Active
                            {
                                *stage = Base::Superseded(s);
                            }
                        }
                        epochs.push((s, prefix.clone(), *before));
                    }
                }
                Kind::Review { target, approve } => {
                    effective[s] = curator;
                    if let Some(t) = self.index_of(target)
                        && curator
                        && stage_of(t, &base, &reached, &undone) == "quarantined"
                    {
                        base[t] = if *approve {
                            Base::Active
                        } else {
                            Base::Rejected
                        };
                    }
                }
                Kind::Trust => effective[s] = true,
                Kind::Gold { .. } => effective[s] = curator,
            }
        }
        let mut stage = Vec::with_capacity(n);
        let mut cause = Vec::with_capacity(n);
        for i in 0..n {
            let by = reached[i].iter().copied().find(|x| undone[*x].is_none());
            let (st, c) = match (undone[i], by, base[i]) {
                (Some(y), _, _) => ("retracted", Some(y)),
                (None, Some(x), _) => ("retracted", Some(x)),
                (None, None, Base::Superseded(by)) => ("superseded", Some(by)),
                (None, None, b) => (base_stage(b), None),
            };
            stage.push(st);
            cause.push(c);
        }
        State {
            stage,
            cause,
            effective,
            votes,
        }
    }

    /// Compares the live Db's state with the model's: every record's stage, its
    /// `retracted_by`/`superseded_by` and votes; every group's recency winner; the roles.
    pub fn compare(&self, db: &Snapshot) -> Option<String> {
        let state = self.derive();
        if db.records.len() != self.log.len() {
            return Some(format!(
                "{} records stored, the model has {}",
                db.records.len(),
                self.log.len()
            ));
        }
        for (i, got) in db.records.iter().enumerate() {
            let cause = state.cause[i].map(|c| format!("#{}", c + 1));
            let tally = state.votes.get(&i).map_or((0, 0), |v| {
                let up = v.values().filter(|(_, x)| *x > 0).count() as u64;
                (up, v.len() as u64 - up)
            });
            let want = (state.stage[i], cause, tally);
            let got_cause = match got.stage {
                "retracted" | "superseded" => got.cause.clone(),
                _ => None,
            };
            let id_differs = !self.log[i].id.is_empty() && got.id != self.log[i].id;
            if id_differs || want != (got.stage, got_cause.clone(), got.votes) {
                return Some(format!(
                    "record #{} (stage, cause, votes): model {want:?}, Db {:?}",
                    i + 1,
                    (got.stage, got_cause, got.votes)
                ));
            }
        }
        // Recency: among a group's active records the latest valid time wins, then the later
        // sequence.
        let mut winners: BTreeMap<String, (i64, usize)> = BTreeMap::new();
        for (i, r) in self.log.iter().enumerate() {
            if r.kind == Kind::Ordinary && state.stage[i] == "active" {
                let slot = winners
                    .entry(format!("{} {PREDICATE}", r.subject))
                    .or_default();
                *slot = (*slot).max((r.timestamp, i));
            }
        }
        let want: Vec<(String, String)> = winners
            .into_iter()
            .map(|(group, (_, i))| (group, format!("#{}", i + 1)))
            .collect();
        let got: Vec<(String, String)> = db
            .groups
            .iter()
            .filter(|g| g.lens == stemedb::LensKind::Recency)
            .map(|g| (g.subject.clone(), g.winner.clone()))
            .collect();
        if want != got {
            return Some(format!("recency winners: model {want:?}\n Db {got:?}"));
        }
        for (agent, _, curator, root) in &db.agents {
            let has = |role: Role| self.roles.contains_key(&(role.as_str(), agent.clone()));
            if (*curator, *root) != (has(Role::Curator), has(Role::TrustRoot)) {
                return Some(format!(
                    "roles of {agent}: Db curator={curator} root={root}"
                ));
            }
        }
        None
    }
}

fn base_stage(base: Base) -> &'static str {
    match base {
        Base::Active => "active",
        Base::Superseded(_) => "superseded",
        Base::Quarantined => "quarantined",
        Base::Rejected => "rejected",
    }
}
