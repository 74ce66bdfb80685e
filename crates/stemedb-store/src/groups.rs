//! The `groups` keyspace: each (subject, predicate) group's sequences under one key, so that a
//! query naming one group reads them with one point read instead of a range scan of
//! `by_subject`, which seeks a table in every level of the tree (a third of a winner query's
//! server CPU at 1 M records; docs/benchmarks.md, "Thirteenth session").
//!
//! Key: the group's `by_subject` prefix, `subject 0x00 predicate 0x00`. Value: the group's
//! sequences in ascending order, each a big-endian `u64`, at most [`GROUP_SEQUENCES_MAX`] of
//! them; the empty value says the group has more, and a reader scans `by_subject` for them
//! (a large group's records cost far more than that scan, and a bounded value keeps the
//! writer's read-modify-write from growing with the group).
//!
//! Invariant (format 5, docs/file-format.md): every group of ordinary records has exactly one
//! summary here, holding exactly its sequences (or the empty value when it has more than the
//! maximum), and no other key exists; `by_subject` holds every record of a large group, and of
//! a small group at most keys its summary lists (format 4 keyed every record; format 5 keys
//! none of a small group's). The writer keeps both in the same atomic batch as the records
//! (`GroupOverlay`, `writer/apply.rs`); an upgrade from format 3, a rebuild and a restore build
//! them whole; `stemedb check` holds them to the log (`check/groups.rs`).
use std::collections::HashMap;

use fjall::OwnedWriteBatch;

use crate::engine::Shared;
use crate::error::StoreError;
use crate::keys::{GroupKey, SEP, group_prefix};

pub(crate) use crate::summary::{GROUP_SEQUENCES_MAX, Summary};

/// A group's summary as committed (`None`: no record in the group).
pub(crate) fn read(shared: &Shared, key: &[u8]) -> Result<Option<Summary>, StoreError> {
    match shared.ks().groups.get(key)? {
        Some(bytes) => Summary::decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// What adding a sequence to a group's summary made of it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// The summary lists every sequence of the group; `first` is the group's first.
    Listed { first: u64 },
    /// The group has just outgrown its summary: its sequences before this one, which
    /// `by_subject` must now hold too (format 5 keys only large groups there).
    Outgrown { earlier: Vec<u64> },
    /// The group was already too large for its summary.
    Large,
}

/// The summaries one write batch changes, so that records of one group in one batch see each
/// other (a batch is not readable before its commit). Written into the batch by `write` (the
/// writer, which then hands them to its `SummaryCache`) or `flush` (rebuild and restore).
///
/// Hashed by foldhash (fast, seeded, not meant to resist crafted collisions): the overlay lives
/// for one group commit and holds at most its records' groups. The long-lived `SummaryCache`
/// below, keyed by names any writer chooses, keeps std's SipHash.
#[derive(Default)]
pub(crate) struct GroupOverlay {
    pending: foldhash::HashMap<Vec<u8>, Summary>,
}

impl GroupOverlay {
    /// Adds `sequence` to the summary of the group `key`: the batch's own, else the one
    /// `known` holds, else the committed one. Says whether the summary still lists every
    /// sequence, has just outgrown its limit, or had already.
    pub(crate) fn add(
        &mut self,
        shared: &Shared,
        known: Option<&SummaryCache>,
        key: Vec<u8>,
        sequence: u64,
    ) -> Result<Added, StoreError> {
        let current = match self.pending.remove(&key) {
            Some(summary) => summary,
            None => match known.and_then(|cache| cache.entries.get(&key)) {
                Some(summary) => summary.clone(),
                None => read(shared, &key)?.unwrap_or(Summary::Sequences(Vec::new())),
            },
        };
        let earlier = match &current {
            Summary::Sequences(seqs) if seqs.len() == GROUP_SEQUENCES_MAX => Some(seqs.clone()),
            _ => None,
        };
        let next = current.with(sequence)?;
        let added = match (&next, earlier) {
            (Summary::Sequences(seqs), _) => Added::Listed {
                first: seqs.first().copied().unwrap_or(sequence),
            },
            (Summary::Large, Some(earlier)) => Added::Outgrown { earlier },
            (Summary::Large, None) => Added::Large,
        };
        self.pending.insert(key, next);
        Ok(added)
    }

    /// Writes every changed summary into `batch`, keeping them. Every pending summary had a
    /// sequence added, so none is the empty list (which would encode as large).
    pub(crate) fn write(&self, shared: &Shared, batch: &mut OwnedWriteBatch) {
        for (key, summary) in &self.pending {
            debug_assert!(*summary != Summary::Sequences(Vec::new()));
            batch.insert(&shared.ks().groups, key.clone(), summary.encode());
        }
    }

    /// The changed summaries, by group key.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&[u8], &Summary)> {
        self.pending
            .iter()
            .map(|(key, summary)| (key.as_slice(), summary))
    }

    /// Writes every changed summary into `batch` and empties the overlay.
    pub(crate) fn flush(&mut self, shared: &Shared, batch: &mut OwnedWriteBatch) {
        self.write(shared, batch);
        self.pending.clear();
    }
}

/// The summaries the writer last wrote, so that a group's next record needs no read of
/// `groups`: that read (a memtable search, then the tables' filters) was a fifth of the
/// writer's time during batch ingest (docs/benchmarks.md, "Thirteenth session"). Bounded by
/// bytes and dropped whole when full (it refills as groups are written again).
///
/// Invariant: every entry is the value `groups` durably holds for its key. It holds because
/// entries go in only once the group commit that wrote them is durable (`absorb`), the writer
/// drops them all when a commit fails, and drops them when a rebuild has rewritten `groups`
/// (`Shared::groups_rebuilds` moved on: `check_rebuilds`), since what the writer extended
/// before a rebuild may have been a damaged or partial summary.
#[derive(Default)]
pub(crate) struct SummaryCache {
    entries: HashMap<Vec<u8>, Summary>,
    bytes: usize,
    /// `Shared::groups_rebuilds` when the entries were taken in.
    rebuilds: u64,
}

impl SummaryCache {
    /// Bytes of keys and sequences kept (plus `ENTRY_OVERHEAD_BYTES` an entry) before the
    /// cache is dropped whole.
    const BYTES_MAX: usize = 64 * 1024 * 1024;
    const ENTRY_OVERHEAD_BYTES: usize = 64;

    /// Drops every entry if `groups` was rebuilt since they were taken in.
    pub(crate) fn check_rebuilds(&mut self, shared: &Shared) {
        let rebuilds = shared.groups_rebuilds();
        if rebuilds != self.rebuilds {
            self.clear();
            self.rebuilds = rebuilds;
        }
    }

    /// Takes in the summaries of a durable group commit.
    pub(crate) fn absorb(&mut self, overlay: GroupOverlay) {
        for (key, summary) in overlay.pending {
            let bytes = Self::weight(&key, &summary);
            let held = |cache: &Self| {
                cache
                    .entries
                    .get(&key)
                    .map_or(0, |old| Self::weight(&key, old))
            };
            if self.bytes - held(self) + bytes > Self::BYTES_MAX {
                self.clear();
            }
            self.bytes = self.bytes - held(self) + bytes;
            self.entries.insert(key, summary);
        }
    }

    fn weight(key: &[u8], summary: &Summary) -> usize {
        let sequences = match summary {
            Summary::Sequences(seqs) => seqs.len() * 8,
            Summary::Large => 0,
        };
        key.len() + sequences + Self::ENTRY_OVERHEAD_BYTES
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

/// Summaries written per batch while building.
const BUILD_BATCH_GROUPS: usize = 10_000;

/// Builds the whole keyspace from `by_subject` (an upgrade from format 3): clears it first,
/// since a build cut short leaves a part. Returns the number of groups.
pub(crate) fn build(shared: &Shared) -> Result<u64, StoreError> {
    let ks = shared.ks();
    shared.clear_keyspace(&ks.groups)?;
    let mut batch = shared.batch();
    let mut written = 0u64;
    for group in GroupRuns::new(ks.by_subject.iter()) {
        let (key, seqs) = group?;
        batch.insert(&ks.groups, key, summary_of(seqs).encode());
        written += 1;
        if batch.len() >= BUILD_BATCH_GROUPS {
            batch.commit()?;
            batch = shared.batch();
        }
    }
    batch.commit()?;
    Ok(written)
}

/// The summary a group of these sequences (ascending) has.
pub(crate) fn summary_of(seqs: Vec<u64>) -> Summary {
    if seqs.len() > GROUP_SEQUENCES_MAX {
        Summary::Large
    } else {
        Summary::Sequences(seqs)
    }
}

/// A group key for a message: `subject/predicate`, lossy.
pub(crate) fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key.strip_suffix(&[SEP]).unwrap_or(key)).replace('\0', "/")
}

/// `by_subject` keys in order, folded into runs: one (group key, sequences) per group.
pub(crate) struct GroupRuns<I> {
    keys: I,
    held: Option<(Vec<u8>, u64)>,
}

impl<I: Iterator<Item = fjall::Guard>> GroupRuns<I> {
    pub(crate) fn new(keys: I) -> Self {
        GroupRuns { keys, held: None }
    }

    fn next_key(&mut self) -> Option<Result<(Vec<u8>, u64), StoreError>> {
        if let Some(held) = self.held.take() {
            return Some(Ok(held));
        }
        let guard = self.keys.next()?;
        Some(guard.key().map_err(StoreError::from).and_then(|key| {
            let (group, seq) = GroupKey::parse(&key)?;
            Ok((group_prefix(&group.subject, &group.predicate, 0), seq))
        }))
    }
}

impl<I: Iterator<Item = fjall::Guard>> Iterator for GroupRuns<I> {
    type Item = Result<(Vec<u8>, Vec<u64>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (key, first) = match self.next_key()? {
            Ok(pair) => pair,
            Err(e) => return Some(Err(e)),
        };
        let mut seqs = vec![first];
        while let Some(next) = self.next_key() {
            match next {
                Ok((k, seq)) if k == key => seqs.push(seq),
                Ok(other) => {
                    self.held = Some(other);
                    break;
                }
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok((key, seqs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(range: std::ops::RangeInclusive<u64>) -> Vec<u8> {
        Summary::Sequences(range.collect()).encode()
    }

    /// `decode(bytes)`, then `with(add)`: the summary, or the damage it names.
    fn check(name: &str, bytes: &[u8], add: u64, want: Result<Summary, &str>) {
        let got = Summary::decode(bytes).and_then(|s| s.with(add));
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
            (Err(e), Err(text)) => assert!(e.to_string().contains(text), "{name}: {e}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn summaries_decode_grow_and_refuse_damage() {
        let max = GROUP_SEQUENCES_MAX as u64;
        let large = Summary::Large;
        check("the empty value is large", &[], 1, Ok(Summary::Large));
        check(
            "one more",
            &seqs(1..=3),
            9,
            Ok(Summary::Sequences(vec![1, 2, 3, 9])),
        );
        check("at the limit", &seqs(1..=max), max + 1, Ok(large.clone()));
        check("large stays large", &large.encode(), 7, Ok(large));
        check("not whole", &[0; 9], 1, Err("a summary of 9 bytes"));
        check("too many", &seqs(1..=max + 1), max + 2, Err("a summary of"));
        check(
            "out of order",
            &[seqs(5..=5), seqs(2..=2)].concat(),
            9,
            Err("out of order"),
        );
        check(
            "added behind",
            &seqs(1..=3),
            3,
            Err("added after a later one"),
        );
    }
}
