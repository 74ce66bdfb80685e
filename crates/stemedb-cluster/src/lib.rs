//! Cluster mode (docs/cluster.md): StemeDB nodes that apply one replicated log kept by NATS
//! JetStream. Writes are published to the log stream and answered once the stream has them
//! on a quorum and this node has applied them; every node applies the stream in order through
//! `Db::apply_stream`, so every node holds the same records at the same sequences. Reads stay
//! local. The single-node default never builds any of this.
//!
//! Modules: `entry` (the one wire shape of a log entry), `progress` (what the applier has
//! done, for waiting writers), `sink` (the write path, `Db`'s `LogSink`, publishing writes in
//! groups), `applier` (the
//! apply path), `members` and `monitor` (heartbeats, the stream's state, gauges), `config`.
#![forbid(unsafe_code)]

mod admin;
mod applier;
mod config;
mod entry;
mod error;
mod local;
mod members;
mod monitor;
mod progress;
mod sink;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use stemedb::Db;
use stemedb_wire::{ClusterHealth, ClusterMembers};
use tokio::task::JoinHandle;

pub use admin::{ADMIN_STREAM, AdminApply, AdminChannel};
pub use config::{ClusterConfig, redact_userinfo};
pub use entry::{EntryError, EntryKey, chunks, decode_entry, encode_entry, entry_id};
pub use error::ClusterError;

use applier::Applier;
use members::Members;
use monitor::{Monitor, StreamView};
use progress::Progress;
use sink::{NatsSink, Publisher};

/// The log stream and its subject.
pub const LOG_STREAM: &str = "stemedb-log";
pub const LOG_SUBJECT: &str = "stemedb.log";
/// Heartbeats go to `stemedb.members.<node_id>`.
pub const MEMBERS_SUBJECT: &str = "stemedb.members";
/// How long the stream remembers message ids to drop a re-sent record.
const DUPLICATE_WINDOW_SECS: u64 = 120;
/// The JetStream request timeout; a publish that times out is retried.
pub(crate) const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// The smallest payload limit a NATS server must allow: the largest record the default
/// limits admit, with room to spare.
const PAYLOAD_MIN_BYTES: usize = 256 * 1024;
/// The pause between attempts to join a cluster that is not ready yet.
pub(crate) const JOIN_RETRY_PAUSE_MS: u64 = 250;

/// What the server gives cluster mode to carry its admin state: where this node's admin
/// files stand in the admin stream, and how to apply one entry to them.
pub struct AdminHooks {
    pub applied: u64,
    pub apply: AdminApply,
}

/// A running cluster node: its connection, appliers, heartbeats and monitor.
pub struct Cluster {
    config: ClusterConfig,
    admin: AdminChannel,
    admin_progress: Arc<Progress>,
    db: Arc<Db>,
    progress: Arc<Progress>,
    members: Arc<Members>,
    view: Arc<Mutex<StreamView>>,
    client: async_nats::Client,
    tasks: Vec<JoinHandle<()>>,
}

impl Cluster {
    /// Connects, creates the log stream if it does not exist, starts applying it from this
    /// node's applied sequence, and routes `db`'s appends to it. `master_key` is the custodial
    /// master key, the same on every node: the keys that tag both streams' entries derive from
    /// it (`entry.rs`). Call on the runtime, before serving.
    pub async fn start(
        db: Arc<Db>,
        config: ClusterConfig,
        admin: AdminHooks,
        master_key: &[u8; 32],
    ) -> Result<Cluster, ClusterError> {
        config.check().map_err(ClusterError::Config)?;
        let joined_by = Instant::now() + Duration::from_millis(config.join_wait_ms);
        let client = connect(&config, joined_by).await?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
            .build(client.clone());
        let stream = ensure_stream(&js, LOG_STREAM, log_stream_config(&config), joined_by).await?;
        let admin_config = admin::admin_stream_config(config.stream_replicas);
        let mut admin_stream = ensure_stream(&js, ADMIN_STREAM, admin_config, joined_by).await?;
        let admin_progress = Arc::new(Progress::new(admin.applied));
        let admin_key = EntryKey::for_admin(master_key);
        let log_key = EntryKey::for_log(master_key);
        admin::check_master_key(&mut admin_stream, &admin_key, joined_by).await?;
        let admin_channel = AdminChannel::new(
            js.clone(),
            admin_key.clone(),
            Arc::clone(&admin_progress),
            config.node_id.clone(),
            Duration::from_millis(config.publish_timeout_ms + config.apply_wait_ms),
        );
        let progress = Arc::new(Progress::new(db.stream_applied()));
        let members = Arc::new(Members::new(config.heartbeat(), config.members_max));
        let view = Arc::new(Mutex::new(StreamView::default()));
        let local = Arc::new(local::LocalEntries::default());
        let (queue, queued) = tokio::sync::mpsc::channel(sink::QUEUED_WRITES_MAX);
        let publisher = Publisher {
            js,
            local: Arc::clone(&local),
            key: log_key.clone(),
            subject: LOG_SUBJECT.into(),
            publish_timeout: Duration::from_millis(config.publish_timeout_ms),
            entry_bytes_max: entry_bytes_max(&client),
        };
        let sink = NatsSink {
            queue,
            runtime: tokio::runtime::Handle::current(),
            progress: Arc::clone(&progress),
            db: Arc::downgrade(&db),
            publish_timeout: Duration::from_millis(config.publish_timeout_ms),
            apply_wait: Duration::from_millis(config.apply_wait_ms),
        };
        db.set_log_sink(Arc::new(sink))
            .map_err(|e| ClusterError::Config(e.to_string()))?;
        let applier = Applier {
            local,
            key: log_key,
            db: Arc::clone(&db),
            stream: stream.clone(),
            progress: Arc::clone(&progress),
            batch_max: config.apply_batch_max,
        };
        let monitor = Monitor {
            db: Arc::clone(&db),
            client: client.clone(),
            stream,
            progress: Arc::clone(&progress),
            view: Arc::clone(&view),
            node_id: config.node_id.clone(),
            advertise: config.advertise.clone(),
            interval: config.heartbeat(),
            heartbeat_key: EntryKey::for_heartbeat(master_key),
        };
        let tasks = vec![
            tokio::spawn(publisher.run(queued)),
            tokio::spawn(applier.run()),
            tokio::spawn(monitor.run()),
            tokio::spawn(monitor::listen(
                client.clone(),
                Arc::clone(&members),
                EntryKey::for_heartbeat(master_key),
            )),
            tokio::spawn(admin::run_admin_applier(
                admin_stream,
                admin_key,
                Arc::clone(&admin_progress),
                admin.apply,
            )),
        ];
        tracing::info!(node_id = %config.node_id, applied = progress.applied(), "cluster mode: applying the log");
        Ok(Cluster {
            config,
            admin: admin_channel,
            admin_progress,
            db,
            progress,
            members,
            view,
            client,
            tasks,
        })
    }

    /// Publishes an admin change and waits until this node applied it (its admin stream
    /// sequence).
    pub async fn commit_admin(&self, change: Vec<u8>) -> Result<u64, ClusterError> {
        self.admin.commit(change).await
    }

    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    /// The last stream sequence this node applied.
    pub fn applied_stream_sequence(&self) -> u64 {
        self.progress.applied()
    }

    fn seen(&self) -> StreamView {
        self.view.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// `GET /v1/cluster/members`.
    pub fn members(&self) -> ClusterMembers {
        let seen = self.seen();
        let me = monitor::own_heartbeat(
            &self.db,
            &self.progress,
            &self.config.node_id,
            &self.config.advertise,
            seen.lag_seconds,
        );
        ClusterMembers {
            node_id: self.config.node_id.clone(),
            stream_sequence: seen.last_sequence,
            members: self.members.view(&me, seen.last_sequence, Instant::now()),
        }
    }

    /// `GET /v1/cluster/health`.
    pub fn health(&self) -> ClusterHealth {
        let seen = self.seen();
        let failure = self.progress.failure().or(self.admin_progress.failure());
        let reason = writable_reason(&seen, &self.client);
        let (consumer_restarts, last_consumer_error) = self
            .progress
            .consumer_restarts()
            .join(self.admin_progress.consumer_restarts());
        let (entries_refused, last_entry_refused) = self
            .progress
            .entries_refused()
            .join(self.admin_progress.entries_refused());
        ClusterHealth {
            node_id: self.config.node_id.clone(),
            stream: LOG_STREAM.into(),
            leader: seen.leader.clone(),
            replicas_configured: seen.replicas_configured,
            replicas: seen.replicas.clone(),
            writable: reason.is_none() && failure.is_none(),
            reason: failure.clone().or(reason),
            stream_sequence: seen.last_sequence,
            applied_stream_sequence: self.progress.applied(),
            applier: if failure.is_some() {
                "stopped"
            } else {
                "running"
            }
            .into(),
            consumer_restarts,
            last_consumer_error,
            entries_refused,
            last_entry_refused,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Entries stay below the server's payload limit, with room for headers, and at 1 MiB.
fn entry_bytes_max(client: &async_nats::Client) -> usize {
    const HEADROOM_BYTES: usize = 4 * 1024;
    const ENTRY_BYTES_CAP: usize = 1024 * 1024;
    client
        .server_info()
        .max_payload
        .saturating_sub(HEADROOM_BYTES)
        .min(ENTRY_BYTES_CAP)
}

/// Why a write cannot be acknowledged now (`None`: it can): a leader and a quorum of current
/// replicas (the leader counts) are needed, over a live connection.
fn writable_reason(seen: &StreamView, client: &async_nats::Client) -> Option<String> {
    if client.connection_state() != async_nats::connection::State::Connected {
        return Some("this node is not connected to NATS".into());
    }
    if let Some(error) = &seen.error {
        return Some(error.clone());
    }
    if seen.leader.is_none() {
        return Some("the log stream has no leader".into());
    }
    let current = 1 + seen
        .replicas
        .iter()
        .filter(|r| r.current && !r.offline)
        .count() as u64;
    let quorum = seen.replicas_configured / 2 + 1;
    (current < quorum).then(|| {
        format!(
            "{current} of {} replicas are current; {quorum} are needed",
            seen.replicas_configured
        )
    })
}

/// Connects, trying again until `deadline` (NATS started at the same moment may not listen
/// yet); refuses a server whose payload limit is too small for a log entry.
async fn connect(
    config: &ClusterConfig,
    deadline: Instant,
) -> Result<async_nats::Client, ClusterError> {
    let urls: Vec<String> = config.urls.iter().map(|u| redact_userinfo(u)).collect();
    let urls = urls.join(",");
    let failed = |reason: String| ClusterError::Connect {
        urls: urls.clone(),
        reason,
    };
    let addresses = config
        .urls
        .iter()
        .map(|u| u.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(e.to_string()))?;
    let client = loop {
        let attempt = async_nats::ConnectOptions::new()
            .name(format!("stemedb-{}", config.node_id))
            .connection_timeout(Duration::from_secs(5))
            .connect(addresses.clone())
            .await;
        match attempt {
            Ok(client) => break client,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(JOIN_RETRY_PAUSE_MS)).await;
            }
            Err(e) => return Err(failed(e.to_string())),
        }
    };
    let max_payload = client.server_info().max_payload;
    if max_payload < PAYLOAD_MIN_BYTES {
        return Err(failed(format!(
            "the server allows payloads of {max_payload} bytes; StemeDB needs at least {PAYLOAD_MIN_BYTES} (max_payload)"
        )));
    }
    Ok(client)
}

/// The log stream's configuration: file storage, `stream_replicas` replicas, a duplicate
/// window of two minutes, bounded by `stream_bytes_max` if set.
fn log_stream_config(config: &ClusterConfig) -> stream::Config {
    let max_bytes = match config.stream_bytes_max {
        0 => -1,
        n => i64::try_from(n).unwrap_or(i64::MAX),
    };
    stream::Config {
        name: LOG_STREAM.into(),
        subjects: vec![LOG_SUBJECT.into()],
        num_replicas: config.stream_replicas,
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(DUPLICATE_WINDOW_SECS),
        max_bytes,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    }
}

/// The stream `wanted` names, created on first use. Asked again until `deadline` while the
/// answer says JetStream is not ready yet (a request timing out, no JetStream, a 503): servers
/// started at the same moment are still electing their meta leader, and a node that gave up
/// at the first timeout left `scripts/cluster.sh` with one node short.
async fn ensure_stream(
    js: &jetstream::Context,
    name: &'static str,
    wanted: stream::Config,
    deadline: Instant,
) -> Result<stream::Stream, ClusterError> {
    use jetstream::context::CreateStreamErrorKind as Kind;
    loop {
        let error = match js.get_or_create_stream(wanted.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(e) => e,
        };
        let not_ready = match error.kind() {
            Kind::TimedOut | Kind::JetStreamUnavailable => true,
            Kind::JetStream(e) => e.code() == 503,
            _ => false,
        };
        if !not_ready || Instant::now() >= deadline {
            return Err(ClusterError::Stream {
                stream: name,
                reason: error.to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(JOIN_RETRY_PAUSE_MS)).await;
    }
}
