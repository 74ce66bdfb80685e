//! The read path: select groups by subject (exact or `prefix/*`) and predicate, keep what was
//! true `as_of` a valid time and known at a transaction time or sequence, rank each group
//! through the chosen lens.
use std::sync::Arc;
use stemedb_core::{Timestamp, ValidationError};

use stemedb_lens::{Candidate, LensContext, LensKind, TrustMap, rank};
use stemedb_store::{Bound, GroupKey, Stage};

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
    /// Groups per page.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Let retracted assertions take part in the lens.
    pub include_retracted: bool,
    /// Let superseded assertions take part in the lens.
    pub include_superseded: bool,
}

impl Query {
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            predicate: None,
            lens: LensKind::Recency,
            as_of: None,
            known_at: None,
            at_sequence: None,
            limit: None,
            cursor: None,
            include_retracted: false,
            include_superseded: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GroupResult {
    pub subject: String,
    pub predicate: String,
    pub conflict_score: f64,
    pub explanation: String,
    /// Ranked, winner first; never empty.
    pub assertions: Vec<RecordView>,
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

fn bad(field: &'static str, message: impl Into<String>) -> DbError {
    DbError::BadQuery {
        field,
        message: message.into(),
    }
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

fn decode_cursor(cursor: &str, prefix: &[u8]) -> Result<Vec<u8>, DbError> {
    let raw = hex::decode(cursor)
        .ok()
        .ok_or_else(|| bad("cursor", "is not a cursor returned by this server"))?;
    let split = raw
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| bad("cursor", "is not a cursor returned by this server"))?;
    let group = GroupKey {
        subject: String::from_utf8_lossy(&raw[..split]).into_owned(),
        predicate: String::from_utf8_lossy(&raw[split + 1..]).into_owned(),
    };
    let resume = group.resume_after();
    if !resume.starts_with(prefix) {
        return Err(bad("cursor", "belongs to another query"));
    }
    Ok(resume)
}

fn encode_cursor(group: &GroupKey) -> String {
    let mut raw = group.subject.as_bytes().to_vec();
    raw.push(0);
    raw.extend_from_slice(group.predicate.as_bytes());
    hex::encode(raw)
}

impl Db {
    /// Runs a query; the lens is evaluated at the clock's "now".
    pub fn query(&self, query: &Query) -> Result<QueryResult, DbError> {
        let started = std::time::Instant::now();
        let result = self.query_uncounted(query);
        let lens = query.lens.as_str();
        metrics::counter!("stemedb_queries_total", "lens" => lens).increment(1);
        metrics::histogram!("stemedb_query_latency_seconds", "lens" => lens)
            .record(started.elapsed().as_secs_f64());
        result
    }

    fn query_uncounted(&self, query: &Query) -> Result<QueryResult, DbError> {
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
        let prefix = scan_prefix(query, limits)?;
        let start = query
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, &prefix))
            .transpose()?;
        let predicate = query.predicate.clone();
        let keep = move |g: &GroupKey| predicate.as_deref().is_none_or(|p| g.predicate == p);
        let bound = self.read_bound(query.at_sequence, query.known_at, query.as_of)?;
        let (scanned, more) =
            self.store
                .scan_groups(&prefix, start.as_deref(), bound.seq_max, limit, &keep)?;
        let next_cursor = if more {
            scanned.last().map(|(g, _)| encode_cursor(g))
        } else {
            None
        };
        let context = LensContext {
            now: self.clock.now(),
        };
        let reading = Reading {
            query,
            bound,
            trust: self.store.trust_map(bound)?,
            context,
        };
        let mut groups = Vec::with_capacity(scanned.len());
        for (group, sequences) in scanned {
            if let Some(result) = self.resolve_group(group, &sequences, &reading)? {
                groups.push(result);
            }
        }
        Ok(QueryResult {
            lens: query.lens,
            groups,
            next_cursor,
        })
    }

    fn resolve_group(
        &self,
        group: GroupKey,
        sequences: &[u64],
        reading: &Reading<'_>,
    ) -> Result<Option<GroupResult>, DbError> {
        let query = reading.query;
        let mut records = Vec::with_capacity(sequences.len());
        for &sequence in sequences {
            let Some(stored) = self.store.get_by_sequence(sequence)? else {
                continue;
            };
            let view = RecordView::from_stored(stored)?;
            let valid = query.as_of.is_none_or(|t| view.timestamp <= t);
            let known = query.known_at.is_none_or(|t| view.recorded_at <= t);
            if !(valid && known) {
                continue;
            }
            let lifecycle = self.lifecycle(sequence, reading.bound)?;
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
        if records.is_empty() {
            return Ok(None);
        }
        let lens = query.lens;
        let uses_votes = matches!(lens, LensKind::Consensus | LensKind::Layered);
        let mut candidates: Vec<Candidate<'_>> = Vec::with_capacity(records.len());
        for r in &records {
            let vote_balance = if uses_votes {
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
                gold: lens == LensKind::Layered && self.store.is_gold(&r.id, reading.bound)?,
                rooted: reading.trust.entry(&r.agent_id).is_some(),
            });
        }
        let ranking = rank(lens, &candidates, &reading.context);
        drop(candidates);
        let mut slots: Vec<Option<RecordView>> = records.into_iter().map(Some).collect();
        let assertions: Vec<RecordView> = ranking
            .order
            .iter()
            .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
            .collect();
        let winner_trust = match lens {
            LensKind::Authority | LensKind::Conflict | LensKind::Layered => assertions
                .first()
                .map(|w| winner_trust(&reading.trust, &w.agent_id)),
            _ => None,
        };
        Ok(Some(GroupResult {
            subject: group.subject,
            predicate: group.predicate,
            conflict_score: ranking.conflict_score,
            explanation: ranking.explanation,
            assertions,
            winner_trust,
            layer: ranking.layer,
        }))
    }
}

/// What one query reads against: its bound, the trust map at that bound and "now".
struct Reading<'a> {
    query: &'a Query,
    bound: Bound,
    trust: Arc<TrustMap>,
    context: LensContext,
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
