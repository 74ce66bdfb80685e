//! The apply path in cluster mode: an ordered consumer reads the log stream from the entry
//! after the last one this node applied (a sequence the store keeps atomically with the
//! records), checks each entry, and hands runs of them to `Db::apply_stream`, which commits
//! them in groups and derives truth exactly as a single node does. Two stages run at once so
//! that checking the next run (authenticating entries and parsing their records, on a blocking
//! thread) overlaps committing the last one: `read` → a channel of checked runs, in stream order → `apply`.
//! Redelivery is harmless (entries at or below the applied sequence are skipped); a consumer
//! that stalls while the stream is ahead is recreated from the applied sequence; a gap the
//! stream can no longer fill stops the applier, by name, in health.
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::{Message, stream::Stream};
use futures_util::StreamExt;
use stemedb::core::Timestamp;
use stemedb::{Db, StreamEntry};
use tokio::sync::mpsc;

use crate::entry::{EntryKey, decode_entry};
use crate::error::ClusterError;
use crate::local::LocalEntries;
use crate::progress::{EntryOutcome, Progress};

/// How long the consumer may be silent before the applier asks the stream whether it is
/// behind (and recreates the consumer if so). The ordered consumer recreates itself after
/// missed heartbeats; this is the bound behind that, long enough not to fire on a machine
/// that is merely busy (a recreation re-reads what was in flight).
const STALL_CHECK_MS: u64 = 5_000;
/// Pause before recreating a consumer after an error.
const RECREATE_PAUSE_MS: u64 = 500;
/// Checked runs waiting for the commit stage.
const RUNS_QUEUED_MAX: usize = 2;

pub(crate) struct Applier {
    /// What this node published itself (checked when it was received, not again).
    pub local: Arc<LocalEntries>,
    /// Authenticates the entries of other nodes.
    pub key: EntryKey,
    pub db: Arc<Db>,
    pub stream: Stream,
    pub progress: Arc<Progress>,
    pub batch_max: usize,
}

fn stream_err(reason: String) -> ClusterError {
    ClusterError::Stream {
        stream: crate::LOG_STREAM,
        reason,
    }
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
                Err(e) => {
                    self.progress.consumer_restarted(
                        "log",
                        &e.to_string(),
                        crate::monitor::now_micros(),
                    );
                    tracing::warn!(error = %e, "recreating the log consumer");
                }
            }
            tokio::time::sleep(Duration::from_millis(RECREATE_PAUSE_MS)).await;
        }
    }

    /// One consumer's life: from the applied sequence on, until it errs or stalls. Both
    /// stages end when either does; the next consumer starts from what was committed.
    async fn consume(&mut self) -> Result<(), ClusterError> {
        let start = self.progress.applied() + 1;
        check_gap(&mut self.stream, start).await?;
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
        let messages = consumer
            .messages()
            .await
            .map_err(|e| stream_err(format!("reading: {e}")))?;
        let (runs, checked) = mpsc::channel(RUNS_QUEUED_MAX);
        let reader = Reader {
            local: Arc::clone(&self.local),
            key: self.key.clone(),
            stream: self.stream.clone(),
            progress: Arc::clone(&self.progress),
            batch_max: self.batch_max,
            next: start,
        };
        let read = reader.read(messages, runs);
        let apply = apply_runs(Arc::clone(&self.db), Arc::clone(&self.progress), checked);
        // Not `try_join`: when the reader stops, the commit stage still finishes the runs
        // already checked (the reader's end closes the channel), so no commit is left running
        // unseen while the next consumer starts.
        let (read, apply) = tokio::join!(read, apply);
        // The next consumer starts after what the store holds, whatever either stage saw.
        self.progress.record(Vec::new(), self.db.stream_applied());
        apply.and(read)
    }
}

/// The first stage: reads runs of messages and checks them, in stream order.
struct Reader {
    local: Arc<LocalEntries>,
    key: EntryKey,
    stream: Stream,
    progress: Arc<Progress>,
    batch_max: usize,
    /// The stream sequence the next entry must have.
    next: u64,
}

impl Reader {
    async fn read(
        mut self,
        mut messages: pull::Ordered,
        runs: mpsc::Sender<Vec<StreamEntry>>,
    ) -> Result<(), ClusterError> {
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
            let entries = self.check(run).await?;
            if !entries.is_empty() && runs.send(entries).await.is_err() {
                return Err(stream_err("the commit stage stopped".into()));
            }
        }
    }

    /// Orders a run (skipping redelivered entries, refusing a gap) and checks its entries on
    /// a blocking thread.
    async fn check(&mut self, run: Vec<Message>) -> Result<Vec<StreamEntry>, ClusterError> {
        let mut raw = Vec::with_capacity(run.len());
        for message in run {
            // Without its stream sequence an entry cannot be placed; skipped, the next one would
            // be refused as a gap and send the operator to a restore this does not need.
            let info = message.info().map_err(|e| {
                stream_err(format!(
                    "a message after entry {} has no JetStream metadata: {e}",
                    self.next - 1
                ))
            })?;
            let (seq, published) = (info.stream_sequence, info.published);
            if seq < self.next {
                continue; // redelivered: checked already
            }
            if seq > self.next {
                return Err(ClusterError::Gap {
                    applied: self.next - 1,
                    first: seq,
                });
            }
            self.next += 1;
            let micros = published.unix_timestamp_nanos() / 1_000;
            raw.push((
                seq,
                Timestamp::from_micros(micros as i64),
                message.payload.clone(),
            ));
        }
        let (local, key) = (Arc::clone(&self.local), self.key.clone());
        let progress = Arc::clone(&self.progress);
        tokio::task::spawn_blocking(move || checked_run(&local, &key, &progress, raw))
            .await
            .map_err(|e| stream_err(format!("the check task failed: {e}")))
    }

    async fn stream_is_ahead(&mut self) -> bool {
        match self.stream.info().await {
            Ok(info) => info.state.last_sequence > self.progress.applied(),
            Err(_) => false,
        }
    }
}

/// The second stage: commits checked runs in order and records what each entry did.
async fn apply_runs(
    db: Arc<Db>,
    progress: Arc<Progress>,
    mut checked: mpsc::Receiver<Vec<StreamEntry>>,
) -> Result<(), ClusterError> {
    while let Some(entries) = checked.recv().await {
        let Some(last) = entries.last().map(|e| e.stream_seq) else {
            continue;
        };
        let seqs: Vec<u64> = entries.iter().map(|e| e.stream_seq).collect();
        let db = Arc::clone(&db);
        let outcomes = tokio::task::spawn_blocking(move || db.apply_stream(entries))
            .await
            .map_err(|e| stream_err(format!("the apply task failed: {e}")))?
            .map_err(|e| stream_err(format!("applying up to {last}: {e}")))?;
        let kept: Vec<(u64, EntryOutcome)> = seqs.into_iter().zip(outcomes).collect();
        progress.record(kept, last);
        metrics::gauge!("stemedb_replication_applied_sequence").set(last as f64);
    }
    // The reader stopped and every run it checked is committed; it reports why.
    Ok(())
}

/// Refuses to start from `start` when the stream no longer holds it.
async fn check_gap(stream: &mut Stream, start: u64) -> Result<(), ClusterError> {
    let Ok(info) = stream.info().await else {
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

/// A run's entries with their records: this node's own taken back as published, every other
/// entry authenticated and decoded. An entry that fails (its tag, its layout, a body) keeps no
/// record (logged and counted by kind): every node refuses the same entry the same way, so
/// replicas stay equal.
fn checked_run<P: AsRef<[u8]>>(
    local: &LocalEntries,
    key: &EntryKey,
    progress: &Progress,
    raw: Vec<(u64, Timestamp, P)>,
) -> Vec<StreamEntry> {
    let mut entries = Vec::with_capacity(raw.len());
    for (stream_seq, published_at, payload) in raw {
        let payload = payload.as_ref();
        let decoded = local
            .take(payload)
            .ok_or(())
            .or_else(|()| decode_entry(key, payload));
        let records = decoded.unwrap_or_else(|e| {
            tracing::error!(stream_sequence = stream_seq, error = %e, "refused a log entry");
            let now = crate::monitor::now_micros();
            progress.entry_refused("log", stream_seq, e.kind(), &e.to_string(), now);
            Vec::new()
        });
        entries.push(StreamEntry {
            stream_seq,
            published_at,
            records,
        });
    }
    entries
}
