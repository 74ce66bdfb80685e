//! Cluster mode's hooks in `Db` (docs/cluster.md): a log sink that takes the place of the
//! local writer for every append, and the apply path for the entries of the replicated stream.
//! `Db` knows nothing of the transport; the cluster crate implements [`LogSink`].
use std::sync::Arc;

use stemedb_core::SignedAssertion;
use stemedb_store::{AppendOutcome, StreamEntry};

use crate::{Db, DbError};

/// Where `Db` sends verified records in cluster mode. An implementation makes them durable on
/// a quorum of the replicated log, waits until this node has applied them, and answers each
/// record's outcome, in input order, as the local writer would have.
pub trait LogSink: Send + Sync {
    fn append(&self, records: Vec<SignedAssertion>) -> Result<Vec<AppendOutcome>, DbError>;
}

/// A sink's answer to `records` records, refused unless it holds exactly one outcome a record:
/// outcomes are matched to records by position, so a short or long answer would give a record
/// another's outcome (or none).
pub(crate) fn sink_append(
    sink: &dyn LogSink,
    records: Vec<SignedAssertion>,
) -> Result<Vec<AppendOutcome>, DbError> {
    let count = records.len();
    let outcomes = sink.append(records)?;
    if outcomes.len() != count {
        return Err(DbError::Internal(
            "the replicated log answered another number of outcomes than records",
        ));
    }
    Ok(outcomes)
}

impl Db {
    /// Routes every later append (ingest, batches, grants, custodial writes) through `sink`
    /// instead of the local writer. Set once, before serving; a second call is refused.
    pub fn set_log_sink(&self, sink: Arc<dyn LogSink>) -> Result<(), DbError> {
        self.sink
            .set(sink)
            .map_err(|_| DbError::Internal("the log sink is set once"))
    }

    /// Whether appends go to a replicated log (cluster mode).
    pub fn is_replicated(&self) -> bool {
        self.sink.get().is_some()
    }

    /// Applies entries of the replicated stream, in order (the applier's path); for each
    /// entry, one outcome per record it carries.
    pub fn apply_stream(
        &self,
        entries: Vec<StreamEntry>,
    ) -> Result<Vec<Vec<AppendOutcome>>, DbError> {
        Ok(self.store.append_stream(entries)?)
    }

    /// The last stream sequence applied and durable (0 outside cluster mode).
    pub fn stream_applied(&self) -> u64 {
        self.store.stream_applied()
    }

    /// The local writer, or the sink in cluster mode.
    pub(crate) fn append_outcomes(
        &self,
        records: Vec<SignedAssertion>,
    ) -> Result<Vec<AppendOutcome>, DbError> {
        match self.sink.get() {
            Some(sink) => sink_append(sink.as_ref(), records),
            None => Ok(self.store.append(records)?),
        }
    }
}
