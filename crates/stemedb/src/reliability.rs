//! The reliability table: every agent's accuracy earned from all the claims stored, as the
//! evidence lens reads it (docs/lenses.md §Evidence). Derived state, like the trust map: a
//! function of the log up to a sequence, recomputed whole; the newest is kept for the next
//! start (`reliability_file.rs`), never read as anything but a starting table.
//!
//! Computing it reads every stored assertion, so reads at the latest state do not wait for
//! it: they use the newest table made (its sequence is in every evidence answer), and
//! [`Db::refresh_reliability`] makes a newer one (the server calls it in the background,
//! spaced by how long the last one took). Reads in the past (`at_sequence`, `known_at`,
//! `as_of`) compute the table of their bound exactly, and keep the last few.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stemedb_core::control::RESERVED_PREFIX;
use stemedb_lens::{
    EvidenceParams, FactClaim, FactEvidence, TrustMap, anchor_accuracy, cluster_key,
    earn_reliability,
};
use stemedb_store::{Bound, GroupKey};

use crate::disputed::{DisputedGroup, DisputedTop};
use crate::query::{Reading, check_deadline, latest_per_agent};
use crate::{Db, DbError, LensKind, Query};

/// Groups read per scan while computing a table (bounds its memory, not its result).
const SCAN_GROUPS_PER_PAGE: usize = 4096;

/// How a pass learns each record's stage and gold mark. The answers are the same
/// (`tests/it/differential` compares the two on every full check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookups {
    /// One lookup of each per record: the reference.
    PerRecord,
    /// Two whole-index reads per pass (`Store::ever_staged`, `Store::gold_marked`), then a
    /// lookup only for the records they name: what passes use.
    WholeIndex,
}

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
    /// The groups whose live claims disagree most, most disputed first (at most
    /// [`crate::DISPUTED_KEPT`]).
    pub disputed: Vec<DisputedGroup>,
    agents: HashMap<String, AgentReliabilityView>,
}

impl ReliabilityTable {
    /// A table from its parts (`reliability_file.rs` reads one back).
    pub(crate) fn from_parts(
        sequence: u64,
        facts: usize,
        took: Duration,
        disputed: Vec<DisputedGroup>,
        agents: impl Iterator<Item = AgentReliabilityView>,
    ) -> ReliabilityTable {
        ReliabilityTable {
            sequence,
            facts,
            took,
            disputed,
            agents: agents.map(|a| (a.agent_id.clone(), a)).collect(),
        }
    }

    /// Every agent's line, in no particular order.
    pub fn agents(&self) -> impl Iterator<Item = &AgentReliabilityView> {
        self.agents.values()
    }

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
    /// Held while a table of a past bound is computed: one pass over the store at a time,
    /// and a second read of the same bound finds the first one's table.
    computing_past: Mutex<()>,
    /// Set when the server stops: a computation in flight gives up at its next page.
    stopping: AtomicBool,
    /// The newest table was read back at open (`reliability_file.rs`), not made by this run:
    /// the next refresh makes one even if it covers the log, unless
    /// `reliability_read_back_current` took it as current first.
    read_back: AtomicBool,
    /// The build that made the table read back at open, as its file names it.
    read_back_build: Mutex<Option<String>>,
    /// The build of the code running now, once the caller named it (`Db::set_build`).
    build: std::sync::OnceLock<String>,
}

impl Db {
    /// The table the evidence lens reads for `query` at `bound`: the newest made, at the
    /// latest state; for a read in the past, the bound's own (computed now if not kept, within
    /// the query's deadline). A read with only `as_of` weighs the records the newest table
    /// weighs, so that writes since do not make it compute again.
    pub(crate) fn reliability_at(
        &self,
        query: &Query,
        bound: Bound,
        trust: &TrustMap,
    ) -> Result<Arc<ReliabilityTable>, DbError> {
        let cache = &self.reliability;
        let newest = self.reliability()?;
        if query.at_sequence.is_none() && query.known_at.is_none() && query.as_of.is_none() {
            return Ok(newest);
        }
        let mut bound = bound;
        let mut anchored_by = None;
        if query.at_sequence.is_none() && query.known_at.is_none() {
            bound.seq_max = bound.seq_max.min(newest.sequence);
            // The anchors too as of the records weighed, not of the query's own bound.
            anchored_by = Some(self.store.trust_map(bound)?);
        }
        let trust = anchored_by.as_deref().unwrap_or(trust);
        let key = (bound.seq_max, bound.as_of_micros);
        let kept = |past: &[(PastBound, Arc<ReliabilityTable>)]| {
            past.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, t)| Arc::clone(t))
        };
        if let Some(table) = kept(&lock(&cache.past)) {
            return Ok(table);
        }
        let _computing = lock(&cache.computing_past);
        if let Some(table) = kept(&lock(&cache.past)) {
            return Ok(table);
        }
        let table = Arc::new(self.compute_reliability(
            bound,
            trust,
            query.deadline,
            Lookups::WholeIndex,
        )?);
        let mut past = lock(&cache.past);
        past.push((key, Arc::clone(&table)));
        while past.len() > self.config.reliability_past_tables_max.max(1) {
            past.remove(0);
        }
        Ok(table)
    }

    /// Starts from `table` (read back from the data directory at open), made by `build` as its
    /// file names it.
    pub(crate) fn start_reliability_from(&self, table: ReliabilityTable, build: Option<String>) {
        metrics::gauge!("stemedb_reliability_sequence").set(table.sequence as f64);
        *lock(&self.reliability.latest) = Arc::new(table);
        *lock(&self.reliability.read_back_build) = build;
        self.reliability.read_back.store(true, Ordering::Relaxed);
    }

    /// Names the build of the code running now (the server passes a hash of its executable):
    /// tables kept from now on name it, and a table read back at open that this same build made
    /// over the whole log can be taken as current (`reliability_read_back_current`). A second
    /// call changes nothing: one process runs one build.
    pub fn set_build(&self, build: String) {
        let _ = self.reliability.build.set(build);
    }

    /// The build named by `set_build`, if any.
    pub(crate) fn build(&self) -> Option<&str> {
        self.reliability.build.get().map(String::as_str)
    }

    /// Takes the table read back at open as current, and returns its sequence, when it covers
    /// the whole log and this same build made it (`set_build`; the open already held it to
    /// these settings and this log): a pass would compute that very table (it is a function of
    /// the log, the settings, the code, and the derived state the writer keeps from the log,
    /// which only a rebuild in place changes, and a rebuild deletes the kept table first:
    /// `forget_kept_reliability`), so the first refresh does not make it again.
    /// `None` otherwise: the first refresh makes it again, as for a table of another build.
    pub fn reliability_read_back_current(&self) -> Option<u64> {
        let _computing = lock(&self.reliability.computing);
        if !self.reliability.read_back.load(Ordering::Relaxed) {
            return None;
        }
        let build = self.reliability.build.get()?;
        if lock(&self.reliability.read_back_build).as_deref() != Some(build.as_str()) {
            return None;
        }
        let sequence = lock(&self.reliability.latest).sequence;
        if sequence < self.store.last_sequence() {
            return None;
        }
        self.reliability.read_back.store(false, Ordering::Relaxed);
        Some(sequence)
    }

    /// Makes every computation of a table in flight give up (the server is stopping).
    pub fn stop_reliability(&self) {
        self.reliability.stopping.store(true, Ordering::Relaxed);
    }

    /// The newest table of the latest state.
    pub fn reliability(&self) -> Result<Arc<ReliabilityTable>, DbError> {
        Ok(Arc::clone(&*lock(&self.reliability.latest)))
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

    /// Whether [`Db::refresh_reliability`] would make a table now: the newest is behind the
    /// log, or was read back at open rather than made by this run.
    pub fn reliability_behind(&self) -> bool {
        let current = lock(&self.reliability.latest).sequence;
        current < self.store.last_sequence() || self.reliability.read_back.load(Ordering::Relaxed)
    }

    /// Makes a table of the latest state if the newest one is behind the log, or was read back
    /// at open rather than made by this run. Returns the table in use afterwards. Blocks while
    /// another refresh runs.
    pub fn refresh_reliability(&self) -> Result<Arc<ReliabilityTable>, DbError> {
        self.refresh_reliability_by(None)
    }

    /// [`Db::refresh_reliability`], giving up with [`DbError::DeadlineExceeded`] at `deadline`
    /// (the table in use is then left as it was): the server's pass at the lowest scheduling
    /// priority, which a busy machine may starve, has one.
    pub fn refresh_reliability_by(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Arc<ReliabilityTable>, DbError> {
        let _computing = lock(&self.reliability.computing);
        if !self.reliability_behind() {
            return self.reliability();
        }
        let applied = self.store.last_sequence();
        let bound = self.read_bound(Some(applied), None, None)?;
        let trust = self.store.trust_map(bound)?;
        let table =
            Arc::new(self.compute_reliability(bound, &trust, deadline, Lookups::WholeIndex)?);
        // The table replaced is freed after the lock is let go: a pass may run at the lowest
        // scheduling priority, and readers of the newest table wait for this lock.
        let replaced = std::mem::replace(&mut *lock(&self.reliability.latest), Arc::clone(&table));
        drop(replaced);
        self.reliability.read_back.store(false, Ordering::Relaxed);
        metrics::gauge!("stemedb_reliability_sequence").set(table.sequence as f64);
        metrics::histogram!("stemedb_reliability_compute_seconds").record(table.took.as_secs_f64());
        Ok(table)
    }

    /// The table of the log up to `seq_max`, computed now with `lookups` and not kept: for
    /// tests that compare the two ways, and for measuring a pass.
    pub fn reliability_table_at(
        &self,
        seq_max: u64,
        lookups: Lookups,
    ) -> Result<ReliabilityTable, DbError> {
        let bound = self.read_bound(Some(seq_max), None, None)?;
        let trust = self.store.trust_map(bound)?;
        self.compute_reliability(bound, &trust, None, lookups)
    }

    /// Reads every group's live claims at `bound` (one per agent, control records left out)
    /// and earns each agent's accuracy from them. Stops at `deadline`, or when the server
    /// stops.
    fn compute_reliability(
        &self,
        bound: Bound,
        trust: &TrustMap,
        deadline: Option<Instant>,
        lookups: Lookups,
    ) -> Result<ReliabilityTable, DbError> {
        let started = Instant::now();
        let mut query = Query::new("*");
        // Any lens but evidence: the reading must not ask for the table being made.
        query.lens = LensKind::Recency;
        query.as_of = bound.as_of_micros.map(stemedb_core::Timestamp);
        query.deadline = deadline;
        let mut reading = self.reading(&query, bound)?;
        // Taken after the bound is fixed, so they hold every event and mark it admits.
        let gold_marked = match lookups {
            Lookups::PerRecord => None,
            Lookups::WholeIndex => {
                reading.ever_staged = Some(self.store.ever_staged(bound.seq_max)?);
                Some(self.store.gold_marked()?)
            }
        };
        let mut agents = AgentIndex::default();
        let mut facts = Vec::new();
        let mut disputed = DisputedTop::default();
        let mut start: Option<Vec<u8>> = None;
        let control = |g: &GroupKey| !g.predicate.starts_with(RESERVED_PREFIX);
        let stopping = || {
            self.reliability
                .stopping
                .load(Ordering::Relaxed)
                .then_some(DbError::DeadlineExceeded {
                    work: "the reliability table (the server is stopping)",
                })
        };
        loop {
            let (page, more) = self.store.scan_groups(
                &[],
                start.as_deref(),
                bound.seq_max,
                SCAN_GROUPS_PER_PAGE,
                &control,
            )?;
            for (group, sequences) in &page {
                // Looked at for every group: a pass at the lowest priority on busy cores may
                // take long over a page, and the server's stop waits for it.
                if let Some(stopped) = stopping() {
                    return Err(stopped);
                }
                check_deadline(deadline, facts.len(), "the reliability table")?;
                if let Some(fact) =
                    self.group_evidence(sequences, &reading, gold_marked.as_ref(), &mut agents)?
                {
                    disputed.offer(group, &fact);
                    facts.push(fact);
                }
            }
            match (more, page.last()) {
                (true, Some((group, _))) => start = Some(group.resume_after()),
                _ => break,
            }
        }
        let (names, facts) = agents.sorted(facts);
        let anchors: Vec<Option<f64>> = names
            .iter()
            .map(|name| trust.entry(name).map(|e| anchor_accuracy(e.trust)))
            .collect();
        let earned = earn_reliability(names.len(), &anchors, &facts, &self.config.evidence);
        let by_name: HashMap<String, AgentReliabilityView> = names
            .iter()
            .zip(earned)
            .map(|(name, r)| {
                let view = AgentReliabilityView {
                    agent_id: name.clone(),
                    accuracy: r.accuracy,
                    claims: r.claims,
                    agreed: r.agreed,
                    copy_of: r.copy_of.and_then(|c| names.get(c).cloned()),
                    anchored: r.anchored,
                };
                (name.clone(), view)
            })
            .collect();
        Ok(ReliabilityTable {
            sequence: bound.seq_max,
            facts: facts.len(),
            took: started.elapsed(),
            disputed: disputed.finish(),
            agents: by_name,
        })
    }

    /// One group's live claims as a fact of the table (`None` when none is live): one per
    /// agent, values told apart by cluster key, the first gold mark (looked up only for the
    /// records in `gold_marked`, when given).
    fn group_evidence(
        &self,
        sequences: &[u64],
        reading: &Reading<'_>,
        gold_marked: Option<&HashSet<u64>>,
        agents: &mut AgentIndex,
    ) -> Result<Option<FactEvidence>, DbError> {
        let records = latest_per_agent(self.admitted_records(sequences, reading, false)?);
        if records.is_empty() {
            return Ok(None);
        }
        let mut values: Vec<String> = records.iter().map(|r| cluster_key(&r.value)).collect();
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
            let value = values.binary_search(&cluster_key(&r.value)).unwrap_or(0);
            if let Some(n) = fact.numbers.get_mut(value) {
                *n = r.value.as_f64().unwrap_or(f64::NAN);
            }
            if fact.gold.is_none()
                && gold_marked.is_none_or(|marked| marked.contains(&r.sequence))
                && self.store.is_gold(&r.id, reading.bound)?
            {
                fact.gold = Some(value);
            }
            fact.claims.push(FactClaim {
                agent: agents.index(&r.agent_id),
                value,
                time_micros: r.timestamp.micros(),
            });
        }
        Ok(Some(fact))
    }
}

/// Agent ids numbered in the order first met.
#[derive(Default)]
struct AgentIndex {
    names: Vec<String>,
    numbers: HashMap<String, usize>,
}

impl AgentIndex {
    /// The names sorted, and `facts` with their agents numbered in that order: the table
    /// then does not depend on the order the groups were read in.
    fn sorted(self, mut facts: Vec<FactEvidence>) -> (Vec<String>, Vec<FactEvidence>) {
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        order.sort_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        let mut renumber = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            renumber[old] = new;
        }
        for fact in &mut facts {
            for claim in &mut fact.claims {
                claim.agent = renumber[claim.agent];
            }
        }
        let names = order.iter().map(|&i| self.names[i].clone()).collect();
        (names, facts)
    }

    fn index(&mut self, name: &str) -> usize {
        if let Some(&n) = self.numbers.get(name) {
            return n;
        }
        self.names.push(name.to_owned());
        self.numbers.insert(name.to_owned(), self.names.len() - 1);
        self.names.len() - 1
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // What these locks guard is replaced whole (a table, a list of tables) or is nothing:
    // a panic while one was held leaves nothing half-written, so the lock is taken anyway.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
