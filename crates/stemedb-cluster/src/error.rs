//! Why cluster mode could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster settings: {0}")]
    Config(String),
    #[error("cannot connect to NATS at {urls}: {reason}")]
    Connect { urls: String, reason: String },
    #[error("JetStream stream {stream}: {reason}")]
    Stream {
        stream: &'static str,
        reason: String,
    },
    #[error(
        "this node applied the log up to stream sequence {applied}, but the stream now begins at \
         {first}: the entries in between are gone. Restore this node from a peer's backup \
         (docs/cluster.md, \"joining\")"
    )]
    Gap { applied: u64, first: u64 },
    #[error(
        "this node's master key is not the cluster's: {checked} entries of the admin stream were \
         tagged with another key. Every node must have the same custodial master key \
         (--master-key-file or STEMEDB_MASTER_KEY; docs/cluster.md, \"security\")"
    )]
    ForeignKey { checked: usize },
    #[error("the admin stream did not acknowledge the change: {0}")]
    Admin(String),
}
