//! The store's reads of truth-maintenance state: stages, marks, votes, gold standards, trust,
//! roles and quarantine, each bounded by the durable sequence. The state itself, and what
//! it means, is `crate::truth`'s.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use stemedb_core::AssertionId;
use stemedb_lens::TrustMap;

use crate::cache::AgentCount;
use crate::error::StoreError;
use crate::group_walk::{Page, fill};
use crate::keys::{decode_seq, name_seq_key, tail_u64};
use crate::role::Role;
use crate::store::Store;
use crate::truth::read;
use crate::truth::{Bound, Mark, MarkKind, QuarantineEntry, QuarantineRule, StageAt, VoteTally};

impl Store {
    fn bounded(&self, bound: Bound) -> Bound {
        Bound {
            seq_max: bound.seq_max.min(self.last_sequence()),
            as_of_micros: bound.as_of_micros,
        }
    }

    /// The stage of the record at `sequence` as of `bound`.
    pub fn stage_at(&self, sequence: u64, bound: Bound) -> Result<StageAt, StoreError> {
        read::stage_at(&*self.shared()?, sequence, self.bounded(bound))
    }

    /// The sequence of a stored id.
    pub fn sequence_of(&self, id: &AssertionId) -> Result<Option<u64>, StoreError> {
        match self.shared()?.ks().ids.get(id.as_bytes())? {
            Some(v) => decode_seq(&v, "ids").map(Some),
            None => Ok(None),
        }
    }

    /// Control-record marks under a target, as of `bound`.
    pub fn marks(&self, target: &str, bound: Bound) -> Result<Vec<Mark>, StoreError> {
        let bound = self.bounded(bound);
        Ok(read::marks(&*self.shared()?, target)?
            .into_iter()
            .filter(|m| bound.admits(m.seq, m.valid_micros))
            .collect())
    }

    /// The latest vote of each agent on an assertion (disputes count as down-votes).
    pub fn votes(&self, id: &AssertionId, bound: Bound) -> Result<VoteTally, StoreError> {
        let mut latest: HashMap<String, (u64, i8)> = HashMap::new();
        for mark in self.marks(&id.to_hex(), bound)? {
            let vote = match mark.kind {
                MarkKind::Vote if mark.number > 0.0 => 1,
                MarkKind::Vote | MarkKind::Dispute => -1,
                _ => continue,
            };
            let slot = latest.entry(mark.agent).or_insert((0, 0));
            if mark.seq >= slot.0 {
                *slot = (mark.seq, vote);
            }
        }
        let mut votes: Vec<(String, i8)> = latest.into_iter().map(|(a, (_, v))| (a, v)).collect();
        votes.sort();
        Ok(VoteTally {
            up: votes.iter().filter(|(_, v)| *v > 0).count() as u64,
            down: votes.iter().filter(|(_, v)| *v < 0).count() as u64,
            votes,
        })
    }

    /// Whether a curator has marked the assertion as the gold standard (as of `bound`).
    pub fn is_gold(&self, id: &AssertionId, bound: Bound) -> Result<bool, StoreError> {
        Ok(self
            .marks(&id.to_hex(), bound)?
            .iter()
            .any(|m| m.kind == MarkKind::GoldStandard && m.effective))
    }

    /// Every sequence up to `seq_max` that has had a stage event (retracted, superseded,
    /// quarantined, or reinstated since), ascending: any other record is active at every
    /// bound. Read once by a pass over the whole store instead of a lookup per record; taken
    /// after the pass fixes its bound, it holds every event that bound admits.
    pub fn ever_staged(&self, seq_max: u64) -> Result<Vec<u64>, StoreError> {
        read::ever_staged(&*self.shared()?, seq_max)
    }

    /// Every sequence a curator has marked gold at any time: a superset of the records
    /// [`Store::is_gold`] finds at any bound, for a pass that asks about every record.
    pub fn gold_marked(&self) -> Result<HashSet<u64>, StoreError> {
        read::gold_marked(&*self.shared()?)
    }

    /// Sequences of gold-standard assertions in a (subject, predicate) group.
    pub fn gold_in_group(&self, subject: &str, predicate: &str) -> Result<Vec<u64>, StoreError> {
        read::gold_in_group(&*self.shared()?, subject, predicate)
    }

    /// Everyone's trust as of `bound`.
    pub fn trust_map(&self, bound: Bound) -> Result<Arc<TrustMap>, StoreError> {
        read::trust_map(&*self.shared()?, self.bounded(bound))
    }

    /// Records whose `derived_from` names the record at `sequence`.
    pub fn children(&self, sequence: u64) -> Result<Vec<u64>, StoreError> {
        read::children(&*self.shared()?, sequence, self.last_sequence())
    }

    /// Sequences (≤ `seq_max`) of records whose subject is exactly `subject` (e.g. a source's
    /// description), ascending; the first `count_max` of them, read without reading the rest
    /// of a large group.
    pub fn sequences_about(
        &self,
        subject: &str,
        seq_max: u64,
        count_max: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let mut prefix = subject.as_bytes().to_vec();
        prefix.push(0);
        let bound = seq_max.min(self.last_sequence());
        // A group's first `count_max` hold every sequence of the first `count_max` overall.
        let mut page = Page::new(usize::MAX, count_max);
        fill(&*self.shared()?, &prefix, None, bound, &|_| true, &mut page)?;
        let mut out: Vec<u64> = page.groups.into_iter().flat_map(|(_, s)| s).collect();
        out.sort_unstable();
        out.truncate(count_max);
        Ok(out)
    }

    /// Assertions waiting in quarantine, oldest first, after `after` (for paging).
    pub fn quarantined(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<QuarantineEntry>, StoreError> {
        read::quarantined(&*self.shared()?, after, limit, self.last_sequence())
    }

    /// The quarantine rule that holds the record at `sequence`, if it is in quarantine.
    pub fn quarantine_rule(&self, sequence: u64) -> Result<Option<QuarantineRule>, StoreError> {
        read::quarantine_rule(&*self.shared()?, sequence)
    }

    /// Whether `agent` holds `role` for records after the current last sequence, by a durable
    /// grant (the roles map holds a grant from its derivation on, before its fsync).
    pub fn has_role(&self, role: Role, agent: &str) -> bool {
        let at = self.last_sequence().saturating_add(1);
        self.shared()
            .is_ok_and(|shared| read::has_role(&shared, role, agent, at))
    }

    /// Agents holding `role` by a durable grant, sorted.
    pub fn agents_with_role(&self, role: Role) -> Vec<String> {
        let Ok(shared) = self.shared() else {
            return Vec::new();
        };
        let durable = self.last_sequence();
        let mut out: Vec<String> = shared
            .truth_cache()
            .map(|c| {
                c.roles
                    .iter()
                    .filter(|((r, _), granted)| *r == role && **granted <= durable)
                    .map(|((_, a), _)| a.clone())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// How many records an agent has signed (up to the durable sequence): the count made
    /// last time (`AgentCounts`) plus the agent's records since, so that a request scans only
    /// what was written after the one before it.
    pub fn agent_record_count(&self, agent: &str) -> Result<u64, StoreError> {
        let shared = self.shared()?;
        // The rebuild count before the bound: a rebuild that starts after this read bumps it
        // again when it ends, voiding what this count keeps.
        let rebuilds = shared.groups_rebuilds();
        let bound = self.last_sequence();
        let known = shared.agent_counts()?.get(agent, rebuilds, bound);
        let (mut records, from) = known.map_or((0, 0), |c| (c.records, c.as_of + 1));
        if from <= bound {
            let range = name_seq_key(agent, from)..=name_seq_key(agent, bound);
            for guard in shared.ks().by_agent.range(range) {
                guard.key()?;
                records += 1;
            }
        }
        let count = AgentCount {
            records,
            as_of: bound,
            rebuilds,
        };
        shared.agent_counts()?.put(agent, count);
        Ok(records)
    }

    /// The sequences of the records `agent` signed that are below `before` (and durable),
    /// newest first, at most `limit`.
    pub fn agent_sequences(
        &self,
        agent: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let below = before.min(self.last_sequence().saturating_add(1));
        let mut out = Vec::new();
        let range = name_seq_key(agent, 0)..name_seq_key(agent, below);
        for guard in self.shared()?.ks().by_agent.range(range).rev() {
            if out.len() >= limit {
                break;
            }
            out.push(tail_u64(&guard.key()?, "by_agent")?);
        }
        Ok(out)
    }

    /// The records retraction `cause` (its sequence) reached, by sequence, those above
    /// `after` and durable, at most `limit`: the effect index the writer keeps for undoing a
    /// retraction. (An effect is derived before its record's fsync; past the durable
    /// sequence it names a record that readers cannot load yet, or ever, if that sync fails.)
    pub fn retraction_effects(
        &self,
        cause: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        use crate::truth::{TAG_EFFECT_BY_CAUSE, key2};
        let shared = self.shared()?;
        let durable = self.last_sequence();
        if after >= durable {
            return Ok(Vec::new());
        }
        let range = key2(TAG_EFFECT_BY_CAUSE, cause, after.saturating_add(1))
            ..=key2(TAG_EFFECT_BY_CAUSE, cause, durable);
        let mut out = Vec::new();
        for guard in shared.ks().truth.range(range).take(limit) {
            out.push(tail_u64(&guard.key()?, "truth/effects")?);
        }
        Ok(out)
    }
}
