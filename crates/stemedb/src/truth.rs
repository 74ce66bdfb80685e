//! Truth maintenance as callers see it: control records through the signed-record path,
//! lifecycles at a point in time, roles, agents and the quarantine queue. The rules
//! themselves run in the store's writer (`stemedb-store/src/truth/derive.rs`).
use serde_json::{Value, json};
use stemedb_core::control::{AGENT_SUBJECT_PREFIX, GRANTS_ROLE, SERVER_AGENT_PREFIX};
use stemedb_core::{AssertionId, Control, SecretKey, SignedAssertion, Timestamp, ValidationError};
use stemedb_lens::TrustEntry;
use stemedb_store::{Bound, QuarantineRule, Role, Stage, StoredRecord, VoteTally};

use crate::{Db, DbError, Ingested, Lifecycle, RecordView};

/// An agent as `GET /v1/agents/{id}` shows it.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub agent_id: String,
    pub public_key: String,
    pub trust: f64,
    /// The chain behind `trust`, root first; `None` when the default applies.
    pub chain: Option<TrustEntry>,
    pub record_count: u64,
    pub curator: bool,
    pub trust_root: bool,
}

/// A quarantined record with the rule that holds it.
#[derive(Debug, Clone)]
pub struct QuarantinedRecord {
    pub record: RecordView,
    pub rule: QuarantineRule,
}

impl Db {
    /// The visibility bound of a read: `at_sequence` and `known_at` both cap the sequence
    /// (`recorded_at` never decreases along the log); `as_of` caps valid time.
    pub fn read_bound(
        &self,
        at_sequence: Option<u64>,
        known_at: Option<Timestamp>,
        as_of: Option<Timestamp>,
    ) -> Result<Bound, DbError> {
        let mut seq_max = at_sequence.unwrap_or(u64::MAX);
        if let Some(t) = known_at {
            seq_max = seq_max.min(self.store.last_sequence_recorded_by(t)?);
        }
        Ok(Bound {
            seq_max: seq_max.min(self.store.last_sequence()),
            as_of_micros: as_of.map(Timestamp::micros),
        })
    }

    /// A stored record as seen at `bound`, lifecycle included.
    pub(crate) fn view_at(
        &self,
        stored: StoredRecord,
        bound: Bound,
    ) -> Result<RecordView, DbError> {
        let sequence = stored.sequence;
        let mut view = RecordView::from_stored(stored)?;
        view.lifecycle = self.lifecycle(sequence, bound)?;
        Ok(view)
    }

    /// The lifecycle of the record at `sequence` as of `bound`.
    pub(crate) fn lifecycle(&self, sequence: u64, bound: Bound) -> Result<Lifecycle, DbError> {
        let at = self.store.stage_at(sequence, bound)?;
        let mut lifecycle = Lifecycle {
            stage: at.stage,
            ..Lifecycle::ACTIVE
        };
        if at.stage == Stage::Quarantined {
            lifecycle.quarantine_rule = self
                .store
                .quarantine_rule(sequence)?
                .map(QuarantineRule::as_str);
        }
        if let (Some(cause), true) = (at.cause, at.stage != Stage::Active)
            && let Some(stored) = self.store.get_by_sequence(cause)?
        {
            {
                lifecycle.cause = Some(stored.id());
                lifecycle.reason = control_of(&stored).and_then(|c| match c {
                    Control::Retract { reason, .. } | Control::Epoch { reason, .. } => Some(reason),
                    _ => None,
                });
            }
        }
        Ok(lifecycle)
    }

    /// The record with this id as of `bound`.
    pub fn get_at(&self, id: &AssertionId, bound: Bound) -> Result<Option<RecordView>, DbError> {
        match self.store.get_by_id(id)? {
            Some(stored) if stored.sequence <= bound.seq_max => {
                self.view_at(stored, bound).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Ingests a control record through the signed-record path, checking that its predicate is
    /// the one the endpoint takes.
    pub fn ingest_control(
        &self,
        wire: Value,
        predicate: &'static str,
    ) -> Result<Ingested, DbError> {
        let sent = wire
            .get("predicate")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if sent != predicate {
            return Err(DbError::Invalid(ValidationError::new(
                "predicate",
                "endpoint_predicate",
                format!("this endpoint takes {predicate} records; got {sent:?}"),
            )));
        }
        self.ingest_one(wire)
    }

    /// Role grants and the agent ids servers sign them under are the servers' own: refused
    /// from callers, so that nobody grants a role or binds a server's agent id to a key first.
    pub(crate) fn check_reserved(&self, assertion: &SignedAssertion) -> Result<(), DbError> {
        if assertion.body.agent_id.starts_with(SERVER_AGENT_PREFIX) {
            return Err(DbError::Invalid(ValidationError::new(
                "agent_id",
                "reserved_agent",
                format!("agent ids under {SERVER_AGENT_PREFIX} are the servers' own"),
            )));
        }
        if matches!(assertion.body.control, Some(Control::GrantRole { .. })) {
            return Err(DbError::Invalid(ValidationError::new(
                "predicate",
                "reserved_control",
                format!(
                    "{GRANTS_ROLE} records are made by the server for an administrator: \
                     POST /v1/admin/curators or /v1/admin/trust-roots"
                ),
            )));
        }
        Ok(())
    }

    /// A control record naming an assertion must name one that is stored, or one of
    /// `accepted` (earlier items of the same batch).
    pub(crate) fn check_control_target(
        &self,
        assertion: &SignedAssertion,
        accepted: &std::collections::HashSet<stemedb_core::AssertionId>,
    ) -> Result<(), DbError> {
        let Some(target) = assertion
            .body
            .control
            .as_ref()
            .and_then(|c| c.named_assertion())
        else {
            return Ok(());
        };
        if !accepted.contains(target) && self.store.sequence_of(target)?.is_none() {
            return Err(DbError::Invalid(ValidationError::new(
                "subject",
                "target_exists",
                format!(
                    "names assertion {target}, which is neither stored here nor accepted \
                     earlier in the same batch"
                ),
            )));
        }
        Ok(())
    }

    /// Grants a role (curator or trust root) from the next record on, as a
    /// `stemedb:grants-role` record signed by `server_key` (agent `stemedb/server/<16 hex>`),
    /// so that a re-derivation of the log, and every replica, grants it at the same place.
    /// Returns the sequence after which the role holds; an agent that holds it already keeps
    /// its earlier grant and nothing is written.
    pub fn grant_role(
        &self,
        role: Role,
        agent_id: &str,
        server_key: &SecretKey,
    ) -> Result<u64, DbError> {
        if agent_id.is_empty()
            || agent_id.len() > self.config.limits.agent_id_bytes_max
            || agent_id.chars().any(char::is_control)
        {
            return Err(DbError::Invalid(ValidationError::new(
                "agent_id",
                "agent_id",
                format!(
                    "must be 1 to {} bytes without control characters",
                    self.config.limits.agent_id_bytes_max
                ),
            )));
        }
        if let Some(after) = self.store.role_granted_after(role, agent_id)? {
            return Ok(after);
        }
        let grant = self.role_grant(role, agent_id, server_key)?;
        let mut outcome = self.append(vec![grant])?;
        let ingested = outcome.pop().unwrap_or(Err(DbError::Internal(
            "the store returned no outcome for a role grant",
        )))?;
        // A concurrent grant of the same role may have won; the role holds after whichever
        // came first.
        Ok(self
            .store
            .role_granted_after(role, agent_id)?
            .unwrap_or(ingested.sequence))
    }

    /// The signed grant record, stamped with the database's clock.
    fn role_grant(
        &self,
        role: Role,
        agent_id: &str,
        server_key: &SecretKey,
    ) -> Result<SignedAssertion, DbError> {
        let public = server_key.public_key().to_hex();
        let signer = format!("{SERVER_AGENT_PREFIX}{}", &public[..16]);
        let mut body = serde_json::Map::new();
        body.insert(
            "subject".into(),
            json!(format!("{AGENT_SUBJECT_PREFIX}{agent_id}")),
        );
        body.insert("predicate".into(), json!(GRANTS_ROLE));
        body.insert("value".into(), json!({"role": role.as_str()}));
        body.insert("agent_id".into(), json!(signer));
        body.insert("public_key".into(), json!(public));
        body.insert("timestamp".into(), json!(self.clock.now().to_rfc3339()));
        Ok(SignedAssertion::sign(
            body,
            server_key,
            &self.config.limits,
        )?)
    }

    pub fn agents_with_role(&self, role: Role) -> Vec<String> {
        self.store.agents_with_role(role)
    }

    /// What the server knows about an agent, `None` when it has never signed a record here.
    pub fn agent_info(&self, agent_id: &str) -> Result<Option<AgentInfo>, DbError> {
        let Some(key) = self.store.bound_key(agent_id)? else {
            return Ok(None);
        };
        let trust = self.store.trust_map(Bound::latest())?;
        Ok(Some(AgentInfo {
            agent_id: agent_id.to_owned(),
            public_key: hex::encode(key),
            trust: trust.trust(agent_id),
            chain: trust.entry(agent_id).cloned(),
            record_count: self.store.agent_record_count(agent_id)?,
            curator: self.store.has_role(Role::Curator, agent_id),
            trust_root: self.store.has_role(Role::TrustRoot, agent_id),
        }))
    }

    /// Live votes on an assertion.
    pub fn votes(&self, id: &AssertionId, bound: Bound) -> Result<VoteTally, DbError> {
        Ok(self.store.votes(id, bound)?)
    }

    /// Records held in quarantine, oldest first, after sequence `after`.
    pub fn quarantined(&self, after: u64, limit: usize) -> Result<Vec<QuarantinedRecord>, DbError> {
        let mut out = Vec::new();
        for entry in self.store.quarantined(after, limit)? {
            if let Some(stored) = self.store.get_by_sequence(entry.sequence)? {
                out.push(QuarantinedRecord {
                    record: self.view_at(stored, Bound::latest())?,
                    rule: entry.rule,
                });
            }
        }
        Ok(out)
    }

    /// How many records wait in quarantine for a decision, counted up to `count_max` (a
    /// scrape must stay cheap under a flood; the count then reads as "at least").
    pub fn quarantine_backlog(&self, count_max: usize) -> Result<usize, DbError> {
        let mut count = 0;
        let mut after = 0;
        while count < count_max {
            let page = self
                .store
                .quarantined(after, QUARANTINE_PAGE.min(count_max - count))?;
            let Some(last) = page.last() else { break };
            after = last.sequence;
            count += page.len();
        }
        Ok(count)
    }

    /// Retraction and reinstatement records among the last `scan` records of the log, newest
    /// first, at most `limit`; and how many records were read. Bounded by `scan` so that an
    /// overview costs the same however large the store, and cut short at `deadline`.
    pub fn recent_retractions(
        &self,
        scan: u64,
        limit: usize,
        deadline: Option<std::time::Instant>,
    ) -> Result<(Vec<RecordView>, u64), DbError> {
        // Every retraction's canonical bytes hold its predicate as a JSON string; a record
        // without them is passed over without parsing it.
        let marker = format!("\"{}\"", stemedb_core::control::RETRACTS);
        let last = self.store.last_sequence();
        let first = last.saturating_sub(scan) + 1;
        let mut found = Vec::new();
        let mut scanned = 0u64;
        for sequence in (first..=last).rev() {
            if found.len() >= limit {
                break;
            }
            // Past the deadline the records read so far are the answer (`scanned` says how
            // far it got), not an error: an overview is better partial than missing.
            if crate::query::check_deadline(deadline, scanned as usize, "the recent retractions")
                .is_err()
            {
                break;
            }
            scanned += 1;
            // Sequences are dense up to the last one: a hole is damage, named as such.
            let stored = self.logged(sequence, "below the last sequence")?;
            if !contains(stored.canonical(), marker.as_bytes()) {
                continue;
            }
            let signed = stored.parse()?;
            if signed.body.predicate != stemedb_core::control::RETRACTS {
                continue;
            }
            found.push(self.view_at(stored, Bound::latest())?);
        }
        Ok((found, scanned))
    }

    /// What a retraction reached, as the writer recorded it (the effect index: its target
    /// and, under a cascade, what cites or derives from it), those above sequence `after`, at
    /// most `limit`, each with its stage now (still retracted by it, by another, or
    /// reinstated). `None` for an unknown id; `BadQuery` for a record that is no retraction.
    pub fn retraction_reach(
        &self,
        id: &AssertionId,
        after: u64,
        limit: usize,
    ) -> Result<Option<RetractionReach>, DbError> {
        let Some(stored) = self.store.get_by_id(id)? else {
            return Ok(None);
        };
        let signed = stored.parse()?;
        if signed.body.predicate != stemedb_core::control::RETRACTS {
            return Err(DbError::BadQuery {
                field: "id",
                message: "names no retraction".into(),
            });
        }
        let mut targets =
            self.store
                .retraction_effects(stored.sequence, after, limit.saturating_add(1))?;
        let more = targets.len() > limit;
        targets.truncate(limit);
        let mut reached = Vec::with_capacity(targets.len());
        for sequence in targets {
            let record = self.logged(sequence, "named by a retraction's effects")?;
            reached.push(self.view_at(record, Bound::latest())?);
        }
        let next_after = more.then(|| reached.last().map(|r| r.sequence)).flatten();
        Ok(Some(RetractionReach {
            retraction: self.view_at(stored, Bound::latest())?,
            reached,
            next_after,
        }))
    }

    /// The records `agent_id` signed with a sequence below `before` (claims and control
    /// records alike: votes, trust, retractions, reviews), newest first, at most `limit`.
    pub fn agent_records(
        &self,
        agent_id: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<RecordView>, DbError> {
        let mut out = Vec::new();
        for sequence in self.store.agent_sequences(agent_id, before, limit)? {
            let stored = self.logged(sequence, "named by the agent index")?;
            out.push(self.view_at(stored, Bound::latest())?);
        }
        Ok(out)
    }
}

impl Db {
    /// The log's record at `sequence`, which something (`named_by`) says is there: below
    /// the last sequence every one is (sequences are dense), so its absence is damage.
    fn logged(
        &self,
        sequence: u64,
        named_by: &'static str,
    ) -> Result<stemedb_store::StoredRecord, DbError> {
        self.store.get_by_sequence(sequence)?.ok_or_else(|| {
            DbError::Store(stemedb_store::StoreError::CorruptRecord {
                sequence,
                reason: format!("{named_by}, missing from the log"),
            })
        })
    }
}

/// A retraction and a page of the records it reached ([`Db::retraction_reach`]).
#[derive(Debug)]
pub struct RetractionReach {
    pub retraction: RecordView,
    /// By sequence.
    pub reached: Vec<RecordView>,
    /// The sequence to pass as `after` for the next page; `None` on the last.
    pub next_after: Option<u64>,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Quarantine entries read per step while counting the backlog.
const QUARANTINE_PAGE: usize = 10_000;

/// The control meaning of a stored record (`None` for ordinary or unreadable bodies).
pub(crate) fn control_of(stored: &StoredRecord) -> Option<Control> {
    SignedAssertion::from_canonical(
        stored.canonical(),
        stored.signature,
        &stemedb_core::Limits::default(),
    )
    .ok()
    .and_then(|a| a.body.control)
}
