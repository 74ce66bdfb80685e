//! Cluster-mode settings (`stemedb serve --cluster …`, docs/configuration.md). Every limit has
//! a default here and a setting.
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// NATS server URLs (`nats://host:port`); the client fails over between them.
    pub urls: Vec<String>,
    /// This node's id, unique in the cluster (letters, digits, `-` and `_`).
    pub node_id: String,
    /// The URL other nodes and clients reach this node's HTTP API at.
    pub advertise: String,
    /// Replicas of the log stream: 3 for a three-server NATS cluster (1 only for tests that
    /// run a single NATS server).
    pub stream_replicas: usize,
    /// Bytes the log stream may hold (0: unbounded, the default, so that a new node can catch
    /// up from the stream alone; docs/cluster.md, "retention").
    pub stream_bytes_max: u64,
    /// How long a write may take to be acknowledged by the stream (retries across a leader
    /// election included) before it fails with 503.
    pub publish_timeout_ms: u64,
    /// How long an acknowledged write waits for this node to apply it before 503.
    pub apply_wait_ms: u64,
    /// Heartbeat interval; a node is suspect after 3 missed heartbeats and down after 10.
    pub heartbeat_ms: u64,
    /// Stream entries applied per store commit at most.
    pub apply_batch_max: usize,
    /// How long a starting node waits for the NATS cluster (to connect, and for its streams to
    /// answer while the servers elect their leaders) before it gives up.
    pub join_wait_ms: u64,
    /// Nodes the member table holds; past it the one heard from longest ago makes room (the
    /// heartbeat subject is open to any NATS client, and each new id was kept for good).
    pub members_max: usize,
}

impl ClusterConfig {
    /// The defaults, for the given servers and node.
    pub fn new(urls: Vec<String>, node_id: String, advertise: String) -> ClusterConfig {
        ClusterConfig {
            urls,
            node_id,
            advertise,
            stream_replicas: 3,
            stream_bytes_max: 0,
            publish_timeout_ms: 10_000,
            apply_wait_ms: 5_000,
            heartbeat_ms: 1_000,
            apply_batch_max: 1_024,
            join_wait_ms: 30_000,
            members_max: 256,
        }
    }

    /// Refuses settings that cannot work, naming the setting.
    pub fn check(&self) -> Result<(), String> {
        if self.urls.is_empty() || self.urls.iter().any(|u| u.trim().is_empty()) {
            return Err("cluster: at least one NATS URL is required (nats://host:port)".into());
        }
        if !node_id_ok(&self.node_id) {
            return Err(format!(
                "node_id {:?}: 1 to 64 letters, digits, '-' or '_' are required",
                self.node_id
            ));
        }
        if !(self.advertise.starts_with("http://") || self.advertise.starts_with("https://")) {
            return Err(format!(
                "advertise {:?}: an http:// or https:// URL is required",
                self.advertise
            ));
        }
        if !(1..=5).contains(&self.stream_replicas) {
            return Err("cluster_stream_replicas must be 1 to 5".into());
        }
        let positive = [
            ("cluster_publish_timeout_ms", self.publish_timeout_ms),
            ("cluster_apply_wait_ms", self.apply_wait_ms),
            ("cluster_heartbeat_ms", self.heartbeat_ms),
            ("cluster_apply_batch_max", self.apply_batch_max as u64),
            ("cluster_join_wait_ms", self.join_wait_ms),
            ("cluster_members_max", self.members_max as u64),
        ];
        match positive.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(format!("{name} must be at least 1")),
            None => Ok(()),
        }
    }

    pub(crate) fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }
}

/// A node id: 1 to 64 letters, digits, '-' or '_' (a NATS subject token, a metric label).
pub(crate) fn node_id_ok(id: &str) -> bool {
    let id_ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    !id.is_empty() && id.len() <= 64 && id.chars().all(id_ok)
}

/// `url` with any credentials (`user:password@`) replaced by `****@`: NATS URLs may carry
/// them, and neither logs nor `config show` may print them.
pub fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://****@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_userinfo;

    #[test]
    fn credentials_in_a_url_are_never_shown() {
        for (url, shown) in [
            ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
            ("nats://user:secret@nats1:4222", "nats://****@nats1:4222"),
            ("nats://token@nats1:4222", "nats://****@nats1:4222"),
            ("tls://u:p@h:1/path@x", "tls://****@h:1/path@x"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_userinfo(url), shown, "{url}");
        }
    }
}
