//! The write path in cluster mode (`Db`'s [`LogSink`]): publish each verified record to the
//! log stream with `Nats-Msg-Id` = its id, wait for the stream's acknowledgement (fsynced on a
//! quorum), then for this node's applier to pass it, and answer what the applier did with it.
//! A publish that fails (a leader election, a lost connection) is retried with the same id
//! until `publish_timeout_ms`: the stream's duplicate window makes a retry store nothing twice.
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use stemedb::core::SignedAssertion;
use stemedb::{AppendOutcome, Db, DbError, Derived, LogSink};
use tokio::runtime::Handle;

use crate::entry::encode_entry;
use crate::progress::Progress;

/// Pause between publish attempts while the stream has no leader.
const RETRY_PAUSE_MS: u64 = 100;

pub struct NatsSink {
    pub(crate) js: jetstream::Context,
    pub(crate) subject: String,
    pub(crate) runtime: Handle,
    pub(crate) progress: Arc<Progress>,
    /// For reading back an outcome no longer kept in `progress` (weak: `Db` holds the sink).
    pub(crate) db: Weak<Db>,
    pub(crate) publish_timeout: Duration,
    pub(crate) apply_wait: Duration,
}

impl LogSink for NatsSink {
    /// Called on a blocking thread (the server runs `Db` work there), never on the runtime.
    fn append(&self, records: Vec<SignedAssertion>) -> Result<Vec<AppendOutcome>, DbError> {
        self.runtime.block_on(self.append_async(&records))
    }
}

impl NatsSink {
    async fn append_async(
        &self,
        records: &[SignedAssertion],
    ) -> Result<Vec<AppendOutcome>, DbError> {
        let acks = self.publish_all(records).await?;
        let Some(last) = acks.iter().map(|a| a.sequence).max() else {
            return Ok(Vec::new());
        };
        if !self.progress.wait_applied(last, self.apply_wait).await {
            return Err(DbError::ReplicationPending {
                stream_sequence: last,
                waited_ms: self.apply_wait.as_millis() as u64,
            });
        }
        records
            .iter()
            .zip(&acks)
            .map(|(record, ack)| self.outcome_of(record, ack))
            .collect()
    }

    /// Publishes every record (all sent before any acknowledgement is awaited, so a batch
    /// costs about one round trip), then collects the acknowledgements in order, retrying a
    /// record whose publish failed.
    async fn publish_all(&self, records: &[SignedAssertion]) -> Result<Vec<PublishAck>, DbError> {
        let deadline = Instant::now() + self.publish_timeout;
        let mut pending = Vec::with_capacity(records.len());
        for record in records {
            pending.push(self.send(record).await);
        }
        let mut acks = Vec::with_capacity(records.len());
        for (record, sent) in records.iter().zip(pending) {
            let first = match sent {
                Ok(future) => future.await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            let ack = match first {
                Ok(ack) => ack,
                Err(reason) => self.retry(record, deadline, reason).await?,
            };
            acks.push(ack);
        }
        Ok(acks)
    }

    async fn send(&self, record: &SignedAssertion) -> Result<PublishAckFuture, String> {
        let message = PublishMessage::build()
            .payload(encode_entry(record).into())
            .message_id(record.id.to_hex());
        self.js
            .send_publish(self.subject.clone(), message)
            .await
            .map_err(|e| e.to_string())
    }

    /// Publishes one record again, with the same id, until acknowledged or past `deadline`.
    async fn retry(
        &self,
        record: &SignedAssertion,
        deadline: Instant,
        mut reason: String,
    ) -> Result<PublishAck, DbError> {
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
            metrics::counter!("stemedb_replication_publish_retries_total").increment(1);
            let attempt = match self.send(record).await {
                Ok(future) => future.await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match attempt {
                Ok(ack) => return Ok(ack),
                Err(e) => reason = e,
            }
        }
        Err(DbError::ReplicationUnavailable {
            reason: format!(
                "no acknowledgement within {} ms (last error: {reason})",
                self.publish_timeout.as_millis()
            ),
        })
    }

    /// What the applier did with the entry an acknowledgement names. A duplicate
    /// acknowledgement names the entry that first carried the id.
    fn outcome_of(
        &self,
        record: &SignedAssertion,
        ack: &PublishAck,
    ) -> Result<AppendOutcome, DbError> {
        let applied = self.progress.outcome(ack.sequence);
        match (ack.duplicate, applied) {
            (false, Some(Some(outcome))) => Ok(outcome),
            (true, Some(Some(AppendOutcome::Appended { sequence, .. }))) => {
                Ok(AppendOutcome::Duplicate { sequence })
            }
            (_, Some(Some(outcome))) => Ok(outcome),
            (_, Some(None)) => Err(DbError::Internal(
                "the stream entry of a verified record was refused by this node's applier",
            )),
            (duplicate, None) => self.read_back(record, duplicate),
        }
    }

    /// The outcome from the store, for an entry whose outcome is no longer kept.
    fn read_back(
        &self,
        record: &SignedAssertion,
        duplicate: bool,
    ) -> Result<AppendOutcome, DbError> {
        let db = self
            .db
            .upgrade()
            .ok_or(DbError::Internal("the database closed during a write"))?;
        let view = db
            .get(&record.id)?
            .ok_or(DbError::Internal("an applied record is not in the store"))?;
        Ok(if duplicate {
            AppendOutcome::Duplicate {
                sequence: view.sequence,
            }
        } else {
            AppendOutcome::Appended {
                sequence: view.sequence,
                recorded_at: view.recorded_at,
                // What it derived is not kept; the record is stored and took its effect.
                derived: Derived {
                    changed: 0,
                    effective: true,
                    quarantined: false,
                },
            }
        })
    }
}
