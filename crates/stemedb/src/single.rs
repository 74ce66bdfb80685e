//! One assertion at a time for an async caller, in three steps so that a caller can check
//! the signatures of many concurrent writes as one batch: [`Db::prepare_one`] parses and
//! validates, [`Db::verify_prepared`] checks signatures (a batch of 2 or more at less than
//! the cost each of one strict check, 0.6x at 16), [`Db::begin_ingest_verified`] hands a record
//! to the writer and returns an [`IngestWait`] that resolves once it is durable. Only
//! `verify_prepared` makes a [`Verified`], so nothing unchecked reaches the writer this way.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde_json::Value;
use stemedb_core::SignedAssertion;
use stemedb_store::{AppendOutcome, AppendWait};

use crate::ingest::{count_ingest, count_rejected, ingested, only_outcome};
use crate::views::{LensRecord, ViewCache};
use crate::{Db, DbError, Ingested};

/// An assertion parsed and validated for ingest; its signature is not checked yet.
pub struct Prepared(SignedAssertion);

/// An assertion whose signature checked.
pub struct Verified(SignedAssertion);

impl Db {
    /// As [`Db::ingest_one`], for an async caller: parses, validates and verifies on the
    /// calling thread, hands the record to the writer and returns; the [`IngestWait`] resolves
    /// (awaited, or [`IngestWait::wait`]) once the record is durable. So no thread blocks on
    /// the writer while it commits. In cluster mode the replicated log answers before this
    /// returns: there it blocks, and belongs on a blocking thread.
    pub fn begin_ingest_one(&self, wire: Value) -> Result<IngestWait, DbError> {
        let prepared = self.prepare_one(wire)?;
        let verified = self.verify_prepared(vec![prepared]).pop();
        let verified = verified.unwrap_or(Err(DbError::Internal(
            "a signature check returned no verdict",
        )))?;
        Ok(self.begin_ingest_verified(verified))
    }

    /// Parses and validates one assertion in wire form (a caller that parsed it from bytes
    /// must have used [`stemedb_core::parse_json_strict`]), including the clock-dependent
    /// rule on future timestamps and the stored target of a control record.
    pub fn prepare_one(&self, wire: Value) -> Result<Prepared, DbError> {
        self.prepare(wire)
            .map(Prepared)
            .inspect_err(|_| count_rejected())
    }

    /// Checks the signatures of `items`, as one batch when there are 2 or more (a batch that
    /// fails is checked one by one, strictly, to find which); one verdict per item, in order.
    pub fn verify_prepared(&self, items: Vec<Prepared>) -> Vec<Result<Verified, DbError>> {
        let verdicts = SignedAssertion::verify_all(items.iter().map(|p| &p.0));
        items
            .into_iter()
            .zip(verdicts)
            .map(|(Prepared(assertion), ok)| {
                if ok {
                    Ok(Verified(assertion))
                } else {
                    count_rejected();
                    Err(DbError::SignatureInvalid {
                        id: assertion.id.to_hex(),
                    })
                }
            })
            .collect()
    }

    /// Hands one verified assertion to the writer (in cluster mode: to the replicated log,
    /// and blocks until it answers). A refusal comes with the answer.
    pub fn begin_ingest_verified(&self, verified: Verified) -> IngestWait {
        let Verified(assertion) = verified;
        let assertions = vec![assertion];
        let pending = Pending {
            key: (
                assertions[0].id.to_hex(),
                assertions[0].body.agent_id.clone(),
            ),
            written: self.views.written_records(&assertions),
            views: Arc::clone(&self.views),
        };
        let state = match self.sink.get() {
            Some(sink) => IngestState::Done(
                pending.settle(crate::replicate::sink_append(sink.as_ref(), assertions)),
            ),
            None => match self.store.begin_append(assertions) {
                Ok(wait) => IngestState::Waiting(wait, pending),
                Err(e) => IngestState::Done(Err(e.into())),
            },
        };
        IngestWait(state)
    }
}

/// One assertion on its way to disk ([`Db::begin_ingest_one`]).
#[must_use = "an ingest's result says whether the assertion was stored"]
pub struct IngestWait(IngestState);

enum IngestState {
    /// Handed to the writer.
    Waiting(AppendWait, Pending),
    /// Answered already (cluster mode, or refused by the store on the way in).
    Done(Result<Ingested, DbError>),
    /// Resolved; polled again, it answers an error and counts nothing.
    Finished,
}

impl IngestWait {
    /// Blocks the calling thread until the assertion is durable (or refused).
    pub fn wait(self) -> Result<Ingested, DbError> {
        let result = match self.0 {
            IngestState::Waiting(wait, pending) => {
                pending.settle(wait.wait().map_err(DbError::from))
            }
            IngestState::Done(result) => result,
            IngestState::Finished => return Err(RESOLVED_TWICE),
        };
        count_ingest(&result);
        result
    }
}

impl Future for IngestWait {
    type Output = Result<Ingested, DbError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let state = &mut self.get_mut().0;
        let result = match std::mem::replace(state, IngestState::Finished) {
            IngestState::Waiting(mut wait, pending) => match Pin::new(&mut wait).poll(cx) {
                Poll::Ready(answer) => pending.settle(answer.map_err(DbError::from)),
                Poll::Pending => {
                    *state = IngestState::Waiting(wait, pending);
                    return Poll::Pending;
                }
            },
            IngestState::Done(result) => result,
            IngestState::Finished => return Poll::Ready(Err(RESOLVED_TWICE)),
        };
        count_ingest(&result);
        Poll::Ready(result)
    }
}

const RESOLVED_TWICE: DbError = DbError::Internal("an ingest was awaited after it resolved");

/// What a write waiting for the writer keeps for its answer.
struct Pending {
    /// Its (id in hex, agent id), for the answer.
    key: (String, String),
    /// Its lens fields, offered to the view cache once it is durable.
    written: Vec<Option<LensRecord>>,
    views: Arc<ViewCache>,
}

impl Pending {
    /// The writer's answer as the write's result; a record it made durable is offered to
    /// the view cache first.
    fn settle(self, answer: Result<Vec<AppendOutcome>, DbError>) -> Result<Ingested, DbError> {
        let outcomes = answer?;
        self.views.offer_written(self.written, &outcomes);
        ingested(self.key, only_outcome(outcomes)?)
    }
}
