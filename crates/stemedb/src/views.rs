//! Records' lens fields, parsed once and kept by group (`ViewCache`), so that a winner query
//! ranks its group from memory and reads from the log only the record it answers with.
//!
//! Why: a query ranks every record of its group, and each one was read from the store's
//! record cache (or, once the store outgrows that, from the log) and its JSON body parsed
//! again. At 10 M stored those reads were 36 % of the server's CPU per winner query, and the
//! reason the query cost twice what it cost at 100 k (docs/benchmarks.md, "Eighteenth
//! session"). An entry holds the fields a lens reads of some of a group's records, about a
//! hundred bytes each where the record cache holds the whole body, under one key.
//!
//! Invariant: what an entry holds for a sequence is what the log holds at that sequence. It
//! holds because an entry is made only from records read through `Store::get_by_sequence`,
//! which reads only durable sequences, or offered by the write path for a record the writer
//! answered `Appended` (durable: after the commit's fsync, or a quorum's in cluster mode), with
//! the sequence and `recorded_at` the writer gave it and only a value that parses back from
//! the canonical bytes as the same `Value` (`reads_back_the_same`); and the record at a
//! durable sequence never changes
//! while the store is open (the log is append-only; the writer reuses only sequences that never
//! became durable, after a failed commit, and a reopen of the engine refuses one that holds
//! fewer records than were durable: `stemedb-store`'s `engine.rs`, `reopen`; a restore fills an
//! empty store). So an entry is a set of facts about the log that never go stale. A write and
//! a read offering the same group at once may replace each other's entry: the one left holds
//! fewer records than it could, never a wrong one.
//!
//! Why writes offer too: a reliability pass during a bulk load read every new record back from
//! the log (5–7 µs of CPU per record with cold caches against 1.6–2.8 with the writes'
//! offers; docs/benchmarks.md, "Twentieth session"), and a query right after a write read the
//! new record back.
//!
//! Keys: a group's first sequence, which no other group has (every record is in one group)
//! and every read of the group starts with (reads in the past cut a group's tail, never its
//! head). The key only decides which entry a read looks in; the read still matches each of
//! its sequences exactly, so an entry holding fewer of the group's records than a read needs
//! (written since, or read in the past) is a partial hit: the reader reads the rest and offers
//! the union.
use std::sync::Arc;

use serde_json::Value;
use stemedb_core::{AssertionId, Signature, SignedAssertion, Timestamp};
use stemedb_store::AppendOutcome;

use crate::record::Lifecycle;
use crate::{Db, DbError, Query, RecordView};

/// The largest group kept: the store's group summaries list at most 64 sequences, and a
/// larger group's ranking is bounded by its page, not by this cache.
pub(crate) const GROUP_RECORDS_MAX: usize = 64;

/// What an entry costs besides its records: the `Arc`, the slice, the cache's slot and key.
const ENTRY_OVERHEAD_BYTES: u64 = 64;

/// The fields of one record that a lens and the query's filters read.
#[derive(Debug, Clone)]
pub(crate) struct LensRecord {
    sequence: u64,
    recorded_at: Timestamp,
    timestamp: Timestamp,
    confidence: f64,
    id: AssertionId,
    value: Value,
    /// Shared by the agent's records (`Agents`): there are far fewer agents than records.
    agent_id: Arc<str>,
}

impl LensRecord {
    /// The record as a view without its canonical bytes or signature (both zero-length /
    /// zero): `Db::with_canonical` reads them when the record is answered with.
    pub(crate) fn to_view(&self) -> RecordView {
        RecordView {
            id: self.id,
            sequence: self.sequence,
            recorded_at: self.recorded_at,
            signature: Signature([0; 64]),
            canonical: Arc::default(),
            lifecycle: Lifecycle::ACTIVE,
            timestamp: self.timestamp,
            confidence: self.confidence,
            value: self.value.clone(),
            agent_id: String::from(&*self.agent_id),
        }
    }

    /// Every field equal, values compared as `Value`s (so `2` and `2.0` differ).
    fn same_fields(&self, other: &LensRecord) -> bool {
        self.sequence == other.sequence
            && self.recorded_at == other.recorded_at
            && self.timestamp == other.timestamp
            && self.confidence.to_bits() == other.confidence.to_bits()
            && self.id == other.id
            && self.value == other.value
            && self.agent_id == other.agent_id
    }

    /// The agent's id is counted with every record, although records of one agent share it
    /// (`Agents`): an over-count, never an under-count once the set has started again.
    fn bytes(&self) -> u64 {
        (std::mem::size_of::<LensRecord>() + self.agent_id.len() + value_heap_bytes(&self.value))
            as u64
    }
}

/// About what a JSON value holds on the heap (a number or a boolean nothing).
pub(crate) fn value_heap_bytes(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.len(),
        Value::Array(items) => items
            .iter()
            .map(|v| std::mem::size_of::<Value>() + value_heap_bytes(v))
            .sum(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| k.len() + 2 * std::mem::size_of::<Value>() + value_heap_bytes(v))
            .sum(),
    }
}

/// Some records of one group, ascending by sequence.
pub(crate) type GroupViews = Arc<[LensRecord]>;

#[derive(Clone)]
struct Weighter;

impl quick_cache::Weighter<u64, GroupViews> for Weighter {
    fn weight(&self, _: &u64, views: &GroupViews) -> u64 {
        ENTRY_OVERHEAD_BYTES + views.iter().map(LensRecord::bytes).sum::<u64>()
    }
}

/// The cache: at most `bytes` of entries, filled by reads and by durable writes.
pub(crate) struct ViewCache {
    entries: stemedb_store::WeightedCache<u64, GroupViews, Weighter>,
    agents: std::sync::Mutex<Agents>,
    keeps: bool,
}

/// The agents' ids the entries share. Touched when a record is read from the store or offered
/// by a write.
#[derive(Default)]
struct Agents {
    ids: std::collections::HashSet<Arc<str>>,
    bytes: usize,
    /// A sixteenth of the cache's bytes: past it (very many agents) the set starts again, and
    /// entries keep the ids they hold (which their weights count).
    bytes_max: usize,
}

impl Agents {
    fn share(&mut self, agent_id: &str) -> Arc<str> {
        if let Some(id) = self.ids.get(agent_id) {
            return Arc::clone(id);
        }
        if self.bytes > self.bytes_max {
            self.ids.clear();
            self.bytes = 0;
        }
        let id: Arc<str> = agent_id.into();
        self.bytes += agent_id.len() + std::mem::size_of::<Arc<str>>() + 16;
        self.ids.insert(Arc::clone(&id));
        id
    }
}

impl ViewCache {
    /// A cache of at most `bytes` (0: none; every record is read from the store).
    pub(crate) fn new(bytes: u64) -> ViewCache {
        let entries = stemedb_store::weighted_cache(bytes, Weighter);
        let agents = Agents {
            bytes_max: usize::try_from(bytes / 16).unwrap_or(usize::MAX),
            ..Agents::default()
        };
        ViewCache {
            entries,
            agents: std::sync::Mutex::new(agents),
            keeps: bytes > 0,
        }
    }

    /// Whether the cache keeps anything (a cache of 0 bytes does not: nothing is offered).
    pub(crate) fn keeps(&self) -> bool {
        self.keeps
    }

    /// How many groups it holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The lens fields of a record just read from the store.
    pub(crate) fn lens_record(&self, view: &RecordView) -> LensRecord {
        let agent_id = match self.agents.lock() {
            Ok(mut agents) => agents.share(&view.agent_id),
            // A panic elsewhere while holding the set: an unshared copy is as correct.
            Err(_) => view.agent_id.as_str().into(),
        };
        LensRecord {
            sequence: view.sequence,
            recorded_at: view.recorded_at,
            timestamp: view.timestamp,
            confidence: view.confidence,
            id: view.id,
            value: view.value.clone(),
            agent_id,
        }
    }

    /// The lens fields of records about to be written, one per record, for
    /// [`ViewCache::offer_written`] once they are durable (sequence and `recorded_at` are
    /// the writer's, filled in then). `None` where nothing will be offered: a cache that keeps
    /// nothing, a control record (in no group), a value that would not read back the same.
    pub(crate) fn written_records(&self, records: &[SignedAssertion]) -> Vec<Option<LensRecord>> {
        if !self.keeps {
            return records.iter().map(|_| None).collect();
        }
        let mut agents = self.agents.lock().ok();
        records
            .iter()
            .map(|record| {
                let body = &record.body;
                let value = record.body_json.get("value").unwrap_or(&Value::Null);
                if body.control.is_some() || !reads_back_the_same(value) {
                    return None;
                }
                let agent_id = match agents.as_mut() {
                    Some(agents) => agents.share(&body.agent_id),
                    None => body.agent_id.as_str().into(),
                };
                Some(LensRecord {
                    sequence: 0,
                    recorded_at: Timestamp::from_micros(0),
                    timestamp: body.timestamp,
                    // A confidence of -0 is written as `0` and reads back as +0: as a reader.
                    confidence: body.confidence_or_default() + 0.0,
                    id: record.id,
                    value: value.clone(),
                    agent_id,
                })
            })
            .collect()
    }

    /// Keeps the records of [`ViewCache::written_records`] that the writer made durable
    /// (`outcomes`, one per record, in the same order) with what their groups' entries hold.
    /// A record answered `Appended` is durable, so an entry still holds only what the log
    /// holds at each sequence (the module's invariant).
    pub(crate) fn offer_written(
        &self,
        written: Vec<Option<LensRecord>>,
        outcomes: &[AppendOutcome],
    ) {
        let mut by_group: Vec<(u64, LensRecord)> = written
            .into_iter()
            .zip(outcomes)
            .filter_map(|(record, outcome)| match (record, outcome) {
                (
                    Some(record),
                    AppendOutcome::Appended {
                        sequence,
                        recorded_at,
                        group_first: Some(first),
                        ..
                    },
                ) => Some((
                    *first,
                    LensRecord {
                        sequence: *sequence,
                        recorded_at: *recorded_at,
                        ..record
                    },
                )),
                _ => None,
            })
            .collect();
        by_group.sort_by_key(|(first, record)| (*first, record.sequence));
        let mut records = by_group.into_iter().peekable();
        while let Some((first, record)) = records.next() {
            let mut fresh = vec![record];
            while let Some((_, next)) = records.next_if(|(f, _)| *f == first) {
                fresh.push(next);
            }
            let held = self.get(first);
            self.offer(first, held.as_ref(), fresh);
        }
    }

    /// The entry of the group whose first sequence is `first`.
    pub(crate) fn get(&self, first: u64) -> Option<GroupViews> {
        self.entries.get(&first)
    }

    /// Keeps `fresh` (records read now, ascending, none of them in `held`) with what `held`
    /// already had, under `first`.
    pub(crate) fn offer(&self, first: u64, held: Option<&GroupViews>, fresh: Vec<LensRecord>) {
        let mut all: Vec<LensRecord> = held.map(|h| h.to_vec()).unwrap_or_default();
        all.extend(fresh);
        all.sort_unstable_by_key(|r| r.sequence);
        all.dedup_by_key(|r| r.sequence);
        if all.len() <= GROUP_RECORDS_MAX {
            self.entries.insert(first, all.into());
        }
    }
}

impl Db {
    /// Checks every record the view cache holds against the log: each one's lens fields as
    /// a reader of the log would parse them. Returns how many records it compared and the
    /// sequences of those that differ (or that the log does not hold). For tests
    /// (`tests/it/lens_views.rs`): the cache's invariant, checked.
    pub fn check_view_cache(&self) -> Result<(usize, Vec<u64>), DbError> {
        let mut compared = 0;
        let mut differing = Vec::new();
        for (_, views) in self.views.entries.iter() {
            for held in views.iter() {
                compared += 1;
                let same = match self.store.get_by_sequence(held.sequence)? {
                    Some(stored) => {
                        let read = self.views.lens_record(&RecordView::from_stored(stored)?);
                        held.same_fields(&read)
                    }
                    None => false,
                };
                if !same {
                    differing.push(held.sequence);
                }
            }
        }
        Ok((compared, differing))
    }

    /// The records at `sequences` (ascending), their lens fields from the view cache where it
    /// holds them (without canonical bytes or signature: `with_canonical` reads those) and
    /// from the store otherwise, keeping the canonical bytes of those read only when asked.
    pub(crate) fn lens_views(
        &self,
        sequences: &[u64],
        query: &Query,
        keep_canonical: bool,
    ) -> Result<Vec<RecordView>, DbError> {
        let first = sequences.first().copied().filter(|_| {
            self.views.keeps()
                && sequences.len() <= GROUP_RECORDS_MAX
                && sequences.windows(2).all(|w| w[0] < w[1])
        });
        let held = first.and_then(|f| self.views.get(f));
        let mut views = Vec::with_capacity(sequences.len());
        let mut fresh = Vec::new();
        for (done, &sequence) in sequences.iter().enumerate() {
            if let Some(record) = held.as_ref().and_then(|h| find(h, sequence)) {
                views.push(record.to_view());
                continue;
            }
            crate::query::check_deadline(query.deadline, done, "query")?;
            let Some(stored) = self.store.get_by_sequence(sequence)? else {
                continue;
            };
            let mut view = RecordView::from_stored(stored)?;
            if first.is_some() {
                fresh.push(self.views.lens_record(&view));
            }
            if !keep_canonical {
                view.canonical = Arc::default();
            }
            views.push(view);
        }
        if let (Some(first), false) = (first, fresh.is_empty()) {
            self.views.offer(first, held.as_ref(), fresh);
        }
        Ok(views)
    }
}

/// Whether `value`, written into a record's canonical bytes and parsed back as a reader
/// parses them (`RecordView::from_stored`), is the same `Value`. Numbers are written as the
/// double they denote (`stemedb_core::canonical`), so a double with no fraction (`81.0`,
/// `-0.0`) may read back as an integer and an integer past 2^53 as another one: both are
/// refused. Every other number (serde_json parses doubles exactly, `float_roundtrip`),
/// string, and container of them reads back the same.
pub(crate) fn reads_back_the_same(value: &Value) -> bool {
    const EXACT_INTEGER_MAX: u64 = 1 << 53;
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u <= EXACT_INTEGER_MAX,
            (None, Some(i), _) => i.unsigned_abs() <= EXACT_INTEGER_MAX,
            (None, None, Some(f)) => f.is_finite() && f.fract() != 0.0,
            (None, None, None) => false,
        },
        Value::Array(items) => items.iter().all(reads_back_the_same),
        Value::Object(map) => map.values().all(reads_back_the_same),
    }
}

/// The record at `sequence` in `views`, if held.
pub(crate) fn find(views: &GroupViews, sequence: u64) -> Option<&LensRecord> {
    views
        .binary_search_by_key(&sequence, |r| r.sequence)
        .ok()
        .and_then(|i| views.get(i))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn record(sequence: u64, value: Value) -> LensRecord {
        LensRecord {
            sequence,
            recorded_at: Timestamp::from_micros(1),
            timestamp: Timestamp::from_micros(2),
            confidence: 0.5,
            id: AssertionId::of_canonical(&sequence.to_be_bytes()),
            value,
            agent_id: "agent".into(),
        }
    }

    #[test]
    fn offers_merge_with_what_is_held_and_find_matches_exactly() {
        let cache = ViewCache::new(1 << 20);
        cache.offer(
            3,
            None,
            vec![record(3, Value::Null), record(9, Value::Null)],
        );
        let held = cache.get(3);
        cache.offer(3, held.as_ref(), vec![record(7, Value::Null)]);
        let views = cache.get(3).expect("an entry");
        let sequences: Vec<u64> = views.iter().map(|r| r.sequence).collect();
        assert_eq!(sequences, [3, 7, 9]);
        assert!(find(&views, 7).is_some());
        assert!(find(&views, 8).is_none());
        assert!(cache.get(7).is_none(), "keyed by the first sequence only");
    }

    #[test]
    fn a_cache_of_nothing_keeps_nothing_and_weights_count_the_heap() {
        let none = ViewCache::new(0);
        none.offer(1, None, vec![record(1, Value::Null)]);
        assert!(none.get(1).is_none());
        let small = record(1, Value::Null).bytes();
        let large = record(1, Value::String("x".repeat(1000))).bytes();
        assert_eq!(large - small, 1000);
        assert!(!none.keeps() && ViewCache::new(1).keeps());
    }

    /// `value` through a record's canonical bytes and back, as a reader sees it.
    fn read_back(value: &Value) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("value".into(), value.clone());
        let bytes = stemedb_core::canonical_bytes(&body).expect("canonical bytes");
        let parsed: serde_json::Map<String, Value> =
            serde_json::from_slice(&bytes).expect("canonical bytes parse");
        parsed.get("value").cloned().expect("the value")
    }

    /// The rule's verdict on `text` is `expected`, and a value it accepts reads back the same.
    fn check_reads_back(text: &str, expected: bool) {
        let value: Value = serde_json::from_str(text).expect("test JSON");
        assert_eq!(reads_back_the_same(&value), expected, "{text}: the rule");
        if expected {
            assert_eq!(read_back(&value), value, "{text}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn a_written_value_is_offered_only_when_it_reads_back_the_same() {
        for (text, expected) in [
            ("81", true), ("-7", true), ("0", true), ("0.1", true), ("-2.5e-300", true),
            ("9007199254740992", true), ("null", true), ("true", true),
            (r#""text \\ \"quoted\" \u0001 é""#, true),
            (r#"[1, 2.5, "a", {"b": [null]}]"#, true), (r#"{"z": 1, "a": {"n": 0.25}}"#, true),
            ("81.0", false), ("-0.0", false), ("1e3", false),
            // Reads back the same (a double written with an exponent), refused all the same.
            ("1.7976931348623157e308", false),
            ("9007199254740993", false), ("-9007199254740993", false),
            ("[1, 2.0]", false), (r#"{"a": {"b": 3.0}}"#, false),
        ] {
            check_reads_back(text, expected);
        }
    }

    #[test]
    fn records_of_one_agent_share_its_id() {
        let cache = ViewCache::new(1 << 20);
        let mut view = record(1, Value::Null).to_view();
        let a = cache.lens_record(&view);
        view.sequence = 2;
        let b = cache.lens_record(&view);
        assert!(Arc::ptr_eq(&a.agent_id, &b.agent_id));
        assert_eq!(b.to_view().agent_id, "agent");
    }
}
