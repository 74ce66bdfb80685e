//! Cluster mode's view of itself: `GET /v1/cluster/members` and `GET /v1/cluster/health`
//! (docs/cluster.md).
use serde::{Deserialize, Serialize};

/// `GET /v1/cluster/members`: every node this one has heard from, itself first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterMembers {
    /// The node that answered.
    pub node_id: String,
    /// The log stream's last sequence, as this node last saw it.
    pub stream_sequence: u64,
    pub members: Vec<ClusterMember>,
}

/// One node, from its heartbeats (the answering node: from itself, now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterMember {
    pub node_id: String,
    /// Where its HTTP API is reached.
    pub advertise: String,
    /// `up` (a heartbeat within 3 intervals), `suspect` (within 10), or `down`.
    pub status: String,
    /// Its last record sequence (equal on every node that applied the same entries).
    pub applied_sequence: u64,
    /// The last log-stream sequence it applied.
    pub applied_stream_sequence: u64,
    /// Stream entries it has not applied yet, against the stream's last sequence.
    pub lag_sequences: u64,
    /// Time since the oldest entry it has not applied was published (0 when caught up).
    pub lag_seconds: f64,
    /// When its last heartbeat was sent (RFC 3339 UTC, by its clock).
    pub last_heartbeat: String,
    /// Milliseconds since this node received that heartbeat.
    pub heartbeat_age_ms: u64,
}

/// `GET /v1/cluster/health`: the log stream's replicas and leader, and whether a write can be
/// acknowledged now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterHealth {
    pub node_id: String,
    /// The log stream's name.
    pub stream: String,
    /// The NATS server leading the stream (absent while none is elected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// Replicas the stream is configured with.
    pub replicas_configured: u64,
    /// The stream's replicas other than the leader.
    pub replicas: Vec<ClusterReplica>,
    /// A write can be acknowledged now: this node is connected, the stream has a leader and
    /// a quorum of its replicas is current.
    pub writable: bool,
    /// Why `writable` is false, or why this node's applier stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The stream's last sequence.
    pub stream_sequence: u64,
    /// The last stream sequence this node applied.
    pub applied_stream_sequence: u64,
    /// `running`, or `stopped` (with `reason`).
    pub applier: String,
    /// Times this node's log and admin consumers were made again after an error since it
    /// started: a NATS restart, or messages they could not read. Rising without end is worth
    /// an alert (`stemedb_replication_consumer_restarts_total` counts the same).
    #[serde(default)]
    pub consumer_restarts: u64,
    /// The error behind the last of those restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_consumer_error: Option<ClusterConsumerError>,
    /// Log and admin entries this node refused since it started (an authentication tag that
    /// does not match the cluster's key, a malformed layout or body): every node refuses the
    /// same entries, which keep no record; `stemedb_replication_entries_refused_total{kind}`
    /// counts the same.
    #[serde(default)]
    pub entries_refused: u64,
    /// The last entry refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_entry_refused: Option<ClusterRefusedEntry>,
}

/// A stream entry this node refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterRefusedEntry {
    /// `log` or `admin`.
    pub stream: String,
    pub stream_sequence: u64,
    /// `unauthenticated`, `malformed` (log) or `unauthenticated_admin`.
    pub kind: String,
    pub error: String,
    /// When (RFC 3339 UTC, by this node's clock).
    pub at: String,
}

/// An error that made a consumer of this node start again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterConsumerError {
    /// `log` or `admin`: the stream the consumer reads.
    pub stream: String,
    pub error: String,
    /// When (RFC 3339 UTC, by this node's clock).
    pub at: String,
}

/// One follower replica of the log stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterReplica {
    /// The NATS server's name.
    pub name: String,
    /// It is up to date with the leader.
    pub current: bool,
    /// The group considers it offline.
    pub offline: bool,
    /// Milliseconds since the leader last heard from it.
    pub active_ms: u64,
    /// Operations it is behind the leader (when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
}
