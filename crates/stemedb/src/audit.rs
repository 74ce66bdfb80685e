//! Audit export: every assertion under a subject (or subject prefix) as of a time, each with
//! its lifecycle and every record it depends on — cited sources and their descriptions,
//! retractions, disputes, votes, gold marks, derived-from ancestors and the trust statements
//! along its agent's chain — as JSON Lines that `stemedb verify` checks offline
//! (`stemedb_core::audit`).
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use stemedb_core::audit::AUDIT_FORMAT;
use stemedb_core::control::AGENT_SUBJECT_PREFIX;
use stemedb_core::{AssertionId, Timestamp};
use stemedb_lens::{LensKind, TrustMap};
use stemedb_store::{Bound, MarkKind};

use crate::query::{Paging, check_deadline};
use crate::{Db, DbError, Query, RecordView};

/// Counts of one export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditSummary {
    pub assertions: u64,
    pub dependencies: u64,
}

struct Export<'a> {
    db: &'a Db,
    bound: Bound,
    out: Vec<u8>,
    emitted: HashSet<AssertionId>,
    summary: AuditSummary,
    records_max: usize,
    /// The trust map at the export's bound, read once.
    trust: Arc<TrustMap>,
    deadline: Option<Instant>,
    /// Assertions visited, for the deadline check.
    visited: usize,
}

impl Db {
    /// Writes the export of `subject` (exact or `prefix/*`) as of `as_of` (valid time).
    pub fn audit_export(
        &self,
        subject: &str,
        as_of: Option<Timestamp>,
    ) -> Result<(Vec<u8>, AuditSummary), DbError> {
        self.audit_export_until(subject, as_of, None)
    }

    /// The export, stopped with `DbError::DeadlineExceeded` (and its buffer freed) once
    /// `deadline` passes.
    pub fn audit_export_until(
        &self,
        subject: &str,
        as_of: Option<Timestamp>,
        deadline: Option<Instant>,
    ) -> Result<(Vec<u8>, AuditSummary), DbError> {
        let _slot = self.read_slots.acquire(deadline, "audit export")?;
        let bound = self.read_bound(None, None, as_of)?;
        let mut export = Export {
            db: self,
            bound,
            out: Vec::new(),
            emitted: HashSet::new(),
            summary: AuditSummary::default(),
            records_max: self.config.audit_records_max,
            trust: self.store.trust_map(bound)?,
            deadline,
            visited: 0,
        };
        let mut query = Query::new(subject);
        query.lens = LensKind::Recency;
        query.as_of = as_of;
        query.include_retracted = true;
        query.include_superseded = true;
        query.limit = Some(self.config.query_groups_max);
        query.deadline = deadline;
        loop {
            let page = self.query_paged(&query, Paging::All)?;
            for group in &page.groups {
                for record in &group.assertions {
                    export.assertion(record)?;
                }
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        let manifest = json!({
            "kind": "manifest",
            "format": AUDIT_FORMAT,
            "subject": subject,
            "as_of": as_of.map(|t| t.to_rfc3339()),
            "records": export.summary.assertions + export.summary.dependencies,
            "assertions": export.summary.assertions,
            "last_sequence": bound.seq_max,
            "server_version": env!("CARGO_PKG_VERSION"),
        });
        export.line(&manifest);
        let hash = blake3::hash(&export.out).to_hex().to_string();
        export.line(&json!({"blake3": hash}));
        Ok((export.out, export.summary))
    }
}

impl Export<'_> {
    fn line(&mut self, value: &Value) {
        self.out.extend_from_slice(value.to_string().as_bytes());
        self.out.push(b'\n');
    }

    fn emit(
        &mut self,
        kind: &str,
        record: &RecordView,
        depends_on: &[AssertionId],
    ) -> Result<(), DbError> {
        if self.emitted.len() >= self.records_max {
            return Err(DbError::BadQuery {
                field: "subject",
                message: format!(
                    "the export would hold more than {} records; narrow the subject or raise audit_records_max",
                    self.records_max
                ),
            });
        }
        let ids: Vec<String> = depends_on.iter().map(AssertionId::to_hex).collect();
        self.line(&json!({"kind": kind, "record": record.to_json(), "depends_on": ids}));
        if kind == "assertion" {
            self.summary.assertions += 1;
        } else {
            self.summary.dependencies += 1;
        }
        Ok(())
    }

    fn assertion(&mut self, record: &RecordView) -> Result<(), DbError> {
        check_deadline(self.deadline, self.visited, "audit export")?;
        self.visited += 1;
        if !self.emitted.insert(record.id) {
            return Ok(());
        }
        let deps = self.dependencies(record, 0)?;
        self.emit("assertion", record, &deps)
    }

    /// Emits the records `record` depends on (each once) and returns their ids.
    fn dependencies(
        &mut self,
        record: &RecordView,
        depth: usize,
    ) -> Result<Vec<AssertionId>, DbError> {
        let body = self.db.body_of(record)?;
        let mut deps: Vec<RecordView> = Vec::new();
        if let Some(cause) = record.lifecycle.cause {
            deps.extend(self.db.get_at(&cause, self.bound)?);
        }
        deps.extend(self.marks_on(
            &record.id.to_hex(),
            &[
                MarkKind::Retraction,
                MarkKind::Dispute,
                MarkKind::Vote,
                MarkKind::GoldStandard,
                MarkKind::Review,
            ],
        )?);
        for source in &body.body.sources {
            for sequence in self
                .db
                .store
                .sequences_about(source, self.bound.seq_max, usize::MAX)?
            {
                if let Some(stored) = self.db.store.get_by_sequence(sequence)? {
                    let view = self.db.view_at(stored, self.bound)?;
                    if self
                        .bound
                        .as_of_micros
                        .is_none_or(|t| view.timestamp.micros() <= t)
                    {
                        deps.push(view);
                    }
                }
            }
            deps.extend(self.marks_on(source, &[MarkKind::Retraction, MarkKind::Dispute])?);
        }
        deps.extend(self.trust_statements(&record.agent_id)?);
        let mut ids: Vec<AssertionId> = deps.iter().map(|d| d.id).collect();
        // A dependency's own envelope may name another record (a retraction that was
        // reinstated is `retracted_by` the reinstatement): the file holds those too, so that
        // every id any line names is in it.
        let mut pending = deps;
        while let Some(dep) = pending.pop() {
            if !self.emitted.insert(dep.id) {
                continue;
            }
            if let Some(cause) = dep.lifecycle.cause {
                pending.extend(self.db.get_at(&cause, self.bound)?);
            }
            self.emit("dependency", &dep, &[])?;
        }
        if depth < self.db.config.provenance_depth_max {
            for parent in &body.body.derived_from {
                let Some(view) = self.db.get_at(parent, self.bound)? else {
                    continue;
                };
                ids.push(view.id);
                if self.emitted.insert(view.id) {
                    let parent_deps = self.dependencies(&view, depth + 1)?;
                    self.emit("dependency", &view, &parent_deps)?;
                }
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    fn marks_on(&self, target: &str, kinds: &[MarkKind]) -> Result<Vec<RecordView>, DbError> {
        let mut out = Vec::new();
        for mark in self.db.store.marks(target, self.bound)? {
            if kinds.contains(&mark.kind)
                && let Some(stored) = self.db.store.get_by_sequence(mark.seq)?
            {
                out.push(self.db.view_at(stored, self.bound)?);
            }
        }
        Ok(out)
    }

    /// The live trust statement behind each hop of the agent's chain.
    fn trust_statements(&self, agent: &str) -> Result<Vec<RecordView>, DbError> {
        let Some(entry) = self.trust.entry(agent) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for hop in entry.path.windows(2) {
            let (truster, trustee) = (&hop[0], &hop[1]);
            let latest = self
                .db
                .store
                .marks(&format!("{AGENT_SUBJECT_PREFIX}{trustee}"), self.bound)?
                .into_iter()
                .filter(|m| m.kind == MarkKind::Trust && &m.agent == truster)
                .max_by_key(|m| m.seq);
            if let Some(mark) = latest
                && let Some(stored) = self.db.store.get_by_sequence(mark.seq)?
            {
                out.push(self.db.view_at(stored, self.bound)?);
            }
        }
        Ok(out)
    }
}
