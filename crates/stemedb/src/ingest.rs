//! The write path: parse and validate, reject future timestamps, verify signatures (batch
//! verification for batches), then hand the survivors to the store's group commit.
use std::collections::HashSet;

use serde_json::Value;
use stemedb_core::{SignedAssertion, ValidationError, parse_json_strict};
use stemedb_store::AppendOutcome;

use crate::{Db, DbError};

/// The result of one accepted (or idempotently repeated) assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub id: String,
    pub sequence: u64,
    /// True when the same id was already stored; nothing new was written.
    pub duplicate: bool,
    /// Assertions whose lifecycle stage this record changed (a retraction's `retracted_count`).
    pub changed: u64,
    /// False for a control record recorded without effect (e.g. a retraction by someone who
    /// is neither author nor curator: a dispute).
    pub effective: bool,
    /// The record itself was put in quarantine.
    pub quarantined: bool,
}

impl Db {
    /// Ingests one assertion from its raw wire JSON (a repeated key at any depth is refused,
    /// rule `duplicate_key`). Returns once it is durable.
    pub fn ingest_bytes(&self, bytes: &[u8]) -> Result<Ingested, DbError> {
        match parse_json_strict(bytes) {
            Ok(value) => self.ingest_one(value),
            Err(e) => {
                count_rejected();
                Err(DbError::from(e))
            }
        }
    }

    /// Ingests one assertion in wire form. Returns once it is durable. A caller that parsed
    /// `wire` from bytes must have used [`parse_json_strict`] (duplicate keys).
    pub fn ingest_one(&self, wire: Value) -> Result<Ingested, DbError> {
        self.begin_ingest_one(wire)?.wait()
    }

    /// Ingests many assertions; one result per item, in order. Valid items are stored even when
    /// others fail; every stored item is durable before this returns.
    pub fn ingest_batch(
        &self,
        items: Vec<Value>,
    ) -> Result<Vec<Result<Ingested, DbError>>, DbError> {
        if items.len() > self.config.batch_len_max {
            return Err(DbError::BatchTooLarge {
                len: items.len(),
                max: self.config.batch_len_max,
            });
        }
        let prepared: Vec<Result<SignedAssertion, DbError>> = items
            .into_iter()
            .map(|v| self.prepare_untargeted(v))
            .collect();
        let ok = prepared.iter().filter_map(|p| p.as_ref().ok());
        let mut verdicts = SignedAssertion::verify_all(ok).into_iter();
        let mut slots: Vec<Result<Option<usize>, DbError>> = Vec::with_capacity(prepared.len());
        let mut to_store = Vec::new();
        // One rule for every reference inside a batch (as for `supersedes`): a control record
        // may name an earlier item of the same batch, once that item is itself accepted.
        let mut accepted = HashSet::new();
        for item in prepared {
            slots.push(match item {
                Err(e) => Err(e),
                Ok(a) if verdicts.next() == Some(true) => {
                    match self.check_control_target(&a, &accepted) {
                        Ok(()) => {
                            accepted.insert(a.id);
                            to_store.push(a);
                            Ok(Some(to_store.len() - 1))
                        }
                        Err(e) => Err(e),
                    }
                }
                Ok(a) => Err(DbError::SignatureInvalid { id: a.id.to_hex() }),
            });
        }
        let mut stored = self
            .append(to_store)
            .inspect_err(|_| {
                metrics::counter!("stemedb_assertions_ingested_total", "result" => "rejected")
                    .increment(slots.len() as u64)
            })?
            .into_iter()
            .map(Some)
            .collect::<Vec<_>>();
        Ok(slots
            .into_iter()
            .map(|slot| match slot {
                Ok(Some(i)) => {
                    stored
                        .get_mut(i)
                        .and_then(Option::take)
                        .unwrap_or(Err(DbError::Internal(
                            "a batch item lost its store outcome",
                        )))
                }
                Ok(None) => Err(DbError::Internal("a batch item lost its store outcome")),
                Err(e) => Err(e),
            })
            .inspect(count_ingest)
            .collect())
    }

    /// Parses and validates, including the clock-dependent rule on future timestamps and the
    /// stored target of a control record.
    pub(crate) fn prepare(&self, wire: Value) -> Result<SignedAssertion, DbError> {
        let assertion = self.prepare_untargeted(wire)?;
        self.check_control_target(&assertion, &HashSet::new())?;
        Ok(assertion)
    }

    /// As [`Db::prepare`], without the target check (a batch checks targets after verifying,
    /// since an earlier item of the batch may be the target).
    fn prepare_untargeted(&self, wire: Value) -> Result<SignedAssertion, DbError> {
        let assertion = SignedAssertion::from_wire(wire, &self.config.limits)?;
        let latest = self
            .clock
            .now()
            .micros()
            .saturating_add(self.config.future_skew_ms.saturating_mul(1000));
        if assertion.body.timestamp.micros() > latest {
            return Err(DbError::Invalid(ValidationError::new(
                "timestamp",
                "not_in_future",
                format!(
                    "is more than {} ms ahead of the server clock ({})",
                    self.config.future_skew_ms,
                    self.clock.now()
                ),
            )));
        }
        self.check_reserved(&assertion)?;
        Ok(assertion)
    }

    /// Appends verified assertions durably and maps the store's outcomes.
    pub(crate) fn append(
        &self,
        assertions: Vec<SignedAssertion>,
    ) -> Result<Vec<Result<Ingested, DbError>>, DbError> {
        if assertions.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(String, String)> = assertions
            .iter()
            .map(|a| (a.id.to_hex(), a.body.agent_id.clone()))
            .collect();
        let written = self.views.written_records(&assertions);
        let outcomes = self.append_outcomes(assertions)?;
        self.views.offer_written(written, &outcomes);
        Ok(keys
            .into_iter()
            .zip(outcomes)
            .map(|(key, outcome)| ingested(key, outcome))
            .collect())
    }
}

/// One record's answer from its store outcome; `key` is its (id in hex, agent id).
pub(crate) fn ingested(
    (id, agent_id): (String, String),
    outcome: AppendOutcome,
) -> Result<Ingested, DbError> {
    match outcome {
        AppendOutcome::Appended {
            sequence, derived, ..
        } => Ok(Ingested {
            id,
            sequence,
            duplicate: false,
            changed: derived.changed,
            effective: derived.effective,
            quarantined: derived.quarantined,
        }),
        AppendOutcome::Duplicate { sequence } => Ok(Ingested {
            id,
            sequence,
            duplicate: true,
            changed: 0,
            effective: true,
            quarantined: false,
        }),
        AppendOutcome::AgentKeyConflict { bound_key } => Err(DbError::AgentKeyConflict {
            agent_id,
            bound_key: hex::encode(bound_key),
        }),
        AppendOutcome::TargetMissing { target } => Err(DbError::Invalid(ValidationError::new(
            "subject",
            "target_exists",
            format!("names assertion {target}, whose own write in this batch was refused"),
        ))),
    }
}

/// The one outcome of a one-record append.
pub(crate) fn only_outcome(mut outcomes: Vec<AppendOutcome>) -> Result<AppendOutcome, DbError> {
    match (outcomes.pop(), outcomes.is_empty()) {
        (Some(outcome), true) => Ok(outcome),
        _ => Err(DbError::Internal(
            "the store returned other than one outcome for one assertion",
        )),
    }
}

/// Counts one rejected ingest.
pub(crate) fn count_rejected() {
    metrics::counter!("stemedb_assertions_ingested_total", "result" => "rejected").increment(1);
}

/// `stemedb_assertions_ingested_total{result}`: accepted, duplicate or rejected.
pub(crate) fn count_ingest(result: &Result<Ingested, DbError>) {
    let label = match result {
        Ok(i) if i.duplicate => "duplicate",
        Ok(_) => "accepted",
        Err(_) => "rejected",
    };
    metrics::counter!("stemedb_assertions_ingested_total", "result" => label).increment(1);
}
