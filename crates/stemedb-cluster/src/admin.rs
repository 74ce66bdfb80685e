//! The admin stream (`stemedb-admin`): node-local server state that every node must share —
//! API keys (hashes only), sealed custodial agent keys, the admin audit log — travels as
//! opaque entries that every node applies, in stream order, to its own files. This crate only
//! carries them: the server encodes, decodes and applies them (docs/cluster.md, section 1).
//! A change is answered once this node has applied it, so the node that made it reads it back.
//! Each entry is the change's bytes after a 32-byte tag: a keyed BLAKE3 of them under a key
//! derived from the master key ([`EntryKey::for_admin`]), so that only a node of this cluster
//! can add an API key: an entry whose tag does not match is refused (logged and counted) by
//! every node, and a node whose own key is not the one the stream's entries carry refuses to
//! start ([`check_master_key`]).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use async_nats::jetstream::{self};
use futures_util::StreamExt;

use crate::entry::{EntryKey, open, seal};
use crate::error::ClusterError;
use crate::progress::Progress;

pub const ADMIN_STREAM: &str = "stemedb-admin";
pub const ADMIN_SUBJECT: &str = "stemedb.admin";

/// Applies one admin entry (its stream sequence, its bytes) to this node's files, durably and
/// idempotently; an error stops the admin applier (it names a misconfiguration, such as a
/// master key that cannot open a sealed key).
pub type AdminApply = Arc<dyn Fn(u64, &[u8]) -> Result<(), String> + Send + Sync>;

/// Publishes admin changes and waits for this node to apply them.
pub struct AdminChannel {
    js: jetstream::Context,
    key: EntryKey,
    progress: Arc<Progress>,
    node_id: String,
    /// Makes each change's message id unique per node and start (retries reuse it).
    counter: AtomicU64,
    started_micros: u64,
    wait: Duration,
}

impl AdminChannel {
    pub(crate) fn new(
        js: jetstream::Context,
        key: EntryKey,
        progress: Arc<Progress>,
        node_id: String,
        wait: Duration,
    ) -> AdminChannel {
        let started_micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        AdminChannel {
            js,
            key,
            progress,
            node_id,
            counter: AtomicU64::new(0),
            started_micros,
            wait,
        }
    }

    /// Publishes `change` and resolves once this node has applied it: its stream sequence.
    pub async fn commit(&self, change: Vec<u8>) -> Result<u64, ClusterError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{}-{n}", self.node_id, self.started_micros);
        let deadline = tokio::time::Instant::now() + self.wait;
        let entry = seal(&self.key, &change);
        let sequence = loop {
            let message = PublishMessage::build()
                .payload(entry.clone().into())
                .message_id(&id);
            let attempt = match self.js.send_publish(ADMIN_SUBJECT, message).await {
                Ok(ack) => ack.await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let last_error = match attempt {
                Ok(ack) => break ack.sequence,
                Err(e) => e,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Admin(format!(
                    "no acknowledgement within {} ms: {last_error}",
                    self.wait.as_millis()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !self
            .progress
            .wait_applied(sequence, left.max(self.wait))
            .await
        {
            return Err(ClusterError::Admin(match self.progress.failure() {
                Some(reason) => reason,
                None => format!("admin entry {sequence} not applied here in time"),
            }));
        }
        Ok(sequence)
    }
}

/// Applies the admin stream in order from the entry after `start_after`.
pub(crate) async fn run_admin_applier(
    stream: Stream,
    key: EntryKey,
    progress: Arc<Progress>,
    apply: AdminApply,
) {
    loop {
        match consume(&stream, &key, &progress, &apply).await {
            Ok(()) => return,
            Err(e) => {
                progress.consumer_restarted("admin", &e.to_string(), crate::monitor::now_micros());
                tracing::warn!(error = %e, "recreating the admin consumer");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One consumer's life. `Ok` only when an entry failed to apply: the applier then stops,
/// with the reason in `progress` (health shows it).
async fn consume(
    stream: &Stream,
    key: &EntryKey,
    progress: &Arc<Progress>,
    apply: &AdminApply,
) -> Result<(), ClusterError> {
    let failed = |reason: String| ClusterError::Stream {
        stream: ADMIN_STREAM,
        reason,
    };
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: progress.applied() + 1,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| failed(e.to_string()))?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| failed(e.to_string()))?;
        // A message without its stream sequence cannot be placed: read again from the last
        // applied entry (skipped, the next entry's sequence would have moved past it).
        let info = message.info().map_err(|e| {
            failed(format!(
                "a message after entry {} has no JetStream metadata: {e}",
                progress.applied()
            ))
        })?;
        let seq = info.stream_sequence;
        if seq <= progress.applied() {
            continue;
        }
        if seq > progress.applied() + 1 {
            // Admin entries are kept for good: one missing is never skipped over, since the
            // change it held (a key, a revocation) would be lost on this node alone.
            let reason = format!(
                "admin entries {} to {} are missing from the admin stream (it delivered {seq} \
                 next); this node's admin state stops at {}",
                progress.applied() + 1,
                seq - 1,
                progress.applied()
            );
            tracing::error!(%reason, "the admin applier stopped");
            progress.fail(reason);
            return Ok(());
        }
        let Some(change) = open(key, &message.payload).map(|c| message.payload.slice_ref(c)) else {
            tracing::error!(
                stream_sequence = seq,
                "refused an admin entry: its authentication tag does not match (written without \
                 this cluster's master key, or altered)"
            );
            progress.entry_refused(
                "admin",
                seq,
                "unauthenticated_admin",
                "its authentication tag does not match",
                crate::monitor::now_micros(),
            );
            progress.record(Vec::new(), seq);
            continue;
        };
        let apply = Arc::clone(apply);
        let applied = tokio::task::spawn_blocking(move || apply(seq, &change))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        if let Err(reason) = applied {
            let reason = format!("admin entry {seq} could not be applied: {reason}");
            tracing::error!(%reason, "the admin applier stopped");
            progress.fail(reason);
            return Ok(());
        }
        progress.record(Vec::new(), seq);
    }
    Err(failed("the consumer ended".into()))
}

/// Admin entries read, from the first, to check a starting node's master key.
const KEY_CHECK_ENTRIES_MAX: u64 = 64;

/// Refuses a node whose master key tagged none of the admin stream's first entries (at most
/// [`KEY_CHECK_ENTRIES_MAX`]). Every node publishes its keys there on its first start, so the
/// stream is empty only before the first node ever started; a node with another key would
/// otherwise refuse every entry of its peers, and they all of its own, and drift apart.
pub(crate) async fn check_master_key(
    stream: &mut Stream,
    key: &EntryKey,
    deadline: std::time::Instant,
) -> Result<(), ClusterError> {
    let failed = |reason: String| ClusterError::Stream {
        stream: ADMIN_STREAM,
        reason,
    };
    // Nodes started at the same moment race to create the stream, and a server may answer
    // "stream not found" for a moment after another node created it: asked again, as
    // `ensure_stream` does, until the join deadline.
    let state = loop {
        match stream.info().await {
            Ok(info) => break info.state.clone(),
            Err(_) if std::time::Instant::now() < deadline => pause().await,
            Err(e) => return Err(failed(e.to_string())),
        }
    };
    if state.messages == 0 {
        return Ok(());
    }
    let last = state
        .last_sequence
        .min(state.first_sequence + KEY_CHECK_ENTRIES_MAX - 1);
    let mut checked = 0;
    let mut seq = state.first_sequence;
    while seq <= last {
        let message = match stream.get_raw_message(seq).await {
            Ok(message) => message,
            // A deleted sequence has no message: not an entry to judge.
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {
                seq += 1;
                continue;
            }
            Err(_) if std::time::Instant::now() < deadline => {
                pause().await;
                continue;
            }
            Err(e) => {
                return Err(failed(format!(
                    "reading entry {seq} to check this node's master key: {e}"
                )));
            }
        };
        if open(key, &message.payload).is_some() {
            return Ok(());
        }
        checked += 1;
        seq += 1;
    }
    if checked == 0 {
        return Ok(());
    }
    Err(ClusterError::ForeignKey { checked })
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(crate::JOIN_RETRY_PAUSE_MS)).await;
}

/// The admin stream's configuration (created on first use like the log stream).
pub(crate) fn admin_stream_config(replicas: usize) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: ADMIN_STREAM.into(),
        subjects: vec![ADMIN_SUBJECT.into()],
        num_replicas: replicas,
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}
