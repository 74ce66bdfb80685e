//! The in-memory views kept beside the truth keyspace (roles, open epochs, the latest trust
//! map), held by the engine and loaded again whenever it is opened (`truth::recover`).
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use stemedb_lens::TrustMap;

use crate::role::Role;

/// An epoch: everything under `prefix` valid before `before_micros` is superseded.
#[derive(Debug, Clone)]
pub(crate) struct Epoch {
    pub seq: u64,
    pub prefix: String,
    pub before_micros: i64,
    pub valid_micros: i64,
}

/// In-memory views kept beside the keyspace, rebuilt at open.
#[derive(Default)]
pub(crate) struct TruthCache {
    /// Agent → the sequence after which the role holds.
    pub roles: HashMap<(Role, String), u64>,
    pub epochs: Vec<Epoch>,
    /// Bumped by every trust statement and trust-root grant.
    pub trust_version: u64,
    /// The sequence of the record that last bumped `trust_version`. The bump happens while
    /// the writer derives that record, before it is durable and published, so a reader whose
    /// bound is below it reads a trust map without it: such a map is never cached under the
    /// new version (`truth::read::trust_map`), or every later reader would get it.
    pub trust_changed_at: u64,
    pub trust_latest: Option<(u64, Arc<TrustMap>)>,
    /// The truth keyspace's rare markers that derivation asks about for every record.
    pub markers: RareMarkers,
    /// The targets that have marks (`K` keys), which the consensus, layered and evidence
    /// lenses ask about for every record they rank (votes, gold standards): a point read each,
    /// about 4 % of the async workers' CPU during consensus winner queries at 1 M stored
    /// (docs/benchmarks.md, "Seventeenth session"). A set of its own, so that many marked
    /// targets never push the derivation's markers past their bound.
    pub marked: RareMarkers,
    /// Which records may have stage events (`H` keys).
    pub events: EventBits,
}

/// The records that have stage events (`H` keys in the truth keyspace), one bit per sequence,
/// so that reading the stage of a record that never changed stage (almost every record) costs
/// no engine read: that read, a point lookup through every table's filter, was 6 % of a winner
/// query's server CPU at 1 M stored (docs/benchmarks.md, "Thirteenth session"). Memory is one
/// bit per sequence up to the highest staged one (1.25 MB at 10 M).
///
/// Invariant, one-sided as `RareMarkers`: every `H` key that the truth keyspace or a pending
/// derivation batch holds has its bit set, so a clear bit means the record has no stage
/// event; a set bit without a key (its batch failed to commit) costs an engine read. This
/// holds because only derivation writes `H` keys, each write sets its bit first, the keys are
/// removed only by `truth::clear` (after which `truth::recover` builds a new cache), and
/// `truth::recover` loads every one at open. Sequences from `SEQUENCES_MAX` on are always read.
#[derive(Debug, Default)]
pub(crate) struct EventBits {
    words: Vec<u64>,
}

impl EventBits {
    /// Sequences covered (a bound on memory: 128 MiB at most).
    const SEQUENCES_MAX: u64 = 1 << 30;

    /// False only when `sequence` certainly has no stage event.
    pub(crate) fn may_have(&self, sequence: u64) -> bool {
        if sequence >= Self::SEQUENCES_MAX {
            return true;
        }
        let word = self
            .words
            .get((sequence / 64) as usize)
            .copied()
            .unwrap_or(0);
        word >> (sequence % 64) & 1 == 1
    }

    /// Records that `sequence` has (or is about to have) a stage event.
    pub(crate) fn set(&mut self, sequence: u64) {
        if sequence >= Self::SEQUENCES_MAX {
            return;
        }
        let index = (sequence / 64) as usize;
        if self.words.len() <= index {
            self.words.resize(index + 1, 0);
        }
        if let Some(word) = self.words.get_mut(index) {
            *word |= 1 << (sequence % 64);
        }
    }
}

/// Keys of the truth keyspace's rare markers that derivation asks about for every record: `X`
/// (an effective retraction names this subject or source) and `g` (the group has a gold
/// standard). Almost every answer is "no", and each question was a point read through the
/// truth keyspace's write table: with the agent-key read, about a sixth of the writer's time
/// during batch ingest (docs/benchmarks.md, "Fifth session"). A second set holds the `K` keys
/// (a target has marks), which the lenses ask about (`TruthCache::marked`).
///
/// Invariant, one-sided: every such key that the truth keyspace or a pending derivation batch
/// holds is in the set, so a key not in it is not on disk. A key in the set but not on disk
/// (its batch failed to commit) costs an engine read that answers no; it never changes an
/// answer. This holds because only derivation writes these keys, each write adds its key here
/// first, the keys are never removed, and `truth::recover` loads every one at open (and after
/// a re-derivation or a reopen). Past `KEYS_MAX` keys the set is dropped and every question
/// goes to the engine.
/// Keys are held as 64-bit hashes: two keys with one hash cost an engine read, never a wrong
/// answer, so memory is 16 bytes or so a key whatever its length (names run to 1 KiB).
#[derive(Debug)]
pub(crate) struct RareMarkers {
    keys: Option<HashSet<u64>>,
}

impl Default for RareMarkers {
    fn default() -> Self {
        Self {
            keys: Some(HashSet::new()),
        }
    }
}

impl RareMarkers {
    /// Keys kept before the set is dropped: a bound on memory (about 16 MiB).
    const KEYS_MAX: usize = 1_000_000;

    fn hash(key: &[u8]) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hasher::write(&mut hasher, key);
        std::hash::Hasher::finish(&hasher)
    }

    /// False only when `key` is certainly not in the truth keyspace.
    pub(crate) fn may_hold(&self, key: &[u8]) -> bool {
        self.keys
            .as_ref()
            .is_none_or(|keys| keys.contains(&Self::hash(key)))
    }

    /// Records that `key` is (about to be) written.
    pub(crate) fn add(&mut self, key: &[u8]) {
        let Some(keys) = &mut self.keys else {
            return;
        };
        if keys.len() >= Self::KEYS_MAX {
            self.keys = None;
        } else {
            keys.insert(Self::hash(key));
        }
    }
}

/// Each agent's bound public key as the `agents` keyspace holds it, kept by the writer so that
/// checking a record's key against its agent's binding costs no engine read.
///
/// Invariant: every entry equals the agent's binding on disk. This holds because an entry is
/// only ever taken from the keyspace, and a binding never changes once written: the writer
/// binds only an unbound agent; a rebuild writes the same first binding again from the log
/// (and clears this cache); a restore fills an empty store with the writer stopped; and an
/// engine reopened after a full disk comes with a new, empty cache.
#[derive(Default)]
pub(crate) struct AgentKeys {
    keys: HashMap<String, [u8; 32]>,
}

impl AgentKeys {
    /// Agents kept before the cache is dropped whole (it refills from disk).
    const AGENTS_MAX: usize = 100_000;

    pub(crate) fn get(&self, agent: &str) -> Option<[u8; 32]> {
        self.keys.get(agent).copied()
    }

    pub(crate) fn put(&mut self, agent: &str, key: [u8; 32]) {
        if self.keys.len() >= Self::AGENTS_MAX {
            self.keys.clear();
        }
        self.keys.insert(agent.to_owned(), key);
    }

    pub(crate) fn clear(&mut self) {
        self.keys.clear();
    }
}

/// Each agent's record count as of a durable sequence, so that `Store::agent_record_count`
/// scans only the agent's `by_agent` keys written since it last counted, not all of them
/// (an agent that signed a million records made every `GET /v1/agents/{id}` a scan of a
/// million keys).
///
/// Invariant: an entry's `records` is the number of the agent's `by_agent` keys at sequences
/// up to its `as_of`, counted while the indexes had been rebuilt `rebuilds` times. It holds
/// because those keys are never removed or added below the durable sequence except by a
/// rebuild or a restore, and both bump the rebuild count (`Shared::note_groups_rebuild`), which
/// voids every entry counted before; a reopened engine comes with an empty cache.
#[derive(Default)]
pub(crate) struct AgentCounts {
    counts: HashMap<String, AgentCount>,
}

/// One agent's count (see `AgentCounts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AgentCount {
    pub records: u64,
    pub as_of: u64,
    pub rebuilds: u64,
}

impl AgentCounts {
    /// Agents kept before the cache is dropped whole (each recounts once).
    const AGENTS_MAX: usize = 100_000;

    /// The agent's count if it was made under `rebuilds` and is not past `bound`.
    pub(crate) fn get(&self, agent: &str, rebuilds: u64, bound: u64) -> Option<AgentCount> {
        self.counts
            .get(agent)
            .filter(|c| c.rebuilds == rebuilds && c.as_of <= bound)
            .copied()
    }

    /// Keeps `count` unless the cache holds a later one: of a later rebuild, or of the same
    /// rebuild and a later sequence.
    pub(crate) fn put(&mut self, agent: &str, count: AgentCount) {
        if let Some(held) = self.counts.get_mut(agent) {
            if (count.rebuilds, count.as_of) > (held.rebuilds, held.as_of) {
                *held = count;
            }
            return;
        }
        if self.counts.len() >= Self::AGENTS_MAX {
            self.counts.clear();
        }
        self.counts.insert(agent.to_owned(), count);
    }
}

/// Each agent's new-subject counts per window bucket (the truth keyspace's `N` keys), kept by
/// the writer so that a new subject costs no point reads: ten reads of a key rewritten at
/// every new subject were 8–9 % of the server's CPU during batch ingest (docs/benchmarks.md).
///
/// Invariant: every (bucket, count) an agent's entry holds is exactly the count of new subjects
/// derived so far for that bucket (0 included): the truth keyspace's `N` key, or the newer
/// count in `unsaved` when it has one. A bucket not held is unknown, and is read (`unsaved`,
/// then disk) before it is counted. The counts go to disk only every so many records
/// (`truth/new_subjects.rs`), and `unsaved` holds each count changed since, whatever the
/// cache drops for its bound; an open counts the records after the last save again from the
/// log. This holds because only derivation writes `N` keys, every such write goes through
/// here, and derivation is serial: on the writer thread, at open before the writer starts, or
/// in a restore or an offline rebuild. A derivation or commit that fails empties the whole
/// cache, `unsaved` too (the writer then stops, and the open that follows counts again from
/// the last save), and a freshly loaded or cleared truth state starts with it empty. Nothing
/// assumes that time moves forward: a window reaching buckets not held reads them.
///
/// It also keeps subjects known to be seen (the `F` keys), since asking the engine whether a
/// subject is new was an eighth of the writer's time during batch ingest (docs/benchmarks.md,
/// "Fifth session"). Invariant: every subject held has its `F` key in the truth keyspace or
/// the pending batch; one not held is unknown and read. Only derivation writes `F` keys, they
/// are never removed but by `truth::clear`, and the same clearing rules as above apply.
#[derive(Default)]
pub(crate) struct NewSubjectWindows {
    agents: HashMap<String, Vec<(u64, u64)>>,
    /// (agent, bucket) → count, for each count changed since the counts were last saved.
    unsaved: HashMap<(String, u64), u64>,
    /// The last sequence whose new subjects the saved counts hold.
    saved_upto: u64,
    /// The last sequence derived (at open, or into a batch since).
    derived_upto: u64,
    /// Exact subjects (a hash could take a new subject for a seen one), with their bytes.
    seen: HashSet<String>,
    seen_bytes: usize,
}

impl NewSubjectWindows {
    /// Agents kept before the whole cache is dropped (it refills from disk): a bound on
    /// memory, about 200 bytes each.
    const AGENTS_MAX: usize = 100_000;
    /// Buckets kept per agent; the oldest go first (they are read again if ever needed).
    const BUCKETS_MAX: usize = 32;
    /// Bytes of subjects kept (plus 64 a subject for the set itself) before the set is
    /// dropped whole; it refills from disk.
    const SEEN_BYTES_MAX: usize = 32 * 1024 * 1024;
    const SEEN_OVERHEAD_BYTES: usize = 64;

    /// `agent`'s known (bucket, count) pairs.
    pub(crate) fn get(&self, agent: &str) -> &[(u64, u64)] {
        self.agents.get(agent).map_or(&[], Vec::as_slice)
    }

    /// Stores `agent`'s known counts (at most `BUCKETS_MAX`, the newest).
    pub(crate) fn put(&mut self, agent: &str, mut buckets: Vec<(u64, u64)>) {
        if buckets.len() > Self::BUCKETS_MAX {
            buckets.sort_unstable();
            buckets.drain(..buckets.len() - Self::BUCKETS_MAX);
        }
        if !self.agents.contains_key(agent) && self.agents.len() >= Self::AGENTS_MAX {
            self.agents.clear();
        }
        self.agents.insert(agent.to_owned(), buckets);
    }

    /// True when `subject` is known to have been seen.
    pub(crate) fn seen(&self, subject: &str) -> bool {
        self.seen.contains(subject)
    }

    /// Remembers that `subject` has its `F` key (written, or about to be).
    pub(crate) fn see(&mut self, subject: &str) {
        let bytes = subject.len() + Self::SEEN_OVERHEAD_BYTES;
        if self.seen_bytes + bytes > Self::SEEN_BYTES_MAX {
            self.seen.clear();
            self.seen_bytes = 0;
        }
        if self.seen.insert(subject.to_owned()) {
            self.seen_bytes += bytes;
        }
    }

    /// `agent`'s count in `bucket` if it changed since the last save.
    pub(crate) fn unsaved(&self, agent: &str, bucket: u64) -> Option<u64> {
        self.unsaved.get(&(agent.to_owned(), bucket)).copied()
    }

    /// Records `agent`'s new count in `bucket`, to be saved.
    pub(crate) fn set_unsaved(&mut self, agent: String, bucket: u64, count: u64) {
        self.unsaved.insert((agent, bucket), count);
    }

    /// The counts changed since the last save, which is now `upto`'s.
    pub(crate) fn take_unsaved(&mut self, upto: u64) -> HashMap<(String, u64), u64> {
        self.saved_upto = upto;
        std::mem::take(&mut self.unsaved)
    }

    /// The last sequence whose new subjects the saved counts hold.
    pub(crate) fn saved_upto(&self) -> u64 {
        self.saved_upto
    }

    /// Records that the records up to `seq` are derived (at open, or into a pending batch).
    pub(crate) fn note_derived(&mut self, seq: u64) {
        self.derived_upto = seq;
    }

    /// The last sequence derived, when the saved counts do not cover it yet.
    pub(crate) fn unsaved_upto(&self) -> Option<u64> {
        (self.derived_upto > self.saved_upto).then_some(self.derived_upto)
    }

    /// Empties everything, the unsaved counts too (see the invariant above).
    pub(crate) fn clear(&mut self) {
        self.agents.clear();
        self.unsaved.clear();
        self.saved_upto = 0;
        self.derived_upto = 0;
        self.seen.clear();
        self.seen_bytes = 0;
    }
}

/// Decoded log records by sequence, in front of the engine (as RocksDB's `row_cache`): a
/// winner query reads every record of its group, and each read was a point lookup through
/// every level of the log's tree (about a sixth of a query's CPU at 1 M stored) although the
/// block holding it was already in the block cache. Bounded by bytes (a record's canonical
/// body plus [`RecordCache::ENTRY_OVERHEAD_BYTES`]); filled only by reads.
///
/// Invariant: an entry is the record the log holds at that durable sequence, decoded and
/// checked as a read from disk checks it (once, when it was first read). It holds because a
/// log entry at a durable sequence is never rewritten (the log is append-only; only records at
/// or below the durable sequence are put in, though derivation also reads the group being
/// committed), and the cache lives and dies with the engine that read it (`Shared`): a reopen,
/// a restore and a rebuild start empty.
pub(crate) struct RecordCache {
    records: WeightedCache<u64, Arc<crate::codec::StoredRecord>, RecordWeighter>,
}

/// A cache bounded by the weight of what it holds, as every cache of records, lens fields and
/// answers is.
pub type WeightedCache<K, V, W> =
    quick_cache::sync::Cache<K, V, W, std::collections::hash_map::RandomState>;

/// A cache of at most `bytes` by `weighter` (0: one that keeps nothing). Like the engine's
/// block cache, its shards start empty and grow with what is read.
pub fn weighted_cache<K, V, W>(bytes: u64, weighter: W) -> WeightedCache<K, V, W>
where
    K: Eq + std::hash::Hash,
    V: Clone,
    W: quick_cache::Weighter<K, V> + Clone,
{
    weighted_cache_with(bytes, weighter, HOT_SHARE_DEFAULT)
}

/// quick_cache's own default: 97 % of the weight for entries asked for again, 3 % for new ones.
const HOT_SHARE_DEFAULT: f64 = 0.97;

/// `weighted_cache` with `hot_share` of its weight kept for entries asked for more than once
/// and the rest for new ones: a new entry stays until that rest has filled again, so it must
/// be asked for again within that many insertions to stay on.
pub fn weighted_cache_with<K, V, W>(
    bytes: u64,
    weighter: W,
    hot_share: f64,
) -> WeightedCache<K, V, W>
where
    K: Eq + std::hash::Hash,
    V: Clone,
    W: quick_cache::Weighter<K, V> + Clone,
{
    let options = quick_cache::OptionsBuilder::new()
        .weight_capacity(bytes)
        .estimated_items_capacity(10_000)
        .hot_allocation(hot_share)
        .build();
    match options {
        Ok(options) => quick_cache::sync::Cache::with_options(
            options,
            weighter,
            Default::default(),
            Default::default(),
        ),
        // Not reached with these options; a cache of nothing is still correct.
        Err(_) => {
            quick_cache::sync::Cache::with(1, 0, weighter, Default::default(), Default::default())
        }
    }
}

/// A record's weight in bytes.
#[derive(Clone)]
pub(crate) struct RecordWeighter;

impl quick_cache::Weighter<u64, Arc<crate::codec::StoredRecord>> for RecordWeighter {
    fn weight(&self, _: &u64, record: &Arc<crate::codec::StoredRecord>) -> u64 {
        record.canonical().len() as u64 + RecordCache::ENTRY_OVERHEAD_BYTES
    }
}

impl RecordCache {
    /// What an entry costs besides its body: the envelope with its id (136 bytes), the `Arc`,
    /// the cache's own slot.
    pub(crate) const ENTRY_OVERHEAD_BYTES: u64 = 192;

    /// A cache of at most `bytes` (0: none; every read goes to the engine).
    pub(crate) fn new(bytes: u64) -> RecordCache {
        RecordCache {
            records: weighted_cache(bytes, RecordWeighter),
        }
    }

    pub(crate) fn get(&self, sequence: u64) -> Option<Arc<crate::codec::StoredRecord>> {
        self.records.get(&sequence)
    }

    pub(crate) fn insert(&self, record: Arc<crate::codec::StoredRecord>) {
        self.records.insert(record.sequence, record);
    }
}

#[cfg(test)]
mod tests {
    use super::{AgentCount, AgentCounts, AgentKeys, NewSubjectWindows, RareMarkers, RecordCache};

    #[test]
    fn rare_markers_answer_no_only_for_keys_never_added_and_give_up_when_full() {
        let mut markers = RareMarkers::default();
        assert!(!markers.may_hold(b"Xa"));
        markers.add(b"Xa");
        assert!(markers.may_hold(b"Xa"));
        assert!(!markers.may_hold(b"Xb"));
        for i in 1..RareMarkers::KEYS_MAX {
            markers.add(format!("g{i}").as_bytes());
        }
        assert!(!markers.may_hold(b"Xb"), "still exact at the bound");
        markers.add(b"Xc");
        assert!(
            markers.may_hold(b"Xb"),
            "past the bound every key may be held"
        );
        markers.add(b"Xd");
        assert!(markers.may_hold(b"anything"));
    }

    #[test]
    fn agent_counts_serve_only_their_own_rebuild_and_never_past_the_bound() {
        let count = |records, as_of, rebuilds| AgentCount {
            records,
            as_of,
            rebuilds,
        };
        let mut counts = AgentCounts::default();
        counts.put("a", count(3, 10, 0));
        // (rebuilds, bound) asked → what is served.
        let check = |counts: &AgentCounts, rebuilds, bound, expected: Option<AgentCount>| {
            let got = counts.get("a", rebuilds, bound);
            assert_eq!(got, expected, "rebuilds {rebuilds}, bound {bound}");
        };
        check(&counts, 0, 10, Some(count(3, 10, 0)));
        check(&counts, 0, 12, Some(count(3, 10, 0)));
        check(&counts, 0, 9, None);
        check(&counts, 1, 12, None);
        counts.put("a", count(2, 8, 0));
        check(&counts, 0, 12, Some(count(3, 10, 0)));
        counts.put("a", count(1, 5, 1));
        check(&counts, 1, 12, Some(count(1, 5, 1)));
        check(&counts, 0, 12, None);
        counts.put("a", count(9, 11, 0));
        check(&counts, 1, 12, Some(count(1, 5, 1)));
        assert_eq!(counts.get("b", 1, 12), None);
    }

    fn record(sequence: u64) -> std::sync::Arc<crate::codec::StoredRecord> {
        std::sync::Arc::new(crate::codec::StoredRecord::new(
            sequence,
            stemedb_core::Timestamp::from_micros(1),
            stemedb_core::Signature([7; 64]),
            vec![b'x'; 808],
        ))
    }

    /// Each record weighs 1,000 bytes (808 + the overhead): how many a cache of `bytes` holds
    /// after 100 are put in, and that what it holds is what was put in.
    fn check(bytes: u64, held_min: usize, held_max: usize) {
        let cache = RecordCache::new(bytes);
        for s in 1..=100 {
            cache.insert(record(s));
        }
        let held: Vec<u64> = (1..=100).filter(|&s| cache.get(s).is_some()).collect();
        assert!(
            (held_min..=held_max).contains(&held.len()),
            "{bytes} bytes held {}",
            held.len()
        );
        for s in held {
            assert_eq!(cache.get(s), Some(record(s)), "sequence {s}");
        }
    }

    #[test]
    fn a_record_cache_holds_what_was_put_within_its_bytes() {
        assert_eq!(super::RecordCache::ENTRY_OVERHEAD_BYTES + 808, 1_000);
        check(0, 0, 0);
        check(10_000, 1, 10);
        check(1_000_000, 100, 100);
        let cache = RecordCache::new(1_000_000);
        cache.insert(record(1));
        assert!(
            cache.get(2).is_none(),
            "a sequence never put in is not held"
        );
    }

    #[test]
    fn agent_keys_start_over_when_full() {
        let mut agents = AgentKeys::default();
        agents.put("a", [1; 32]);
        assert_eq!(agents.get("a"), Some([1; 32]));
        assert_eq!(agents.get("b"), None);
        for i in 1..AgentKeys::AGENTS_MAX {
            agents.put(&format!("agent-{i}"), [2; 32]);
        }
        assert_eq!(agents.get("a"), Some([1; 32]));
        agents.put("one-too-many", [3; 32]);
        assert_eq!(agents.get("a"), None, "a full cache is dropped whole");
        assert_eq!(agents.get("one-too-many"), Some([3; 32]));
        agents.clear();
        assert_eq!(agents.get("one-too-many"), None);
    }

    #[test]
    fn an_agent_keeps_its_newest_buckets_and_a_full_cache_starts_over() {
        let mut windows = NewSubjectWindows::default();
        let many: Vec<(u64, u64)> = (0..40).map(|b| (b, b + 1)).collect();
        windows.put("a", many);
        let kept = windows.get("a");
        assert_eq!(kept.len(), NewSubjectWindows::BUCKETS_MAX);
        assert_eq!(kept.first(), Some(&(8, 9)), "the oldest go first");
        assert!(windows.get("nobody").is_empty());
        windows.set_unsaved("a".into(), 39, 40);
        for i in 1..NewSubjectWindows::AGENTS_MAX {
            windows.put(&format!("agent-{i}"), vec![(1, 1)]);
        }
        assert_eq!(windows.get("a").len(), NewSubjectWindows::BUCKETS_MAX);
        windows.put("one-too-many", vec![(2, 2)]);
        assert!(windows.get("a").is_empty(), "a full cache is dropped whole");
        assert_eq!(
            windows.unsaved("a", 39),
            Some(40),
            "but not its unsaved counts"
        );
        assert_eq!(windows.take_unsaved(7).len(), 1);
        assert_eq!((windows.unsaved("a", 39), windows.saved_upto()), (None, 7));
        windows.set_unsaved("a".into(), 40, 1);
        assert_eq!(windows.get("one-too-many"), &[(2, 2)]);
        windows.see("s");
        assert!(windows.seen("s") && !windows.seen("t"));
        let long = "x".repeat(1000);
        let per = 1000 + 8 + NewSubjectWindows::SEEN_OVERHEAD_BYTES;
        let fit = (NewSubjectWindows::SEEN_BYTES_MAX - windows.seen_bytes) / per;
        for i in 0..fit {
            windows.see(&format!("{long}{i:08}"));
        }
        assert!(windows.seen("s"), "bytes, not subjects, are counted");
        windows.see(&format!("{long}one-more"));
        assert!(!windows.seen("s"), "a full set is dropped whole");
        windows.clear();
        assert!(!windows.seen("one-too-many") && windows.get("one-too-many").is_empty());
        assert_eq!(
            windows.unsaved("a", 40),
            None,
            "a clear drops the unsaved counts too"
        );
    }
}
