//! The read path: select groups by subject (exact or `prefix/*`) and predicate, keep what was
//! true `as_of` a valid time and known at a transaction time or sequence, rank each group
//! through the chosen lens. A group's ranking is computed whole (O(n log n) in its size) but
//! answered a page at a time (`assertions_limit`, `assertions_cursor`); a caller's deadline is
//! checked every [`DEADLINE_EVERY`] records, so work past it stops with
//! [`DbError::DeadlineExceeded`].
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use stemedb_core::{Timestamp, ValidationError};

use stemedb_lens::{Candidate, LensContext, LensKind, TrustMap, rank};
use stemedb_store::{Bound, GroupKey, Stage};

use crate::cursor::{GroupCursor, decode_cursor, encode_cursor};
use crate::error::bad;
use crate::query_metrics::count_query;
use crate::reliability::ReliabilityTable;
use crate::{Db, DbError, RecordView};

/// A query (docs/api.md). `subject` is exact, or a prefix ending in `/*`; `*` alone means all.
#[derive(Debug, Clone)]
pub struct Query {
    pub subject: String,
    pub predicate: Option<String>,
    pub lens: LensKind,
    /// Valid time: only assertions whose `timestamp` ≤ `as_of`.
    pub as_of: Option<Timestamp>,
    /// Transaction time: only records with `recorded_at` ≤ `known_at`.
    pub known_at: Option<Timestamp>,
    /// Transaction position: only records with `sequence` ≤ `at_sequence`.
    pub at_sequence: Option<u64>,
    /// Read-your-writes: answer only once this node has applied at least this sequence
    /// (`DbError::NotYetApplied` otherwise; the server waits a bounded time first).
    pub min_sequence: Option<u64>,
    /// Groups per page.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Let retracted assertions take part in the lens.
    pub include_retracted: bool,
    /// Let superseded assertions take part in the lens, and every assertion of an agent rather
    /// than only its latest in the group.
    pub include_superseded: bool,
    /// Assertions per group page (default `query_assertions_default`).
    pub assertions_limit: Option<usize>,
    /// `assertions_cursor` of a group in an earlier answer: that group's next page, alone.
    pub assertions_cursor: Option<String>,
    /// Just each group's winner: a page of one (the winner), which callers render without the
    /// page lists. Refused with `assertions_limit` or `assertions_cursor`.
    pub winner_only: bool,
    /// When the caller stops waiting: work past it stops with `DbError::DeadlineExceeded`.
    pub deadline: Option<Instant>,
}

impl Query {
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            predicate: None,
            lens: LensKind::Evidence,
            as_of: None,
            known_at: None,
            at_sequence: None,
            min_sequence: None,
            limit: None,
            cursor: None,
            include_retracted: false,
            include_superseded: false,
            assertions_limit: None,
            assertions_cursor: None,
            winner_only: false,
            deadline: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GroupResult {
    pub subject: String,
    pub predicate: String,
    pub conflict_score: f64,
    pub explanation: String,
    /// The lens's winner (also first in the first page).
    pub winner: RecordView,
    /// This page of the ranking: `assertions_offset..` of `assertions_total`; never empty.
    pub assertions: Vec<RecordView>,
    /// Assertions of the group that took part in the lens.
    pub assertions_total: usize,
    /// Rank (from 0) of the page's first assertion.
    pub assertions_offset: usize,
    /// Resumes this group after this page; `None` on its last page.
    pub assertions_cursor: Option<String>,
    /// The winner's trust and chain (authority, conflict and layered lenses).
    pub winner_trust: Option<WinnerTrust>,
    /// The layer that decided (layered lens).
    pub layer: Option<&'static str>,
}

/// The winning agent's trust, as the authority lens used it.
#[derive(Debug, Clone)]
pub struct WinnerTrust {
    pub trust: f64,
    /// Hops from a root (0 for a root); `None` when no chain reaches the agent.
    pub depth: Option<usize>,
    /// Root first, the winner's agent last; empty without a chain.
    pub path: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct QueryResult {
    pub lens: LensKind,
    pub groups: Vec<GroupResult>,
    pub next_cursor: Option<String>,
}

/// The `by_subject` key prefix a query scans.
fn scan_prefix(query: &Query, limits: &stemedb_core::Limits) -> Result<Vec<u8>, DbError> {
    let subject = query.subject.as_str();
    if subject == "*" {
        return Ok(Vec::new());
    }
    if let Some(prefix) = subject.strip_suffix('*') {
        if !prefix.ends_with('/') || prefix.contains('*') {
            return Err(bad(
                "subject",
                "a prefix query ends in \"/*\", such as drug/*",
            ));
        }
        return Ok(prefix.as_bytes().to_vec());
    }
    if subject.is_empty()
        || subject.len() > limits.subject_bytes_max
        || subject.chars().any(char::is_control)
    {
        return Err(bad(
            "subject",
            format!(
                "must be 1 to {} bytes without control characters",
                limits.subject_bytes_max
            ),
        ));
    }
    let mut key = subject.as_bytes().to_vec();
    key.push(0);
    if let Some(p) = &query.predicate {
        key.extend_from_slice(p.as_bytes());
        key.push(0);
    }
    Ok(key)
}

/// The one group a query names, when it names a subject (not a prefix) and a predicate.
pub(crate) fn one_group(query: &Query) -> Option<GroupKey> {
    let subject = query.subject.as_str();
    let predicate = query.predicate.as_ref()?;
    (!subject.ends_with('*')).then(|| GroupKey {
        subject: subject.to_owned(),
        predicate: predicate.clone(),
    })
}

/// Records handled between two reads of the clock against a caller's deadline.
pub const DEADLINE_EVERY: usize = 256;

/// Groups of at most this many records keep every record's canonical bytes from the ranking
/// read, whatever the page (bounded memory: 16 records of at most a body limit each).
const KEEP_CANONICAL_RECORDS_MAX: usize = 16;

/// Stops work past the caller's deadline; reads the clock only every [`DEADLINE_EVERY`]th call
/// (`done` counts the records handled so far).
pub(crate) fn check_deadline(
    deadline: Option<Instant>,
    done: usize,
    work: &'static str,
) -> Result<(), DbError> {
    if done.is_multiple_of(DEADLINE_EVERY) && deadline.is_some_and(|d| Instant::now() >= d) {
        metrics::counter!("stemedb_deadline_exceeded_total", "work" => work).increment(1);
        return Err(DbError::DeadlineExceeded { work });
    }
    Ok(())
}

/// Whether a group is answered a page at a time (callers) or whole (skeptic, audit export).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paging {
    Page,
    All,
}

impl Db {
    /// Runs a query; the lens is evaluated at the clock's "now". Each group answers one page
    /// of its ranking (`assertions_limit`), with a cursor to the rest.
    pub fn query(&self, query: &Query) -> Result<QueryResult, DbError> {
        let _slot = self.read_slots.acquire(query.deadline, "query")?;
        self.query_paged(query, Paging::Page)
    }

    /// Runs a query answering every group whole (for the skeptic and the audit export, which
    /// hold a read slot already).
    pub(crate) fn query_paged(
        &self,
        query: &Query,
        paging: Paging,
    ) -> Result<QueryResult, DbError> {
        self.query_counted(query, paging, usize::MAX)?
            .ok_or(DbError::Internal("a query without a size bound declined"))
    }

    /// Runs a query on the caller's thread only if it is small: its groups hold at most
    /// `records_max` records together, it resumes no group, and a read slot is free at once.
    /// `None` otherwise (after a key-only scan), so that the caller runs it with
    /// [`Db::query`] where waiting is allowed. This lets the server answer the common exact
    /// query on its async worker, sparing two thread hand-offs that cost more than the query
    /// itself, without ever holding that worker on a large group or a wait.
    /// The answer comes back as `render` makes it (the server: its response body). A
    /// winner-only query of one group at the latest state is answered with the rendering
    /// kept from an earlier one when the group and everything else its answer rests on are
    /// unchanged (`answers.rs`).
    pub fn query_if_small<E: From<DbError>>(
        &self,
        query: &Query,
        records_max: usize,
        render: crate::Render<E>,
    ) -> Result<Option<Bytes>, E> {
        // A read in the past through the evidence lens may compute a reliability table: a
        // pass over the store, never on the caller's async worker.
        let past = query.at_sequence.is_some() || query.known_at.is_some() || query.as_of.is_some();
        if query.assertions_cursor.is_some() || (query.lens == LensKind::Evidence && past) {
            return Ok(None);
        }
        let Some(_slot) = self.read_slots.try_acquire() else {
            return Ok(None);
        };
        if let Some(shape) = crate::answers::shape(query) {
            return self.query_one_kept(query, shape, records_max, render);
        }
        match self.query_counted(query, Paging::Page, records_max)? {
            Some(result) => render(&result).map(Some),
            None => Ok(None),
        }
    }

    fn query_counted(
        &self,
        query: &Query,
        paging: Paging,
        records_max: usize,
    ) -> Result<Option<QueryResult>, DbError> {
        let started = std::time::Instant::now();
        let result = self.query_uncounted(query, paging, records_max);
        if matches!(result, Ok(None)) {
            return result;
        }
        count_query(query.lens, started);
        result
    }

    fn query_uncounted(
        &self,
        query: &Query,
        paging: Paging,
        records_max: usize,
    ) -> Result<Option<QueryResult>, DbError> {
        let applied = self.store.last_sequence();
        if let Some(min_sequence) = query.min_sequence.filter(|min| *min > applied) {
            return Err(DbError::NotYetApplied {
                min_sequence,
                applied,
            });
        }
        let (limit, page_len, prefix) = self.checked_shape(query, paging)?;
        if let Some(text) = &query.assertions_cursor {
            return self.resume_group(query, text, &prefix, page_len).map(Some);
        }
        let start = query
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, &prefix))
            .transpose()?;
        let predicate = query.predicate.clone();
        let keep = move |g: &GroupKey| predicate.as_deref().is_none_or(|p| g.predicate == p);
        let bound = self.read_bound(query.at_sequence, query.known_at, query.as_of)?;
        let (scanned, more) = match one_group(query) {
            // One named group, its summary read with one point read.
            Some(group) if start.is_none() => {
                let sequences = self.store.group_sequences(&prefix, bound.seq_max)?;
                let found = (!sequences.is_empty()).then_some((group, sequences));
                (found.into_iter().collect(), false)
            }
            _ => self
                .store
                .scan_groups(&prefix, start.as_deref(), bound.seq_max, limit, &keep)?,
        };
        if scanned.iter().map(|(_, s)| s.len()).sum::<usize>() > records_max {
            return Ok(None);
        }
        let next_cursor = if more {
            scanned.last().map(|(g, _)| encode_cursor(g))
        } else {
            None
        };
        self.answer_groups(query, bound, scanned, page_len, next_cursor)
            .map(Some)
    }

    /// The query's groups per page, its page length and its key prefix; a parameter out of
    /// its range is a `BadQuery` naming it.
    pub(crate) fn checked_shape(
        &self,
        query: &Query,
        paging: Paging,
    ) -> Result<(usize, usize, Vec<u8>), DbError> {
        let limits = &self.config.limits;
        let predicate_max = limits.predicate_bytes_max;
        if query
            .predicate
            .as_ref()
            .is_some_and(|p| p.is_empty() || p.len() > predicate_max)
        {
            return Err(bad(
                "predicate",
                format!("must be 1 to {predicate_max} bytes"),
            ));
        }
        let limit = query.limit.unwrap_or(self.config.query_groups_default);
        if limit == 0 || limit > self.config.query_groups_max {
            return Err(bad(
                "limit",
                format!("must be 1 to {}", self.config.query_groups_max),
            ));
        }
        let page_len = match paging {
            Paging::All => usize::MAX,
            Paging::Page => self.assertions_page_len(query)?,
        };
        Ok((limit, page_len, scan_prefix(query, limits)?))
    }

    /// Ranks each scanned group at `bound`: the first page of each (`page_len`).
    pub(crate) fn answer_groups(
        &self,
        query: &Query,
        bound: Bound,
        scanned: Vec<(GroupKey, Vec<u64>)>,
        page_len: usize,
        next_cursor: Option<String>,
    ) -> Result<QueryResult, DbError> {
        let reading = self.reading(query, bound)?;
        let mut groups = Vec::with_capacity(scanned.len());
        for (group, sequences) in scanned {
            check_deadline(query.deadline, 0, "query")?;
            let page = PageAt {
                offset: 0,
                len: page_len,
            };
            if let Some(result) = self.resolve_group(group, &sequences, &reading, page)? {
                groups.push(result);
            }
        }
        Ok(QueryResult {
            lens: query.lens,
            groups,
            next_cursor,
        })
    }

    pub(crate) fn reading<'q>(
        &self,
        query: &'q Query,
        bound: Bound,
    ) -> Result<Reading<'q>, DbError> {
        let trust = self.store.trust_map(bound)?;
        let reliability = if query.lens == LensKind::Evidence {
            Some(self.reliability_at(query, bound, &trust)?)
        } else {
            None
        };
        Ok(Reading {
            query,
            bound,
            trust,
            reliability,
            context: LensContext {
                now: self.clock.now(),
            },
            fingerprint: fingerprint(query),
            ever_staged: None,
        })
    }

    fn assertions_page_len(&self, query: &Query) -> Result<usize, DbError> {
        if query.winner_only {
            return match (&query.assertions_limit, &query.assertions_cursor) {
                (None, None) => Ok(1),
                (Some(_), _) => Err(bad("assertions_limit", "not with winner_only")),
                (_, Some(_)) => Err(bad("assertions_cursor", "not with winner_only")),
            };
        }
        let max = self.config.query_assertions_max;
        let len = query
            .assertions_limit
            .unwrap_or(self.config.query_assertions_default.min(max));
        if len == 0 || len > max {
            return Err(bad("assertions_limit", format!("must be 1 to {max}")));
        }
        Ok(len)
    }

    /// The next page of the one group an `assertions_cursor` names, read at the cursor's
    /// sequence so that the pages of a group are one snapshot.
    fn resume_group(
        &self,
        query: &Query,
        text: &str,
        prefix: &[u8],
        page_len: usize,
    ) -> Result<QueryResult, DbError> {
        if query.cursor.is_some() {
            return Err(bad(
                "assertions_cursor",
                "pages one group; it cannot be combined with cursor",
            ));
        }
        let cursor = GroupCursor::decode(text)?;
        let group_prefix = cursor.group_prefix();
        let in_query = group_prefix.starts_with(prefix)
            && query
                .predicate
                .as_deref()
                .is_none_or(|p| p == cursor.group.predicate);
        if !in_query || cursor.fingerprint != fingerprint(query) {
            return Err(bad("assertions_cursor", "belongs to another query"));
        }
        let at = query
            .at_sequence
            .map_or(cursor.seq_max, |s| s.min(cursor.seq_max));
        let bound = self.read_bound(Some(at), query.known_at, query.as_of)?;
        let (scanned, _) = self
            .store
            .scan_groups(&group_prefix, None, bound.seq_max, 1, &|g| {
                *g == cursor.group
            })?;
        let reading = self.reading(query, bound)?;
        let mut groups = Vec::new();
        for (group, sequences) in scanned {
            let page = PageAt {
                offset: cursor.offset,
                len: page_len,
            };
            groups.extend(self.resolve_group(group, &sequences, &reading, page)?);
        }
        Ok(QueryResult {
            lens: query.lens,
            groups,
            next_cursor: None,
        })
    }

    /// The group's records that the query admits, each with its stage as of the bound. Unless
    /// the whole group is answered, their canonical bytes are dropped here (the page's are read
    /// again), so a large group costs only the fields a lens reads.
    pub(crate) fn admitted_records(
        &self,
        sequences: &[u64],
        reading: &Reading<'_>,
        keep_canonical: bool,
    ) -> Result<Vec<RecordView>, DbError> {
        let query = reading.query;
        let views = self.lens_views(sequences, query, keep_canonical)?;
        let mut records = Vec::with_capacity(views.len());
        for (done, view) in views.into_iter().enumerate() {
            check_deadline(query.deadline, done, "query")?;
            let valid = query.as_of.is_none_or(|t| view.timestamp <= t);
            let known = query.known_at.is_none_or(|t| view.recorded_at <= t);
            if !(valid && known) {
                continue;
            }
            let sequence = view.sequence;
            let lifecycle = match &reading.ever_staged {
                Some(staged) if staged.binary_search(&sequence).is_err() => {
                    crate::Lifecycle::ACTIVE
                }
                _ => self.lifecycle(sequence, reading.bound)?,
            };
            let admitted = match lifecycle.stage {
                Stage::Active => true,
                Stage::Retracted => query.include_retracted,
                Stage::Superseded => query.include_superseded,
                _ => false,
            };
            if admitted {
                records.push(RecordView { lifecycle, ..view });
            }
        }
        Ok(records)
    }

    fn candidates<'r>(
        &self,
        records: &'r [RecordView],
        reading: &'r Reading<'_>,
    ) -> Result<Vec<Candidate<'r>>, DbError> {
        let lens = reading.query.lens;
        let uses_votes = matches!(lens, LensKind::Consensus | LensKind::Layered);
        let mut candidates: Vec<Candidate<'_>> = Vec::with_capacity(records.len());
        for (done, r) in records.iter().enumerate() {
            let vote_balance = if uses_votes {
                check_deadline(reading.query.deadline, done, "query")?;
                self.store
                    .votes(&r.id, reading.bound)?
                    .votes
                    .iter()
                    .map(|(voter, v)| reading.trust.trust(voter) * f64::from(*v))
                    .sum()
            } else {
                0.0
            };
            candidates.push(Candidate {
                id: r.id,
                sequence: r.sequence,
                timestamp: r.timestamp,
                confidence: r.confidence,
                trust: reading.trust.trust(&r.agent_id),
                value: &r.value,
                agent_id: &r.agent_id,
                vote_balance,
                gold: matches!(lens, LensKind::Layered | LensKind::Evidence)
                    && self.store.is_gold(&r.id, reading.bound)?,
                rooted: reading.trust.entry(&r.agent_id).is_some(),
                accuracy: reading
                    .reliability
                    .as_ref()
                    .map_or(0.0, |t| t.accuracy(&r.agent_id, &reading.trust)),
                copy_of: reading
                    .reliability
                    .as_ref()
                    .and_then(|t| t.copy_of(&r.agent_id)),
            });
        }
        Ok(candidates)
    }

    /// Puts back the canonical bytes (and the signature) that `admitted_records` dropped or
    /// the view cache never held.
    fn with_canonical(&self, mut record: RecordView) -> Result<RecordView, DbError> {
        if !record.canonical.is_empty() {
            return Ok(record);
        }
        let stored = self
            .store
            .get_by_sequence(record.sequence)?
            .ok_or(DbError::Internal("a ranked record vanished from the log"))?;
        if stored.id() != record.id {
            return Err(DbError::Internal(
                "a ranked record is not the one the log holds",
            ));
        }
        record.signature = stored.signature;
        record.canonical = stored.into_canonical();
        Ok(record)
    }

    fn resolve_group(
        &self,
        group: GroupKey,
        sequences: &[u64],
        reading: &Reading<'_>,
        page: PageAt,
    ) -> Result<Option<GroupResult>, DbError> {
        // A group that fits in the page, or is small, keeps each record's canonical bytes from
        // its one read; a larger one drops them and reads again only the page's records, so
        // that memory stays bounded by the page, not the group. (Small: a winner-only page of
        // one over a group of three read the winner twice.)
        let keep_canonical = sequences.len()
            <= page
                .offset
                .saturating_add(page.len)
                .max(KEEP_CANONICAL_RECORDS_MAX);
        let mut records = self.admitted_records(sequences, reading, keep_canonical)?;
        if !reading.query.include_superseded {
            records = latest_per_agent(records);
        }
        let total = records.len();
        if page.offset >= total {
            return Ok(None);
        }
        let candidates = self.candidates(&records, reading)?;
        let lens = reading.query.lens;
        let ranking = rank(lens, &candidates, &reading.context);
        drop(candidates);
        let end = page.offset.saturating_add(page.len).min(total);
        let (Some(&first), Some(ranked)) =
            (ranking.order.first(), ranking.order.get(page.offset..end))
        else {
            return Err(DbError::Internal(
                "a lens ranked fewer records than it was given",
            ));
        };
        let winner_index = first;
        let mut slots: Vec<Option<RecordView>> = records.into_iter().map(Some).collect();
        let winner = slots
            .get(winner_index)
            .and_then(Option::clone)
            .ok_or(DbError::Internal("the winner is not among the records"))?;
        let mut assertions = Vec::with_capacity(ranked.len());
        for &i in ranked {
            if let Some(record) = slots.get_mut(i).and_then(Option::take) {
                assertions.push(self.with_canonical(record)?);
            }
        }
        drop(slots);
        let winner = self.with_canonical(winner)?;
        let winner_trust = match lens {
            LensKind::Authority | LensKind::Conflict | LensKind::Layered => {
                Some(winner_trust(&reading.trust, &winner.agent_id))
            }
            _ => None,
        };
        let assertions_cursor = (end < total).then(|| {
            GroupCursor {
                group: group.clone(),
                seq_max: reading.bound.seq_max,
                offset: end,
                fingerprint: reading.fingerprint,
            }
            .encode()
        });
        Ok(Some(GroupResult {
            subject: group.subject,
            predicate: group.predicate,
            conflict_score: ranking.conflict_score,
            explanation: match &reading.reliability {
                Some(table) => format!(
                    "{}; accuracies from the reliability table at sequence {} ({} fact(s), {} agent(s))",
                    ranking.explanation,
                    table.sequence,
                    table.facts,
                    table.agent_count()
                ),
                None => ranking.explanation,
            },
            winner,
            assertions,
            assertions_total: total,
            assertions_offset: page.offset,
            assertions_cursor,
            winner_trust,
            layer: ranking.layer,
        }))
    }
}

/// Each agent's latest assertion of a group: the latest valid time, then the later sequence.
/// An agent's newer claim about a fact replaces its older ones as if it named them in
/// `supersedes`, so that no lens counts one agent twice after it changed its mind
/// (docs/lenses.md §One claim per agent). `records` are in sequence order, and so is the
/// answer.
pub(crate) fn latest_per_agent(records: Vec<RecordView>) -> Vec<RecordView> {
    let mut latest: std::collections::HashMap<&str, (Timestamp, u64)> =
        std::collections::HashMap::with_capacity(records.len());
    for r in &records {
        let at = (r.timestamp, r.sequence);
        latest
            .entry(r.agent_id.as_str())
            .and_modify(|best| *best = (*best).max(at))
            .or_insert(at);
    }
    let keep: Vec<bool> = records
        .iter()
        .map(|r| latest.get(r.agent_id.as_str()) == Some(&(r.timestamp, r.sequence)))
        .collect();
    records
        .into_iter()
        .zip(keep)
        .filter_map(|(r, keep)| keep.then_some(r))
        .collect()
}

/// Which slice of a group's ranking to answer.
#[derive(Debug, Clone, Copy)]
struct PageAt {
    offset: usize,
    len: usize,
}

/// A hash of the parameters that shape a group's ranking.
fn fingerprint(query: &Query) -> [u8; 8] {
    let text = format!(
        "{}|{:?}|{:?}|{:?}|{}|{}",
        query.lens.as_str(),
        query.as_of.map(Timestamp::micros),
        query.known_at.map(Timestamp::micros),
        query.at_sequence,
        query.include_retracted,
        query.include_superseded
    );
    let mut out = [0u8; 8];
    out.copy_from_slice(&blake3::hash(text.as_bytes()).as_bytes()[..8]);
    out
}

/// What one query reads against: its bound, the trust map at that bound and "now".
pub(crate) struct Reading<'a> {
    pub(crate) query: &'a Query,
    pub(crate) bound: Bound,
    pub(crate) trust: Arc<TrustMap>,
    /// The evidence lens's table (only when it is the lens).
    reliability: Option<Arc<ReliabilityTable>>,
    context: LensContext,
    fingerprint: [u8; 8],
    /// Set by a pass over the whole store: every sequence with a stage event, ascending
    /// (`Store::ever_staged`), so that the others need no lookup. `None`: look each up.
    pub(crate) ever_staged: Option<Vec<u64>>,
}

fn winner_trust(trust: &TrustMap, agent: &str) -> WinnerTrust {
    match trust.entry(agent) {
        Some(entry) => WinnerTrust {
            trust: entry.trust,
            depth: Some(entry.depth()),
            path: entry.path.clone(),
        },
        None => WinnerTrust {
            trust: trust.default_trust(),
            depth: None,
            path: Vec::new(),
        },
    }
}

/// Parses a query timestamp parameter.
pub fn parse_query_time(text: &str, field: &'static str) -> Result<Timestamp, DbError> {
    Timestamp::parse_field(text, field).map_err(|e: ValidationError| bad(field, e.message))
}
