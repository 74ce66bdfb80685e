//! The apply path in cluster mode: an ordered consumer reads the log stream from the entry
//! after the last one this node applied (a sequence the store keeps atomically with the
//! records), checks each entry, and hands runs of them to `Db::apply_stream`, which commits
//! them in groups and derives truth exactly as a single node does. Redelivery is harmless
//! (entries at or below the applied sequence are skipped); a consumer that stalls while the
//! stream is ahead is recreated from the applied sequence; a gap the stream can no longer
//! fill stops the applier, by name, in health.
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::{Message, stream::Stream};
use futures_util::StreamExt;
use stemedb::core::Timestamp;
use stemedb::{Db, StreamEntry};

use crate::entry::decode_entry;
use crate::error::ClusterError;
use crate::local::LocalEntries;
use crate::progress::{EntryOutcome, Progress};

/// How long the consumer may be silent before the applier asks the stream whether it is
/// behind (and recreates the consumer if so).
const STALL_CHECK_MS: u64 = 2_000;
/// Pause before recreating a consumer after an error.
const RECREATE_PAUSE_MS: u64 = 500;

pub(crate) struct Applier {
    /// What this node published itself (checked when it was received, not again).
    pub local: Arc<LocalEntries>,
    pub db: Arc<Db>,
    pub stream: Stream,
    pub progress: Arc<Progress>,
    pub batch_max: usize,
}

impl Applier {
    /// Runs until the task is aborted (or a gap stops it for good).
    pub async fn run(mut self) {
        loop {
            match self.consume().await {
                Ok(()) => {}
                Err(e @ ClusterError::Gap { .. }) => {
                    tracing::error!(error = %e, "the applier stopped");
                    self.progress.fail(e.to_string());
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "recreating the log consumer"),
            }
            tokio::time::sleep(Duration::from_millis(RECREATE_PAUSE_MS)).await;
        }
    }

    /// One consumer's life: from the applied sequence on, until it errs or stalls.
    async fn consume(&mut self) -> Result<(), ClusterError> {
        let start = self.progress.applied() + 1;
        self.check_gap(start).await?;
        let stream_err = |reason: String| ClusterError::Stream {
            stream: crate::LOG_STREAM,
            reason,
        };
        let consumer = self
            .stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| stream_err(format!("creating a consumer: {e}")))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| stream_err(format!("reading: {e}")))?;
        loop {
            let wait = Duration::from_millis(STALL_CHECK_MS);
            let first = match tokio::time::timeout(wait, messages.next()).await {
                Err(_) if self.stream_is_ahead().await => {
                    return Err(stream_err("the consumer stalled behind the stream".into()));
                }
                Err(_) => continue,
                Ok(None) => return Err(stream_err("the consumer ended".into())),
                Ok(Some(Err(e))) => return Err(stream_err(e.to_string())),
                Ok(Some(Ok(message))) => message,
            };
            let mut run = vec![first];
            while run.len() < self.batch_max {
                match futures_util::FutureExt::now_or_never(messages.next()) {
                    Some(Some(Ok(message))) => run.push(message),
                    _ => break,
                }
            }
            self.apply(run).await?;
        }
    }

    /// Refuses to start from `start` when the stream no longer holds it.
    async fn check_gap(&mut self, start: u64) -> Result<(), ClusterError> {
        let Ok(info) = self.stream.info().await else {
            return Ok(());
        };
        let first = info.state.first_sequence;
        if start < first {
            return Err(ClusterError::Gap {
                applied: start - 1,
                first,
            });
        }
        Ok(())
    }

    async fn stream_is_ahead(&mut self) -> bool {
        match self.stream.info().await {
            Ok(info) => info.state.last_sequence > self.progress.applied(),
            Err(_) => false,
        }
    }

    /// Checks and applies a run of messages in stream order.
    async fn apply(&mut self, run: Vec<Message>) -> Result<(), ClusterError> {
        let mut expected = self.progress.applied() + 1;
        let mut entries = Vec::with_capacity(run.len());
        for message in &run {
            let Ok(info) = message.info() else {
                continue;
            };
            let seq = info.stream_sequence;
            if seq < expected {
                continue; // redelivered: applied already
            }
            if seq > expected {
                return Err(ClusterError::Gap {
                    applied: expected - 1,
                    first: seq,
                });
            }
            expected += 1;
            let micros = info.published.unix_timestamp_nanos() / 1_000;
            entries.push(StreamEntry {
                stream_seq: seq,
                published_at: Timestamp::from_micros(micros as i64),
                records: match self.local.take(&message.payload) {
                    Some(records) => records,
                    None => checked_records(seq, &message.payload),
                },
            });
        }
        let Some(last) = entries.last().map(|e| e.stream_seq) else {
            return Ok(());
        };
        let seqs: Vec<u64> = entries.iter().map(|e| e.stream_seq).collect();
        let db = Arc::clone(&self.db);
        let outcomes = tokio::task::spawn_blocking(move || db.apply_stream(entries))
            .await
            .map_err(|e| ClusterError::Stream {
                stream: crate::LOG_STREAM,
                reason: format!("the apply task failed: {e}"),
            })?
            .map_err(|e| ClusterError::Stream {
                stream: crate::LOG_STREAM,
                reason: format!("applying up to {last}: {e}"),
            })?;
        let kept: Vec<(u64, EntryOutcome)> = seqs.into_iter().zip(outcomes).collect();
        self.progress.record(kept, last);
        metrics::gauge!("stemedb_replication_applied_sequence").set(last as f64);
        Ok(())
    }
}

/// The entry's records, or none (logged and counted) when it fails its checks: every node
/// refuses the same entry the same way, so replicas stay equal.
fn checked_records(seq: u64, payload: &[u8]) -> Vec<stemedb::core::SignedAssertion> {
    match decode_entry(payload) {
        Ok(records) => records,
        Err(e) => {
            tracing::warn!(stream_sequence = seq, error = %e, "refused a log entry");
            metrics::counter!("stemedb_replication_entries_refused_total").increment(1);
            Vec::new()
        }
    }
}
