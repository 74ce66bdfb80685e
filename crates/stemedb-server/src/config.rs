//! Server settings; every limit has a default and a setting (docs/configuration.md).
use stemedb::DbConfig;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest body of `POST /v1/assert` and `POST /v1/query` (default 1 MiB).
    pub assertion_body_bytes_max: usize,
    /// Largest body of `POST /v1/assert/batch` (default 32 MiB).
    pub batch_body_bytes_max: usize,
    /// Longest a request may take before it is answered with 503 (default 30 s).
    pub request_timeout_ms: u64,
    pub db: DbConfig,
    /// API keys, roles and rate limits (docs/security.md).
    pub auth: crate::auth::AuthConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            assertion_body_bytes_max: 1024 * 1024,
            batch_body_bytes_max: 32 * 1024 * 1024,
            request_timeout_ms: 30_000,
            db: DbConfig::default(),
            auth: crate::auth::AuthConfig::default(),
        }
    }
}
