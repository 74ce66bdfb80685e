//! Reading truth-maintenance state: stages as of a point in time, marks, votes, trust, roles
//! and quarantine. Every read is bounded by the durable sequence, so a reader never sees the
//! effects of a record that is not yet acknowledged.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use stemedb_lens::{TrustEdge, TrustMap, compute_trust};

use super::{
    Event, QuarantineRule, Stage, TAG_EFFECT_BY_TARGET, TAG_GOLD, TAG_MARK, TAG_PARENT,
    TAG_QUARANTINE, be_u64, decode_event, key1, name_prefix, tail_u64,
};
use crate::cache::{RareMarkers, TruthCache};
use crate::engine::Shared;
use crate::error::StoreError;
use crate::role::Role;

/// A control record's entry under its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub seq: u64,
    pub kind: MarkKind,
    /// The signer had the right (author or curator) and the record took effect.
    pub effective: bool,
    pub cascade: bool,
    /// The control record's valid time.
    pub valid_micros: i64,
    /// Vote ±1, trust weight, or an epoch's `before` (µs).
    pub number: f64,
    /// The signer.
    pub agent: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    Retraction,
    Vote,
    /// A retraction without the right to retract: counted as a down-vote.
    Dispute,
    Trust,
    GoldStandard,
    Epoch,
    Review,
}

impl MarkKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            MarkKind::Retraction => b'R',
            MarkKind::Vote => b'V',
            MarkKind::Dispute => b'D',
            MarkKind::Trust => b'T',
            MarkKind::GoldStandard => b'G',
            MarkKind::Epoch => b'E',
            MarkKind::Review => b'Q',
        }
    }
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            b'R' => MarkKind::Retraction,
            b'V' => MarkKind::Vote,
            b'D' => MarkKind::Dispute,
            b'T' => MarkKind::Trust,
            b'G' => MarkKind::GoldStandard,
            b'E' => MarkKind::Epoch,
            b'Q' => MarkKind::Review,
            _ => return None,
        })
    }
}

impl Mark {
    /// `kind u8 | flags u8 (1 effective, 2 cascade) | valid_micros be8 | number f64 be8 | agent`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(18 + self.agent.len());
        v.push(self.kind.code());
        v.push(u8::from(self.effective) | (u8::from(self.cascade) << 1));
        v.extend_from_slice(&self.valid_micros.to_be_bytes());
        v.extend_from_slice(&self.number.to_be_bytes());
        v.extend_from_slice(self.agent.as_bytes());
        v
    }

    pub(crate) fn decode(key: &[u8], value: &[u8]) -> Result<Mark, StoreError> {
        let bad = |reason: &str| StoreError::CorruptIndex {
            index: "truth/marks",
            reason: reason.to_owned(),
        };
        let kind = value
            .first()
            .copied()
            .and_then(MarkKind::from_code)
            .ok_or_else(|| bad("unknown mark kind"))?;
        let flags = *value.get(1).ok_or_else(|| bad("short value"))?;
        let agent = value
            .get(18..)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| bad("agent is not UTF-8"))?;
        Ok(Mark {
            seq: tail_u64(key, "truth/marks")?,
            kind,
            effective: flags & 1 != 0,
            cascade: flags & 2 != 0,
            valid_micros: be_u64(value, 2, "truth/marks")? as i64,
            number: f64::from_bits(be_u64(value, 10, "truth/marks")?),
            agent: agent.to_owned(),
        })
    }
}

/// An assertion's stage at a point in time, with the record that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageAt {
    pub stage: Stage,
    /// The retraction, superseding record, epoch or review behind the stage; `None` when active
    /// from the start.
    pub cause: Option<u64>,
}

/// Live votes on an assertion: the latest vote of each agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoteTally {
    pub up: u64,
    pub down: u64,
    /// (voter, +1 or −1), sorted by voter.
    pub votes: Vec<(String, i8)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    pub sequence: u64,
    pub rule: QuarantineRule,
}

/// The visibility bound of a read: records and control records with sequence ≤ `seq_max`
/// and, when given, valid time ≤ `as_of_micros`.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub seq_max: u64,
    pub as_of_micros: Option<i64>,
}

impl Bound {
    pub fn latest() -> Self {
        Self {
            seq_max: u64::MAX,
            as_of_micros: None,
        }
    }
    pub(crate) fn admits(&self, seq: u64, micros: i64) -> bool {
        seq <= self.seq_max && self.as_of_micros.is_none_or(|t| micros <= t)
    }
}

/// The latest event of `target` that `bound` admits.
pub(crate) fn stage_event(
    shared: &Shared,
    target: u64,
    bound: Bound,
) -> Result<Option<Event>, StoreError> {
    if !shared.truth_cache()?.events.may_have(target) {
        return Ok(None);
    }
    if shared
        .ks()
        .truth
        .get(key1(super::TAG_HAS_EVENTS, target))?
        .is_none()
    {
        return Ok(None);
    }
    for guard in shared
        .ks()
        .truth
        .prefix(key1(super::TAG_STAGE, target))
        .rev()
    {
        let (key, value) = guard.into_inner()?;
        let event = decode_event(&key, &value)?;
        if bound.admits(event.seq, event.micros) {
            return Ok(Some(event));
        }
    }
    Ok(None)
}

pub(crate) fn stage_now(shared: &Shared, target: u64) -> Result<StageAt, StoreError> {
    stage_at(shared, target, Bound::latest())
}

/// The stage of `target` as of `bound`.
pub(crate) fn stage_at(shared: &Shared, target: u64, bound: Bound) -> Result<StageAt, StoreError> {
    Ok(to_stage_at(stage_event(shared, target, bound)?))
}

fn to_stage_at(event: Option<Event>) -> StageAt {
    match event {
        None => StageAt {
            stage: Stage::Active,
            cause: None,
        },
        Some(e) => StageAt {
            stage: e.stage,
            cause: Some(e.cause),
        },
    }
}

/// Marks under `target` (an id in hex, a subject, `agent/<id>` or an epoch prefix).
pub(crate) fn marks(shared: &Shared, target: &str) -> Result<Vec<Mark>, StoreError> {
    let mut out = Vec::new();
    let marked = super::name_key(super::TAG_MARKED, target, 0);
    if !holds_marker(shared, |c| &c.marked, &marked)? {
        return Ok(out);
    }
    for guard in shared.ks().truth.prefix(name_prefix(TAG_MARK, target)) {
        let (key, value) = guard.into_inner()?;
        out.push(Mark::decode(&key, &value)?);
    }
    Ok(out)
}

/// Whether the truth keyspace holds the marker `key`: the in-memory set that `set` picks
/// answers a certain no (`RareMarkers`), the engine every maybe.
pub(crate) fn holds_marker(
    shared: &Shared,
    set: fn(&TruthCache) -> &RareMarkers,
    key: &[u8],
) -> Result<bool, StoreError> {
    if !set(&*shared.truth_cache()?).may_hold(key) {
        return Ok(false);
    }
    Ok(shared.ks().truth.get(key)?.is_some())
}

/// Retractions that still stand and reach `target`: (cause, its valid time, cascades).
pub(crate) fn live_causes(
    shared: &Shared,
    target: u64,
) -> Result<Vec<(u64, i64, bool)>, StoreError> {
    let mut out = Vec::new();
    for guard in shared.ks().truth.prefix(key1(TAG_EFFECT_BY_TARGET, target)) {
        let (key, value) = guard.into_inner()?;
        let cause = tail_u64(&key, "truth/effects")?;
        if stage_now(shared, cause)?.stage != Stage::Retracted {
            let cascade = value.get(8).is_some_and(|b| *b != 0);
            out.push((cause, be_u64(&value, 0, "truth/effects")? as i64, cascade));
        }
    }
    Ok(out)
}

pub(crate) fn has_role(shared: &Shared, role: Role, agent: &str, at_seq: u64) -> bool {
    shared
        .truth_cache()
        .ok()
        .and_then(|c| c.roles.get(&(role, agent.to_owned())).copied())
        .is_some_and(|granted| granted < at_seq)
}

/// The trust map under `bound`, cached for the latest state. A bound below the record that
/// last changed trust (derived, not yet published: its grant or statement is being synced)
/// neither reads nor fills the cache: its map lacks that change, and cached under the new
/// version it would have been every later reader's (an arena run once answered without a
/// root granted just before; `stemedb-cli/tests/it/grants.rs`).
pub(crate) fn trust_map(shared: &Shared, bound: Bound) -> Result<Arc<TrustMap>, StoreError> {
    let (version, changed_at) = shared
        .truth_cache()
        .map(|c| (c.trust_version, c.trust_changed_at))
        .unwrap_or((0, u64::MAX));
    let latest = bound.as_of_micros.is_none()
        && bound.seq_max >= shared.durable_seq()
        && bound.seq_max >= changed_at;
    if latest
        && let Ok(cache) = shared.truth_cache()
        && let Some((v, map)) = &cache.trust_latest
        && *v == version
    {
        return Ok(Arc::clone(map));
    }
    let (roots, params) = {
        let cache = shared.truth_cache()?;
        let mut roots: Vec<String> = cache
            .roles
            .iter()
            .filter(|((role, _), granted)| *role == Role::TrustRoot && **granted <= bound.seq_max)
            .map(|((_, agent), _)| agent.clone())
            .collect();
        roots.sort();
        (roots, shared.policy().trust)
    };
    let map = Arc::new(compute_trust(&roots, &trust_edges(shared, bound)?, params));
    if latest && let Ok(mut cache) = shared.truth_cache_mut() {
        cache.trust_latest = Some((version, Arc::clone(&map)));
    }
    Ok(map)
}

/// The live trust statements: the latest of each (truster, trustee) pair under `bound`.
fn trust_edges(shared: &Shared, bound: Bound) -> Result<Vec<TrustEdge>, StoreError> {
    let mut latest: HashMap<(String, String), (u64, f64)> = HashMap::new();
    let mut prefix = vec![TAG_MARK];
    prefix.extend_from_slice(stemedb_core::control::AGENT_SUBJECT_PREFIX.as_bytes());
    for guard in shared.ks().truth.prefix(prefix) {
        let (key, value) = guard.into_inner()?;
        let mark = Mark::decode(&key, &value)?;
        if mark.kind != MarkKind::Trust || !bound.admits(mark.seq, mark.valid_micros) {
            continue;
        }
        let trustee = key
            .get(1 + stemedb_core::control::AGENT_SUBJECT_PREFIX.len()..key.len() - 9)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
            .to_owned();
        let slot = latest.entry((mark.agent, trustee)).or_insert((0, 0.0));
        if mark.seq >= slot.0 {
            *slot = (mark.seq, mark.number);
        }
    }
    let mut edges: Vec<TrustEdge> = latest
        .into_iter()
        .map(|((truster, trustee), (_, weight))| TrustEdge {
            truster,
            trustee,
            weight,
        })
        .collect();
    edges.sort_by(|a, b| (&a.truster, &a.trustee).cmp(&(&b.truster, &b.trustee)));
    Ok(edges)
}

pub(crate) fn gold_in_group(
    shared: &Shared,
    subject: &str,
    predicate: &str,
) -> Result<Vec<u64>, StoreError> {
    let mut prefix = name_prefix(TAG_GOLD, subject);
    prefix.extend_from_slice(predicate.as_bytes());
    prefix.push(0);
    let mut out = Vec::new();
    for guard in shared.ks().truth.prefix(prefix) {
        out.push(tail_u64(&guard.key()?, "truth/gold")?);
    }
    Ok(out)
}

/// Every sequence up to `seq_max` with a stage event at any time (the `H target` keys), in
/// ascending order: a record not in it is active at every bound, as [`stage_event`] finds
/// with a point lookup each. (A sorted list: 8 bytes a record where a workload stages most.)
pub(crate) fn ever_staged(shared: &Shared, seq_max: u64) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    let range = key1(super::TAG_HAS_EVENTS, 0)..=key1(super::TAG_HAS_EVENTS, seq_max);
    for guard in shared.ks().truth.range(range) {
        out.push(be_u64(&guard.key()?, 1, "truth/has-events")?);
    }
    Ok(out)
}

/// Every sequence ever marked gold by a curator (the tail of each `G subject 0 predicate 0
/// seq` key): a superset of the records gold at any bound.
pub(crate) fn gold_marked(shared: &Shared) -> Result<HashSet<u64>, StoreError> {
    let mut out = HashSet::new();
    for guard in shared.ks().truth.prefix([TAG_GOLD]) {
        out.insert(tail_u64(&guard.key()?, "truth/gold")?);
    }
    Ok(out)
}

/// Records whose `derived_from` names the record at `sequence`, up to `seq_max`.
pub(crate) fn children(
    shared: &Shared,
    sequence: u64,
    seq_max: u64,
) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    for guard in shared.ks().truth.prefix(key1(TAG_PARENT, sequence)) {
        let child = tail_u64(&guard.key()?, "truth/parents")?;
        if child <= seq_max {
            out.push(child);
        }
    }
    Ok(out)
}

/// Up to `limit` assertions waiting in quarantine after `after`, up to `seq_max`, oldest first.
pub(crate) fn quarantined(
    shared: &Shared,
    after: u64,
    limit: usize,
    seq_max: u64,
) -> Result<Vec<QuarantineEntry>, StoreError> {
    let mut out = Vec::new();
    for guard in shared
        .ks()
        .truth
        .range(key1(TAG_QUARANTINE, after.saturating_add(1))..key1(TAG_QUARANTINE, u64::MAX))
    {
        let (key, value) = guard.into_inner()?;
        let sequence = tail_u64(&key, "truth/quarantine")?;
        if sequence > seq_max {
            break;
        }
        let rule = value
            .first()
            .copied()
            .and_then(QuarantineRule::from_code)
            .ok_or(StoreError::CorruptIndex {
                index: "truth/quarantine",
                reason: "unknown rule".into(),
            })?;
        out.push(QuarantineEntry { sequence, rule });
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// The quarantine rule that holds (or held) the record at `sequence`: from the review list
/// (`Q`), else from `W` (held while a retraction, or a supersession, holds it now; a read in
/// the past may still see it quarantined).
pub(crate) fn quarantine_rule(
    shared: &Shared,
    sequence: u64,
) -> Result<Option<QuarantineRule>, StoreError> {
    let truth = &shared.ks().truth;
    let value = match truth.get(key1(TAG_QUARANTINE, sequence))? {
        Some(v) => Some(v),
        None => truth.get(key1(super::TAG_HELD_WHILE_RETRACTED, sequence))?,
    };
    Ok(value.and_then(|v| v.first().copied().and_then(QuarantineRule::from_code)))
}
