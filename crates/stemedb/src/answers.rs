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
//! `at_sequence` or `min_sequence`): the group's records, which its summary lists (the key
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
//! Invariant: an entry is an answer computed at a bound at or above the `changed_at` of the
//! version it is kept under. The writer sets that value while it derives the record, before
//! the record is durable, so a reader loads the version before its bound, and neither keeps
//! nor uses an entry when its bound is below it (the change is not yet visible to it; an entry
//! computed past it would show a record that is not yet durable). A reader that loaded the
//! version just before a change may still be answered from an entry made before it: its
//! answer is the state when its request started, and the change was not yet acknowledged to
//! anyone. One field differs from an answer computed afresh: the group's `assertions_cursor`
//! names the bound the kept answer was ranked at, which pages the same ranking.
//! `stemedb-cli/tests/it/answers.rs` checks every kind of change against an answer computed
//! afresh, the window while a change is being synced, and a rebuild; the differential test
//! (`tests/it/differential`) asks every group's winner through this path at every snapshot.
use std::sync::Arc;
use std::time::Instant;

use stemedb_lens::LensKind;
use stemedb_store::AnswersVersion;

use crate::query::{Paging, count_query, one_group};
use crate::views::value_heap_bytes;
use crate::{Db, DbError, Query, QueryResult};

/// What an entry costs besides what `group_bytes` counts: the `Arc`s, the strings' headers,
/// the winner's fixed fields twice (as `winner` and first of `assertions`), the cursor, the
/// cache's slot and key. Measured: a server's resident set grew about 1.5 KB for each answer
/// kept (docs/benchmarks.md, "Twenty-seventh session"), where this with `group_bytes` counts
/// about that.
const ENTRY_OVERHEAD_BYTES: u64 = 900;

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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AnswerKey {
    first_sequence: u64,
    last_sequence: u64,
    shape: Shape,
}

struct Answer {
    /// `Store::answers_version` when the answer was computed.
    version: AnswersVersion,
    subject: String,
    predicate: String,
    result: Arc<QueryResult>,
}

#[derive(Clone)]
struct Weighter;

impl quick_cache::Weighter<AnswerKey, Arc<Answer>> for Weighter {
    fn weight(&self, _: &AnswerKey, answer: &Arc<Answer>) -> u64 {
        let groups: usize = answer.result.groups.iter().map(group_bytes).sum();
        let body: usize = answer.result.groups.iter().map(body_bytes).sum();
        ENTRY_OVERHEAD_BYTES
            + (answer.subject.len() + answer.predicate.len() + groups + body) as u64
    }
}

/// What a group's JSON in the server's rendered body (`QueryResult::winner_only_body`, set
/// after the answer is kept) holds besides its strings: the winner's envelope fields (id,
/// signature, sequence, time, stage), the cursor, the field names (about 650 bytes: a body of
/// 1,034 for a winner of 256 canonical bytes and an explanation of 150), and the allocator's
/// rounding of the block up to its size class (docs/benchmarks.md, "Twenty-eighth session").
const BODY_FIXED_BYTES: usize = 800;

/// About what the rendered body holds for `group`: its winner's text, its explanation and
/// trust path again, and the fixed part.
fn body_bytes(group: &crate::GroupResult) -> usize {
    let trust = group.winner_trust.as_ref().map_or(0, |t| {
        t.path.iter().map(|agent| agent.len() + 3).sum::<usize>()
    });
    BODY_FIXED_BYTES
        + group.winner.canonical.len()
        + group.explanation.len()
        + group.subject.len()
        + group.predicate.len()
        + trust
}

/// About what a group's answer holds on the heap: its explanation, the winner's trust path,
/// and each record's body, agent and value.
fn group_bytes(group: &crate::GroupResult) -> usize {
    let trust = group.winner_trust.as_ref().map_or(0, |t| {
        t.path.iter().map(|agent| agent.len() + 24).sum::<usize>()
    });
    let records: usize = std::iter::once(&group.winner)
        .chain(&group.assertions)
        .map(|r| r.canonical.len() + r.agent_id.len() + value_heap_bytes(&r.value))
        .sum();
    group.explanation.len() + trust + records
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

    /// The answer kept for `key` and `query`'s group under `version`, if any.
    fn get(
        &self,
        key: &AnswerKey,
        version: AnswersVersion,
        query: &Query,
    ) -> Option<Arc<QueryResult>> {
        let answer = self.entries.get(key)?;
        let same = answer.version == version
            && answer.subject == query.subject
            && query.predicate.as_deref() == Some(answer.predicate.as_str());
        same.then(|| Arc::clone(&answer.result))
    }

    fn insert(
        &self,
        key: AnswerKey,
        version: AnswersVersion,
        query: &Query,
        result: &Arc<QueryResult>,
    ) {
        if !self.keeps {
            return;
        }
        let answer = Answer {
            version,
            subject: query.subject.clone(),
            predicate: query.predicate.clone().unwrap_or_default(),
            result: Arc::clone(result),
        };
        self.entries.insert(key, Arc::new(answer));
    }
}

impl Db {
    /// Answers a query whose `shape` may be kept (one group, winner only, the latest state):
    /// from the cache when it holds the answer, else ranked and kept. `None` when the group
    /// holds more than `records_max` records (as `query_if_small`). Counted as every query
    /// is, errors included, and by whether the answer was the one kept.
    pub(crate) fn query_one_kept(
        &self,
        query: &Query,
        shape: Shape,
        records_max: usize,
    ) -> Result<Option<Arc<QueryResult>>, DbError> {
        let started = Instant::now();
        let answer = self.kept_or_ranked(query, shape, records_max);
        if let Ok(Some((_, kept))) = &answer {
            let outcome = if *kept { "kept" } else { "ranked" };
            metrics::counter!("stemedb_winner_answers_total", "outcome" => outcome).increment(1);
        }
        if !matches!(answer, Ok(None)) {
            count_query(query.lens, started);
        }
        answer.map(|found| found.map(|(result, _)| result))
    }

    /// The answer, and whether it was the one kept.
    fn kept_or_ranked(
        &self,
        query: &Query,
        shape: Shape,
        records_max: usize,
    ) -> Result<Option<(Arc<QueryResult>, bool)>, DbError> {
        // Before the bound: see the invariant.
        let version = self.store.answers_version();
        let (_, page_len, prefix) = self.checked_shape(query, Paging::Page)?;
        let bound = self.read_bound(None, None, None)?;
        let sequences = self.store.group_sequences(&prefix, bound.seq_max)?;
        if sequences.len() > records_max {
            return Ok(None);
        }
        let key = match (sequences.first(), sequences.last()) {
            (Some(&first_sequence), Some(&last_sequence))
                if bound.seq_max >= version.changed_at =>
            {
                Some(AnswerKey {
                    first_sequence,
                    last_sequence,
                    shape,
                })
            }
            _ => None,
        };
        if let Some(key) = &key
            && let Some(result) = self.answers.get(key, version, query)
        {
            return Ok(Some((result, true)));
        }
        let scanned = match one_group(query) {
            Some(group) if !sequences.is_empty() => vec![(group, sequences)],
            _ => Vec::new(),
        };
        let result = Arc::new(self.answer_groups(query, bound, scanned, page_len, None)?);
        if let Some(key) = key {
            self.answers.insert(key, version, query, &result);
        }
        Ok(Some((result, false)))
    }
}
