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
    /// Custodial signing's master key: 64 hex digits (`STEMEDB_MASTER_KEY`), or a file holding
    /// them; neither: `DATA_DIR/master.key`, created at first start (0600).
    pub master_key: Option<MasterKey>,
    pub master_key_file: Option<std::path::PathBuf>,
}

/// A master key given as text; `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey(pub String);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<set>)")
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            assertion_body_bytes_max: 1024 * 1024,
            batch_body_bytes_max: 32 * 1024 * 1024,
            request_timeout_ms: 30_000,
            db: DbConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            master_key: None,
            master_key_file: None,
        }
    }
}
