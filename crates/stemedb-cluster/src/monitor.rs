//! Once per heartbeat interval: read the log stream's state (last sequence, leader, replicas),
//! work out this node's lag, set the replication gauges and publish this node's heartbeat.
//! Health and members answers are served from what it last saw, so they cost no round trip.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::stream::Stream;
use futures_util::StreamExt;
use stemedb::Db;
use stemedb_wire::ClusterReplica;

use crate::entry::{EntryKey, open, seal};
use crate::members::{Heartbeat, Members};
use crate::progress::Progress;

/// The log stream as last seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamView {
    pub last_sequence: u64,
    pub leader: Option<String>,
    pub replicas: Vec<ClusterReplica>,
    pub replicas_configured: u64,
    /// Why the stream could not be read, if it could not.
    pub error: Option<String>,
    /// This node's lag, in seconds.
    pub lag_seconds: f64,
}

pub(crate) struct Monitor {
    pub db: Arc<Db>,
    pub client: async_nats::Client,
    pub stream: Stream,
    pub progress: Arc<Progress>,
    pub view: Arc<Mutex<StreamView>>,
    pub node_id: String,
    pub advertise: String,
    pub interval: Duration,
    /// Tags this node's heartbeats (`EntryKey::for_heartbeat`).
    pub heartbeat_key: EntryKey,
}

impl Monitor {
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.interval);
        loop {
            tick.tick().await;
            let view = self.look().await;
            metrics::gauge!("stemedb_replication_stream_sequence").set(view.last_sequence as f64);
            metrics::gauge!("stemedb_replication_applied_sequence")
                .set(self.progress.applied() as f64);
            let heartbeat = self.heartbeat(view.lag_seconds);
            if let Ok(mut seen) = self.view.lock() {
                *seen = view;
            }
            if let Ok(bytes) = serde_json::to_vec(&heartbeat) {
                let subject = format!("{}.{}", crate::MEMBERS_SUBJECT, self.node_id);
                let sealed = seal(&self.heartbeat_key, &bytes);
                if let Err(e) = self.client.publish(subject, sealed.into()).await {
                    tracing::warn!(error = %e, "could not publish the heartbeat");
                }
            }
        }
    }

    /// This node's heartbeat as of now.
    pub fn heartbeat(&self, lag_seconds: f64) -> Heartbeat {
        own_heartbeat(
            &self.db,
            &self.progress,
            &self.node_id,
            &self.advertise,
            lag_seconds,
        )
    }

    async fn look(&mut self) -> StreamView {
        let info = match self.stream.info().await {
            Ok(info) => info.clone(),
            Err(e) => {
                let previous = self.view.lock().map(|v| v.clone()).unwrap_or_default();
                return StreamView {
                    error: Some(format!("cannot read the log stream: {e}")),
                    leader: None,
                    ..previous
                };
            }
        };
        let cluster = info.cluster.unwrap_or_default();
        let replicas = cluster
            .replicas
            .iter()
            .map(|peer| ClusterReplica {
                name: peer.name.clone(),
                current: peer.current,
                offline: peer.offline,
                active_ms: peer.active.as_millis() as u64,
                lag: peer.lag,
            })
            .collect();
        let last_sequence = info.state.last_sequence;
        let lag_seconds = self.lag_seconds(last_sequence).await;
        metrics::gauge!("stemedb_replication_lag_seconds", "node" => self.node_id.clone())
            .set(lag_seconds);
        StreamView {
            last_sequence,
            leader: cluster.leader,
            replicas,
            replicas_configured: info.config.num_replicas as u64,
            error: None,
            lag_seconds,
        }
    }

    /// Time since the oldest entry not applied here was published; 0 when caught up.
    async fn lag_seconds(&self, last_sequence: u64) -> f64 {
        let next = self.progress.applied() + 1;
        if next > last_sequence {
            return 0.0;
        }
        match self.stream.get_raw_message(next).await {
            Ok(message) => {
                let published = message.time.unix_timestamp_nanos() as f64 / 1e9;
                (unix_seconds_now() - published).max(0.0)
            }
            Err(_) => 0.0,
        }
    }
}

/// A node's heartbeat from its own state.
pub(crate) fn own_heartbeat(
    db: &Db,
    progress: &Progress,
    node_id: &str,
    advertise: &str,
    lag_seconds: f64,
) -> Heartbeat {
    Heartbeat {
        node_id: node_id.to_owned(),
        advertise: advertise.to_owned(),
        applied_sequence: db.last_sequence(),
        applied_stream_sequence: progress.applied(),
        lag_seconds,
        sent_at_micros: now_micros(),
    }
}

/// Now, in microseconds since the Unix epoch, by this node's clock.
pub(crate) fn now_micros() -> i64 {
    (unix_seconds_now() * 1e6) as i64
}

fn unix_seconds_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Listens to every node's heartbeats and keeps the member table. A heartbeat not tagged with
/// the cluster's key is refused (counted, logged): no node of this cluster sent it.
pub(crate) async fn listen(client: async_nats::Client, members: Arc<Members>, key: EntryKey) {
    let subject = format!("{}.*", crate::MEMBERS_SUBJECT);
    let mut subscription = match client.subscribe(subject).await {
        Ok(subscription) => subscription,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to heartbeats; members stay unknown");
            return;
        }
    };
    while let Some(message) = subscription.next().await {
        let Some(payload) = open(&key, &message.payload) else {
            tracing::warn!(subject = %message.subject, "refused a heartbeat not tagged with this cluster's key");
            metrics::counter!("stemedb_replication_entries_refused_total", "kind" => "unauthenticated_heartbeat")
                .increment(1);
            continue;
        };
        match serde_json::from_slice::<Heartbeat>(payload) {
            Ok(heartbeat) => members.hear(heartbeat, message.subject.as_str(), Instant::now()),
            Err(e) => tracing::warn!(error = %e, "ignored a malformed heartbeat"),
        }
    }
}
