//! The write path in cluster mode (`Db`'s [`LogSink`]): publish the verified records to the
//! log stream (one record per entry, or a batch in chunks; `entry.rs`), wait for the stream's acknowledgement (fsynced on a
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

use crate::entry::{EntryKey, chunks, encode_entry, entry_id};
use crate::local::LocalEntries;
use crate::progress::Progress;

/// Pause between publish attempts while the stream has no leader.
const RETRY_PAUSE_MS: u64 = 100;

pub struct NatsSink {
    pub(crate) js: jetstream::Context,
    /// What this node published, for its own applier (`local.rs`).
    pub(crate) local: Arc<LocalEntries>,
    /// Tags every entry this node writes.
    pub(crate) key: EntryKey,
    pub(crate) subject: String,
    pub(crate) runtime: Handle,
    pub(crate) progress: Arc<Progress>,
    /// For reading back an outcome no longer kept in `progress` (weak: `Db` holds the sink).
    pub(crate) db: Weak<Db>,
    pub(crate) publish_timeout: Duration,
    pub(crate) apply_wait: Duration,
    /// The largest entry to publish (below the server's payload limit).
    pub(crate) entry_bytes_max: usize,
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
        let chunks = chunks(records, self.entry_bytes_max);
        let acks = self.publish_all(&chunks).await?;
        let Some(last) = acks.iter().map(|a| a.sequence).max() else {
            return Ok(Vec::new());
        };
        if !self.progress.wait_applied(last, self.apply_wait).await {
            return Err(DbError::ReplicationPending {
                stream_sequence: last,
                waited_ms: self.apply_wait.as_millis() as u64,
            });
        }
        let mut outcomes = Vec::with_capacity(records.len());
        for (chunk, ack) in chunks.iter().zip(&acks) {
            outcomes.extend(self.outcomes_of(chunk, ack)?);
        }
        Ok(outcomes)
    }

    /// Publishes every chunk (all sent before any acknowledgement is awaited, so a batch costs
    /// about one round trip), then collects the acknowledgements in order, retrying a chunk
    /// whose publish failed.
    async fn publish_all(&self, chunks: &[&[SignedAssertion]]) -> Result<Vec<PublishAck>, DbError> {
        let deadline = Instant::now() + self.publish_timeout;
        let mut pending = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            pending.push(self.send(chunk).await);
        }
        let mut acks = Vec::with_capacity(chunks.len());
        for (chunk, sent) in chunks.iter().zip(pending) {
            let first = match sent {
                Ok(future) => future.await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            let ack = match first {
                Ok(ack) => ack,
                Err(reason) => self.retry(chunk, deadline, reason).await?,
            };
            acks.push(ack);
        }
        Ok(acks)
    }

    async fn send(&self, chunk: &[SignedAssertion]) -> Result<PublishAckFuture, String> {
        let payload = encode_entry(&self.key, chunk);
        self.local.remember(&payload, chunk);
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(entry_id(chunk));
        self.js
            .send_publish(self.subject.clone(), message)
            .await
            .map_err(|e| e.to_string())
    }

    /// Publishes one chunk again, with the same id, until acknowledged or past `deadline`.
    async fn retry(
        &self,
        chunk: &[SignedAssertion],
        deadline: Instant,
        mut reason: String,
    ) -> Result<PublishAck, DbError> {
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
            metrics::counter!("stemedb_replication_publish_retries_total").increment(1);
            let attempt = match self.send(chunk).await {
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

    /// What the applier did with the chunk an acknowledgement names. A duplicate
    /// acknowledgement names the entry that first carried the same records: each is then a
    /// duplicate of what that entry stored.
    fn outcomes_of(
        &self,
        chunk: &[SignedAssertion],
        ack: &PublishAck,
    ) -> Result<Vec<AppendOutcome>, DbError> {
        let Some(applied) = self.progress.outcome(ack.sequence) else {
            return chunk
                .iter()
                .map(|record| self.read_back(record, ack.duplicate))
                .collect();
        };
        if applied.len() != chunk.len() {
            return Err(DbError::Internal(
                "the stream entry of verified records was refused by this node's applier",
            ));
        }
        Ok(applied
            .into_iter()
            .map(|outcome| match (ack.duplicate, outcome) {
                (true, AppendOutcome::Appended { sequence, .. }) => {
                    AppendOutcome::Duplicate { sequence }
                }
                (_, outcome) => outcome,
            })
            .collect())
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
