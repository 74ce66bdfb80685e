//! The reliability table: every agent's accuracy earned from all the claims stored, as the
//! evidence lens reads it (docs/lenses.md §Evidence). Derived state, like the trust map: a
//! function of the log up to a sequence, recomputed whole, never written.
//!
//! Computing it reads every stored assertion, so reads at the latest state do not wait for
//! it: they use the newest table made (its sequence is in every evidence answer), and
//! [`Db::refresh_reliability`] makes a newer one (the server calls it in the background,
//! spaced by how long the last one took). Reads in the past (`at_sequence`, `known_at`,
//! `as_of`) compute the table of their bound exactly, and keep the last few.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stemedb_core::control::RESERVED_PREFIX;
use stemedb_lens::{
    EvidenceParams, FactClaim, FactEvidence, TrustMap, anchor_accuracy, cluster_key,
    earn_reliability,
};
use stemedb_store::{Bound, GroupKey};

use crate::query::latest_per_agent;
use crate::{Db, DbError, LensKind, Query};

/// Groups read per scan while computing a table (bounds its memory, not its result).
const SCAN_GROUPS_PER_PAGE: usize = 4096;
/// Tables of past bounds kept.
const PAST_TABLES_MAX: usize = 4;

/// One agent's line in the table.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentReliabilityView {
    pub agent_id: String,
    /// The chance that its claim holds, as earned (or its trust chain's floor).
    pub accuracy: f64,
    /// Facts (groups) it has a live claim on.
    pub claims: usize,
    /// Of those, how many name the value the evidence believes.
    pub agreed: usize,
    /// The agent whose claims it repeats soon after, errors included.
    pub copy_of: Option<String>,
    /// Its accuracy has a floor from a trust chain.
    pub anchored: bool,
}

/// An agent's reliability as the evidence lens weighs it now (`GET /v1/agents/{id}`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentReliabilityNow {
    pub accuracy: f64,
    pub claims: usize,
    pub agreed: usize,
    pub copy_of: Option<String>,
    pub anchored: bool,
    /// The newest table's sequence (0: none yet).
    pub table_sequence: u64,
}

/// Every agent's earned accuracy as of one sequence.
#[derive(Debug, Clone, Default)]
pub struct ReliabilityTable {
    /// The last sequence whose records it weighs (0: none yet; everyone at the prior).
    pub sequence: u64,
    /// Facts it was computed from.
    pub facts: usize,
    /// How long computing it took.
    pub took: Duration,
    agents: HashMap<String, AgentReliabilityView>,
}

impl ReliabilityTable {
    pub fn agent(&self, agent_id: &str) -> Option<&AgentReliabilityView> {
        self.agents.get(agent_id)
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// The accuracy a lens uses for `agent_id`: its earned one, or the prior for an agent the
    /// table does not know; never under its trust chain's floor in `trust`.
    pub fn accuracy(&self, agent_id: &str, trust: &TrustMap) -> f64 {
        let earned = self
            .agents
            .get(agent_id)
            .map_or(EvidenceParams::default().prior_accuracy, |a| a.accuracy);
        match trust.entry(agent_id) {
            Some(entry) => earned.max(anchor_accuracy(entry.trust)),
            None => earned,
        }
    }

    /// The agent whose claims `agent_id` copies, if any.
    pub fn copy_of(&self, agent_id: &str) -> Option<&str> {
        self.agents.get(agent_id)?.copy_of.as_deref()
    }
}

/// A past read's bound as a key: (last sequence, `as_of` in microseconds).
type PastBound = (u64, Option<i64>);

/// The tables held: the newest at the latest state, and a few of past bounds.
#[derive(Debug, Default)]
pub(crate) struct ReliabilityCache {
    latest: Mutex<Arc<ReliabilityTable>>,
    past: Mutex<Vec<(PastBound, Arc<ReliabilityTable>)>>,
    /// Held while a table of the latest state is computed, so that two refreshes do not
    /// both do the work.
    computing: Mutex<()>,
}

impl Db {
    /// The table the evidence lens reads at `bound`: the newest made, at the latest state;
    /// the bound's own (computed now if not kept) for a read in the past.
    pub(crate) fn reliability_at(
        &self,
        bound: Bound,
        trust: &TrustMap,
        latest: bool,
    ) -> Result<Arc<ReliabilityTable>, DbError> {
        let cache = &self.reliability;
        if latest {
            return Ok(Arc::clone(&*lock(&cache.latest)?));
        }
        let key = (bound.seq_max, bound.as_of_micros);
        if let Some((_, table)) = lock(&cache.past)?.iter().find(|(k, _)| *k == key) {
            return Ok(Arc::clone(table));
        }
        let table = Arc::new(self.compute_reliability(bound, trust)?);
        let mut past = lock(&cache.past)?;
        past.retain(|(k, _)| *k != key);
        past.push((key, Arc::clone(&table)));
        if past.len() > PAST_TABLES_MAX {
            past.remove(0);
        }
        Ok(table)
    }

    /// The newest table of the latest state.
    pub fn reliability(&self) -> Result<Arc<ReliabilityTable>, DbError> {
        Ok(Arc::clone(&*lock(&self.reliability.latest)?))
    }

    /// `agent_id`'s line in the newest table, as the evidence lens would weigh it now (an
    /// agent the table does not know has the prior, and its trust chain's floor).
    pub fn agent_reliability(&self, agent_id: &str) -> Result<AgentReliabilityNow, DbError> {
        let table = self.reliability()?;
        let trust = self.store.trust_map(Bound::latest())?;
        let line = table.agent(agent_id);
        Ok(AgentReliabilityNow {
            accuracy: table.accuracy(agent_id, &trust),
            claims: line.map_or(0, |l| l.claims),
            agreed: line.map_or(0, |l| l.agreed),
            copy_of: line.and_then(|l| l.copy_of.clone()),
            anchored: trust.entry(agent_id).is_some(),
            table_sequence: table.sequence,
        })
    }

    /// Makes a table of the latest state if the newest one is behind the log. Returns the
    /// table in use afterwards. Blocks while another refresh runs.
    pub fn refresh_reliability(&self) -> Result<Arc<ReliabilityTable>, DbError> {
        let _computing = lock(&self.reliability.computing)?;
        let current = self.reliability()?;
        let applied = self.store.last_sequence();
        if current.sequence >= applied {
            return Ok(current);
        }
        let bound = self.read_bound(Some(applied), None, None)?;
        let trust = self.store.trust_map(bound)?;
        let table = Arc::new(self.compute_reliability(bound, &trust)?);
        *lock(&self.reliability.latest)? = Arc::clone(&table);
        metrics::gauge!("stemedb_reliability_sequence").set(table.sequence as f64);
        metrics::histogram!("stemedb_reliability_compute_seconds").record(table.took.as_secs_f64());
        Ok(table)
    }

    /// Reads every group's live claims at `bound` (one per agent, control records left out)
    /// and earns each agent's accuracy from them.
    fn compute_reliability(
        &self,
        bound: Bound,
        trust: &TrustMap,
    ) -> Result<ReliabilityTable, DbError> {
        let started = Instant::now();
        let mut query = Query::new("*");
        // Any lens but evidence: the reading must not ask for the table being made.
        query.lens = LensKind::Recency;
        query.as_of = bound.as_of_micros.map(stemedb_core::Timestamp);
        let reading = self.reading(&query, bound)?;
        let mut agents = AgentIndex::default();
        let mut facts = Vec::new();
        let mut start: Option<Vec<u8>> = None;
        let control = |g: &GroupKey| !g.predicate.starts_with(RESERVED_PREFIX);
        loop {
            let (page, more) = self.store.scan_groups(
                &[],
                start.as_deref(),
                bound.seq_max,
                SCAN_GROUPS_PER_PAGE,
                &control,
            )?;
            for (_, sequences) in &page {
                let records = latest_per_agent(self.admitted_records(sequences, &reading, false)?);
                if records.is_empty() {
                    continue;
                }
                let mut values: Vec<String> =
                    records.iter().map(|r| cluster_key(&r.value)).collect();
                values.sort();
                values.dedup();
                let mut fact = FactEvidence {
                    values: values.len(),
                    ..FactEvidence::default()
                };
                if records.iter().all(|r| r.value.is_number()) {
                    fact.numbers = vec![0.0; values.len()];
                }
                for r in &records {
                    let key = cluster_key(&r.value);
                    let value = values.binary_search(&key).unwrap_or(0);
                    if let Some(n) = fact.numbers.get_mut(value) {
                        *n = r.value.as_f64().unwrap_or(f64::NAN);
                    }
                    if self.store.is_gold(&r.id, bound)? {
                        fact.gold = Some(value);
                    }
                    fact.claims.push(FactClaim {
                        agent: agents.index(&r.agent_id),
                        value,
                        time_micros: r.timestamp.micros(),
                    });
                }
                facts.push(fact);
            }
            match (more, page.last()) {
                (true, Some((group, _))) => start = Some(group.resume_after()),
                _ => break,
            }
        }
        let anchors: Vec<Option<f64>> = agents
            .names
            .iter()
            .map(|name| trust.entry(name).map(|e| anchor_accuracy(e.trust)))
            .collect();
        let earned = earn_reliability(
            agents.names.len(),
            &anchors,
            &facts,
            &EvidenceParams::default(),
        );
        let by_name: HashMap<String, AgentReliabilityView> = agents
            .names
            .iter()
            .zip(earned)
            .map(|(name, r)| {
                let view = AgentReliabilityView {
                    agent_id: name.clone(),
                    accuracy: r.accuracy,
                    claims: r.claims,
                    agreed: r.agreed,
                    copy_of: r.copy_of.and_then(|c| agents.names.get(c).cloned()),
                    anchored: r.anchored,
                };
                (name.clone(), view)
            })
            .collect();
        Ok(ReliabilityTable {
            sequence: bound.seq_max,
            facts: facts.len(),
            took: started.elapsed(),
            agents: by_name,
        })
    }
}

/// Agent ids numbered in the order first met.
#[derive(Default)]
struct AgentIndex {
    names: Vec<String>,
    numbers: HashMap<String, usize>,
}

impl AgentIndex {
    fn index(&mut self, name: &str) -> usize {
        if let Some(&n) = self.numbers.get(name) {
            return n;
        }
        self.names.push(name.to_owned());
        self.numbers.insert(name.to_owned(), self.names.len() - 1);
        self.names.len() - 1
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, DbError> {
    mutex
        .lock()
        .map_err(|_| DbError::Internal("the reliability table's lock is poisoned"))
}
