//! The write path in cluster mode (`Db`'s [`LogSink`]): publish the verified records to the
//! log stream, wait for the stream's acknowledgement (fsynced on a quorum), then for this
//! node's applier to pass it, and answer what the applier did with it.
//!
//! Writes are published in groups, as the store's writer commits in groups: one task, the
//! [`Publisher`], takes every write waiting when it is free, publishes their records together
//! (in chunks below the payload limit; `entry.rs`), and hands each writer the entries that carry
//! its records. While one group waits for its acknowledgement the next one gathers, so under
//! load a single write costs a share of an entry (and of each NATS server's fsync) instead of
//! one of its own. Each writer then waits, on its own thread, for this node to apply its
//! entries. A publish that fails (a leader election, a lost connection) is retried with the
//! same message id until `publish_timeout_ms`: the stream's duplicate window makes a retry
//! store nothing twice.
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use stemedb::core::{AssertionId, SignedAssertion};
use stemedb::{AppendOutcome, Db, DbError, Derived, LogSink};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::entry::{EntryKey, chunks, encode_entry, entry_id, frame_bytes};
use crate::local::LocalEntries;
use crate::progress::Progress;

/// Pause between publish attempts while the stream has no leader.
const RETRY_PAUSE_MS: u64 = 100;
/// Record bytes one group gathers at most (a write larger than this is a group of its own).
const GROUP_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Writes waiting for the publisher at most; more wait to be queued.
pub(crate) const QUEUED_WRITES_MAX: usize = 4_096;

/// The entries that carry a run of a write's records: `count` records from position `offset`
/// of the entry the stream stored at `sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    sequence: u64,
    duplicate: bool,
    offset: usize,
    count: usize,
}

/// One write waiting for the publisher.
pub(crate) struct Request {
    records: Vec<SignedAssertion>,
    /// When the write stops waiting: `publish_timeout_ms` after it was queued.
    deadline: Instant,
    reply: oneshot::Sender<Result<Vec<Segment>, String>>,
}

pub struct NatsSink {
    pub(crate) queue: mpsc::Sender<Request>,
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
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.runtime.block_on(self.append_async(records))
    }
}

impl NatsSink {
    async fn append_async(
        &self,
        records: Vec<SignedAssertion>,
    ) -> Result<Vec<AppendOutcome>, DbError> {
        let ids: Vec<AssertionId> = records.iter().map(|r| r.id).collect();
        let (reply, answer) = oneshot::channel();
        let unavailable = |reason: String| DbError::ReplicationUnavailable { reason };
        let stopped = || unavailable("this node's publisher stopped".into());
        let deadline = Instant::now() + self.publish_timeout;
        let request = Request {
            records,
            deadline,
            reply,
        };
        self.queue.send(request).await.map_err(|_| stopped())?;
        // The publisher answers by the deadline; the grace covers an acknowledgement it is
        // still awaiting then (each is bounded by the JetStream request timeout).
        let grace = Duration::from_millis(crate::REQUEST_TIMEOUT_MS);
        let segments = match tokio::time::timeout(self.publish_timeout + grace, answer).await {
            Err(_) => {
                return Err(unavailable(format!(
                    "not acknowledged within {} ms (this node's publisher is behind)",
                    self.publish_timeout.as_millis()
                )));
            }
            Ok(answer) => answer.map_err(|_| stopped())?.map_err(unavailable)?,
        };
        let Some(last) = segments.iter().map(|s| s.sequence).max() else {
            return Ok(Vec::new());
        };
        if !self.progress.wait_applied(last, self.apply_wait).await {
            return Err(DbError::ReplicationPending {
                stream_sequence: last,
                waited_ms: self.apply_wait.as_millis() as u64,
            });
        }
        let mut outcomes = Vec::with_capacity(ids.len());
        let mut rest = ids.as_slice();
        for segment in &segments {
            let (these, after) = rest.split_at(segment.count.min(rest.len()));
            outcomes.extend(self.outcomes_of(these, segment)?);
            rest = after;
        }
        Ok(outcomes)
    }

    /// What the applier did with the records of one segment. A duplicate acknowledgement
    /// names the entry that first carried the same records: each is then a duplicate of what
    /// that entry stored.
    fn outcomes_of(
        &self,
        ids: &[AssertionId],
        segment: &Segment,
    ) -> Result<Vec<AppendOutcome>, DbError> {
        let Some(applied) = self.progress.outcome(segment.sequence) else {
            return ids
                .iter()
                .map(|id| self.read_back(id, segment.duplicate))
                .collect();
        };
        let Some(mine) = applied.get(segment.offset..segment.offset + ids.len()) else {
            return Err(DbError::Internal(
                "the stream entry of verified records was refused by this node's applier",
            ));
        };
        Ok(mine
            .iter()
            .map(|outcome| match (segment.duplicate, outcome) {
                (true, AppendOutcome::Appended { sequence, .. }) => AppendOutcome::Duplicate {
                    sequence: *sequence,
                },
                (_, outcome) => *outcome,
            })
            .collect())
    }

    /// The outcome from the store, for an entry whose outcome is no longer kept.
    fn read_back(&self, id: &AssertionId, duplicate: bool) -> Result<AppendOutcome, DbError> {
        let db = self
            .db
            .upgrade()
            .ok_or(DbError::Internal("the database closed during a write"))?;
        let view = db
            .get(id)?
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
                group_first: None,
            }
        })
    }
}

/// Publishes groups of waiting writes, one group at a time.
pub(crate) struct Publisher {
    pub(crate) js: jetstream::Context,
    /// What this node published, for its own applier (`local.rs`).
    pub(crate) local: Arc<LocalEntries>,
    /// Tags every entry this node writes.
    pub(crate) key: EntryKey,
    pub(crate) subject: String,
    pub(crate) publish_timeout: Duration,
    /// The largest entry to publish (below the server's payload limit).
    pub(crate) entry_bytes_max: usize,
}

impl Publisher {
    /// Runs until every sender is gone (the node closes).
    pub(crate) async fn run(self, mut queue: mpsc::Receiver<Request>) {
        while let Some(first) = queue.recv().await {
            let mut bytes = request_bytes(&first);
            let mut group = vec![first];
            while bytes < GROUP_BYTES_MAX {
                let Ok(next) = queue.try_recv() else { break };
                bytes += request_bytes(&next);
                group.push(next);
            }
            self.publish_group(group).await;
        }
    }

    /// Publishes a group's records and tells each write which entries carry its records.
    /// A write whose deadline passed while it waited is answered at once and not published.
    async fn publish_group(&self, group: Vec<Request>) {
        let now = Instant::now();
        let (group, late): (Vec<_>, Vec<_>) = group.into_iter().partition(|r| r.deadline > now);
        for request in late {
            let waited = self.publish_timeout.as_millis();
            let _ = request.reply.send(Err(format!(
                "not published within {waited} ms (this node's publisher is behind)"
            )));
        }
        let Some(deadline) = group.iter().map(|r| r.deadline).min() else {
            return;
        };
        metrics::histogram!("stemedb_replication_group_writes").record(group.len() as f64);
        let mut records = Vec::new();
        let mut replies = Vec::with_capacity(group.len());
        for request in group {
            replies.push((records.len(), request.records.len(), request.reply));
            records.extend(request.records);
        }
        let chunks = chunks(&records, self.entry_bytes_max);
        let answer = match self.publish_all(&chunks, deadline).await {
            Ok(acks) => Ok(chunk_spans(&chunks, &acks)),
            Err(reason) => Err(reason),
        };
        for (start, count, reply) in replies {
            let mine = answer
                .as_ref()
                .map(|spans| segments_of(spans, start, count))
                .map_err(Clone::clone);
            // A writer that gave up waiting is gone: nothing to tell.
            let _ = reply.send(mine);
        }
    }

    /// Publishes every chunk (all sent before any acknowledgement is awaited, so a group costs
    /// about one round trip), then collects the acknowledgements in order, retrying a chunk
    /// whose publish failed.
    async fn publish_all(
        &self,
        chunks: &[&[SignedAssertion]],
        deadline: Instant,
    ) -> Result<Vec<PublishAck>, String> {
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
    ) -> Result<PublishAck, String> {
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
        Err(format!(
            "no acknowledgement within {} ms (last error: {reason})",
            self.publish_timeout.as_millis()
        ))
    }
}

/// The bytes a write adds to a group.
fn request_bytes(request: &Request) -> usize {
    request.records.iter().map(frame_bytes).sum()
}

/// Each chunk's first record in the group, its length, and its acknowledgement.
fn chunk_spans(chunks: &[&[SignedAssertion]], acks: &[PublishAck]) -> Vec<(usize, Segment)> {
    let mut start = 0;
    chunks
        .iter()
        .zip(acks)
        .map(|(chunk, ack)| {
            let span = Segment {
                sequence: ack.sequence,
                duplicate: ack.duplicate,
                offset: 0,
                count: chunk.len(),
            };
            let first = start;
            start += chunk.len();
            (first, span)
        })
        .collect()
}

/// The segments that carry records `start..start + count` of a group, in order.
pub(crate) fn segments_of(spans: &[(usize, Segment)], start: usize, count: usize) -> Vec<Segment> {
    let end = start + count;
    spans
        .iter()
        .filter_map(|&(first, chunk)| {
            let from = start.max(first);
            let to = end.min(first + chunk.count);
            (from < to).then(|| Segment {
                offset: from - first,
                count: to - from,
                ..chunk
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Segment, segments_of};

    fn span(sequence: u64, count: usize) -> Segment {
        Segment {
            sequence,
            duplicate: false,
            offset: 0,
            count,
        }
    }

    fn seg(sequence: u64, offset: usize, count: usize) -> Segment {
        Segment {
            offset,
            count,
            ..span(sequence, 0)
        }
    }

    /// A group of three writes (2, 5 and 1 records) published as chunks of 4, 3 and 1 records:
    /// each write learns exactly the entries and positions that carry its records.
    #[test]
    fn each_write_of_a_group_gets_the_entries_that_carry_its_records() {
        let spans = vec![(0, span(10, 4)), (4, span(11, 3)), (7, span(12, 1))];
        for (start, count, expected) in [
            (0, 2, vec![seg(10, 0, 2)]),
            (2, 5, vec![seg(10, 2, 2), seg(11, 0, 3)]),
            (7, 1, vec![seg(12, 0, 1)]),
            (0, 8, vec![seg(10, 0, 4), seg(11, 0, 3), seg(12, 0, 1)]),
            (8, 0, vec![]),
        ] {
            assert_eq!(
                segments_of(&spans, start, count),
                expected,
                "{start}+{count}"
            );
        }
    }
}
