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
    #[error("the admin stream did not acknowledge the change: {0}")]
    Admin(String),
}
