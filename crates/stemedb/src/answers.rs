//! Winner answers kept by group (`AnswerCache`), so that a winner query asked again of a
//! group that has not changed is answered without ranking it again.
//!
//! Why: a winner query of one group at 1 M stored spent about 38 % of the server's CPU ranking
//! the group (its summary, its records' lens fields, their stages, the winner's body from the
//! record cache, each a miss to memory), against about 54 % for HTTP and the kernel
//! (docs/benchmarks.md, "Twenty-seventh session"). Asked again, the same group gives the same
//! answer until something it rests on changes.
//!
//! What an answer rests on, at the latest state (the only one kept: no `as_of`, `known_at`,
//! `at_sequence` or `min_sequence`): the group's records, which its summary lists (an entry
//! holds the first and last of them; records are only ever added, at higher sequences, so the
//! two name the list exactly), and what other records say of them: stages (retractions,
//! supersessions, reviews, ...), votes, gold marks and trust. Those come only from records
//! that `stemedb-store` counts in `AnswersVersion::changed_at` (control records, `supersedes`,
//! `derived_from`), or from a rebuild of derived state in place (a restore, a rebuild of the
//! indexes, the engine's reopen after a full disk), counted in `AnswersVersion::rebuilds` once
//! it is done. So an entry keeps the version it was computed under and is used only while that
//! is unchanged. No lens reads the clock (`LensContext::now` is unused by every ranking), and
//! the evidence lens, whose table of earned accuracy a background pass replaces, is never kept.
//!
//! What is kept is the caller's rendering of the answer (`Render`: the server's JSON body),
//! not the answer itself: sent again as it is, a kept answer costs neither the ranking nor the
//! rendering, and an entry holds the body alone (about 1.5 KB against 2.7 for the answer and
//! its body: more answers in the same bytes; docs/benchmarks.md, "Twenty-eighth session").
//! The key names the group and the rendering function, so two renderings of one answer never
//! mix.
//!
//! An entry is found by its group's name, and checked in one of two ways. Most often the
//! group's mark (`Store::group_changed_through`: the last commit that added a record to a
//! group of its slot) is at or below the sequence the answer is known to hold at, so the
//! group has not changed since and its summary is not read: that read and its copy were
//! about half of a kept answer's own cost (docs/benchmarks.md, "Thirty-second session").
//! Otherwise (another group of the slot was written since) the group's summary is read, and
//! the entry holds if its first and last sequences are the group's; the entry then records
//! that it holds at this reader's bound, so the next reader checks it by the mark again.
//! Neither way of checking reads the engine when the mark settles it, so while the engine is
//! being reopened after a failed commit a kept answer may still be given (the reopen raises
//! every mark and `changed_at` before it publishes what its journal brought back, so such an
//! answer misses nothing durable); a read that needs the engine waits for it, as every read
//! does.
//!
//! Invariant: an entry is an answer computed at a bound at or above the `changed_at` of the
//! version it is kept under. The writer sets that value while it derives the record, before
//! the record is durable, so a reader loads the version before its bound, and neither keeps
//! nor uses an entry when its bound is below it (the change is not yet visible to it; an entry
//! computed past it would show a record that is not yet durable). A reader that loaded the
//! version just before a change may still be answered from an entry made before it: its
//! answer is the state when its request started, and the change was not yet acknowledged to
//! anyone. The mark is read after the bound, as `stemedb-store`'s `group_marks.rs` requires,
//! and an entry is used by its mark only at a bound at or above the one it is known to hold
//! at. One field differs from an answer computed afresh: the group's `assertions_cursor`
//! names the bound the kept answer was ranked at, which pages the same ranking.
//! `stemedb-cli/tests/it/answers.rs` checks every kind of change against an answer computed
//! afresh, the window while a change is being synced, and a rebuild; the differential test
//! (`tests/it/differential`) asks every group's winner through this path at every snapshot.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use stemedb_lens::LensKind;
use stemedb_store::AnswersVersion;

use crate::query::{Paging, one_group};
use crate::query_metrics::{count_query, count_winner_answer};
use crate::{Db, DbError, Query, QueryResult};

/// What an entry costs besides its body and its group's names: the `Arc`, the `Bytes`
/// handle, the key, the cache's slot, the allocator's rounding of the body's block.
/// Measured: a server's resident set grew about as this counts for each answer kept
/// (docs/benchmarks.md, "Twenty-eighth session").
const ENTRY_OVERHEAD_BYTES: u64 = 400;

/// The share of the cache's weight for answers asked for more than once; the other half holds
/// new ones until it has filled again. With quick_cache's default (3 % for new entries) and a
/// working set larger than the cache (the three lenses of the PostgreSQL benchmark, one after
/// the other, over 300,000 groups each), a new answer was gone before it was asked for again,
/// and few were ever kept: authority and consensus winners cost 40–45 µs of server CPU in
/// that benchmark against 27 for recency, the lens asked first (docs/benchmarks.md,
/// "Twenty-seventh session").
const HOT_SHARE: f64 = 0.5;

/// The parameters, besides the group, that shape a kept answer: the lens and the two
/// `include_*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    lens: LensKind,
    include_retracted: bool,
    include_superseded: bool,
}

/// The shape of `query` when its answer may be kept: a winner-only query of one named group at
/// the latest state, through any lens but the evidence lens. `None` otherwise.
pub(crate) fn shape(query: &Query) -> Option<Shape> {
    let latest = query.as_of.is_none()
        && query.known_at.is_none()
        && query.at_sequence.is_none()
        && query.min_sequence.is_none();
    let one_page = query.cursor.is_none()
        && query.assertions_cursor.is_none()
        && query.assertions_limit.is_none();
    (query.winner_only && latest && one_page && query.lens != LensKind::Evidence)
        .then_some(())
        .and(one_group(query).map(|_| Shape {
            lens: query.lens,
            include_retracted: query.include_retracted,
            include_superseded: query.include_superseded,
        }))
}

/// Renders an answer as its caller sends it (the server: the response body). It must depend
/// on the answer alone: the rendering of a kept answer is sent again as it is. An entry is
/// weighed by the bytes' length, so they should own a block of their size (not a slice of a
/// larger buffer, nor a `Vec`'s spare capacity), or the cache holds more than it counts.
pub type Render<E> = fn(&QueryResult) -> Result<Bytes, E>;

/// A kept answer's key: its group and how it was asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AnswerKey {
    /// The group's `by_subject` prefix, `subject 0x00 predicate 0x00`.
    group: Box<[u8]>,
    shape: Shape,
    /// The rendering function's address: the same address is the same rendering.
    render: usize,
}

/// An `AnswerKey` borrowed, to look an answer up without a copy of the group's name. It
/// hashes as `AnswerKey` does: the same fields in the same order, `&[u8]` as `Box<[u8]>`.
#[derive(Hash)]
struct AnswerKeyRef<'a> {
    group: &'a [u8],
    shape: Shape,
    render: usize,
}

impl quick_cache::Equivalent<AnswerKey> for AnswerKeyRef<'_> {
    fn equivalent(&self, key: &AnswerKey) -> bool {
        self.group == &*key.group && self.shape == key.shape && self.render == key.render
    }
}

struct Answer {
    /// `Store::answers_version` when the answer was computed.
    version: AnswersVersion,
    /// The group's first and last sequence when it was ranked: records are only ever added,
    /// at higher sequences, so the two name its list exactly.
    first_sequence: u64,
    last_sequence: u64,
    /// How many records the group held.
    records: usize,
    /// A durable sequence at which the answer is known to hold: the bound it was ranked at,
    /// raised when a reader finds the group unchanged at a later one. Only rises.
    holds_at: AtomicU64,
    body: Bytes,
}

impl Answer {
    /// Whether this answer holds at durable sequence `bound` without reading the group:
    /// it held at `holds_at ≤ bound`, and the group's mark (`Store::group_changed_through`,
    /// read after `bound`) says no record was added to it since.
    fn holds_unread(&self, bound: u64, changed_through: u64) -> bool {
        let holds_at = self.holds_at.load(Ordering::Acquire);
        holds_at <= bound && changed_through <= holds_at
    }

    /// Whether this answer holds for the group's list at `bound` (its `first` and `last`),
    /// and if so records that it does.
    fn holds_for(&self, first: u64, last: u64, bound: u64) -> bool {
        let same = self.first_sequence == first && self.last_sequence == last;
        if same {
            self.holds_at.fetch_max(bound, Ordering::AcqRel);
        }
        same
    }
}

#[derive(Clone)]
struct Weighter;

impl quick_cache::Weighter<AnswerKey, Arc<Answer>> for Weighter {
    fn weight(&self, key: &AnswerKey, answer: &Arc<Answer>) -> u64 {
        ENTRY_OVERHEAD_BYTES + (key.group.len() + answer.body.len()) as u64
    }
}

/// The cache: at most `bytes` of answers, filled by the winner queries that miss.
pub(crate) struct AnswerCache {
    entries: stemedb_store::WeightedCache<AnswerKey, Arc<Answer>, Weighter>,
    keeps: bool,
}

impl AnswerCache {
    /// A cache of at most `bytes` (0: none; every query is ranked).
    pub(crate) fn new(bytes: u64) -> AnswerCache {
        AnswerCache {
            entries: stemedb_store::weighted_cache_with(bytes, Weighter, HOT_SHARE),
            keeps: bytes > 0,
        }
    }

    /// The answer kept for `key` under `version`, if any.
    fn get(&self, key: &AnswerKeyRef<'_>, version: AnswersVersion) -> Option<Arc<Answer>> {
        if !self.keeps {
            return None;
        }
        self.entries
            .get(key)
            .filter(|answer| answer.version == version)
    }

    fn insert(&self, key: &AnswerKeyRef<'_>, answer: Answer) {
        if !self.keeps {
            return;
        }
        let key = AnswerKey {
            group: key.group.into(),
            shape: key.shape,
            render: key.render,
        };
        self.entries.insert(key, Arc::new(answer));
    }
}

impl Db {
    /// Answers a query whose `shape` may be kept (one group, winner only, the latest state),
    /// rendered by `render`: the body kept when the cache holds it, else ranked, rendered and
    /// kept. `None` when the group holds more than `records_max` records (as
    /// `query_if_small`). Counted as every query is, errors included, and by whether the
    /// answer was the one kept.
    pub(crate) fn query_one_kept<E: From<DbError>>(
        &self,
        query: &Query,
        shape: Shape,
        records_max: usize,
        render: Render<E>,
    ) -> Result<Option<Bytes>, E> {
        let started = Instant::now();
        let answer = self.kept_or_ranked(query, shape, records_max, render);
        if let Ok(Some((_, kept))) = &answer {
            count_winner_answer(*kept);
        }
        if !matches!(answer, Ok(None)) {
            count_query(query.lens, started);
        }
        answer.map(|found| found.map(|(body, _)| body))
    }

    /// The rendered answer, and whether it was the one kept.
    fn kept_or_ranked<E: From<DbError>>(
        &self,
        query: &Query,
        shape: Shape,
        records_max: usize,
        render: Render<E>,
    ) -> Result<Option<(Bytes, bool)>, E> {
        // Before the bound: see the invariant.
        let version = self.store.answers_version();
        let (_, page_len, prefix) = self.checked_shape(query, Paging::Page)?;
        let bound = self.read_bound(None, None, None)?;
        let key = AnswerKeyRef {
            group: &prefix,
            shape,
            render: render as usize,
        };
        let keyable = bound.seq_max >= version.changed_at;
        let kept = keyable
            .then(|| self.answers.get(&key, version))
            .flatten()
            .filter(|answer| answer.records <= records_max);
        // After the bound (`Store::group_changed_through`).
        if let Some(answer) = &kept
            && answer.holds_unread(bound.seq_max, self.store.group_changed_through(&prefix))
        {
            return Ok(Some((answer.body.clone(), true)));
        }
        let sequences = self
            .store
            .group_sequences(&prefix, bound.seq_max)
            .map_err(DbError::from)?;
        if sequences.len() > records_max {
            return Ok(None);
        }
        let (Some(&first), Some(&last)) = (sequences.first(), sequences.last()) else {
            // No such group: answered empty, never kept.
            let result = self.answer_groups(query, bound, Vec::new(), page_len, None)?;
            return render(&result).map(|body| Some((body, false)));
        };
        if let Some(answer) = &kept
            && answer.holds_for(first, last, bound.seq_max)
        {
            return Ok(Some((answer.body.clone(), true)));
        }
        let records = sequences.len();
        let scanned = match one_group(query) {
            Some(group) => vec![(group, sequences)],
            None => Vec::new(),
        };
        let result = self.answer_groups(query, bound, scanned, page_len, None)?;
        let body = render(&result)?;
        if keyable {
            let answer = Answer {
                version,
                first_sequence: first,
                last_sequence: last,
                records,
                holds_at: AtomicU64::new(bound.seq_max),
                body: body.clone(),
            };
            self.answers.insert(&key, answer);
        }
        Ok(Some((body, false)))
    }
}

#[cfg(test)]
mod tests {
    use super::{Answer, AnswersVersion};
    use std::sync::atomic::{AtomicU64, Ordering};

    fn answer(holds_at: u64) -> Answer {
        Answer {
            version: AnswersVersion {
                rebuilds: 0,
                changed_at: 0,
            },
            first_sequence: 3,
            last_sequence: 8,
            records: 2,
            holds_at: AtomicU64::new(holds_at),
            body: bytes::Bytes::new(),
        }
    }

    /// An answer known to hold at `holds_at`, asked at `bound` with the group's mark
    /// `changed_through`: whether it holds without reading the group.
    #[rustfmt::skip]
    fn check_unread(name: &str, holds_at: u64, bound: u64, changed_through: u64, want: bool) {
        assert_eq!(answer(holds_at).holds_unread(bound, changed_through), want, "{name}");
    }

    #[test]
    #[rustfmt::skip]
    fn an_answer_holds_unread_only_while_its_group_is_unchanged() {
        check_unread("asked at the bound it was ranked at", 10, 10, 10, true);
        check_unread("no commit to its slot since", 10, 12, 5, true);
        check_unread("a commit to its slot since", 10, 12, 11, false);
        check_unread("a commit to its slot being published", 10, 12, 13, false);
        check_unread("asked at a bound below the one it holds at", 10, 9, 5, false);
    }

    /// Read the long way, an answer holds when the group's first and last sequences are its
    /// own, and then holds from the reader's bound on.
    #[test]
    #[rustfmt::skip]
    fn an_answer_read_the_long_way_holds_for_the_same_list() {
        for (name, first, last, holds, holds_at) in [
            ("the same list", 3, 8, true, 20),
            ("a record added", 3, 9, false, 10),
            ("another group's list", 4, 8, false, 10),
        ] {
            let kept = answer(10);
            assert_eq!(kept.holds_for(first, last, 20), holds, "{name}");
            assert_eq!(kept.holds_at.load(Ordering::Acquire), holds_at, "{name}: holds at");
        }
    }
}
