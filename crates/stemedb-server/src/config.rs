//! Server settings; every limit has a default and a setting (docs/configuration.md).
use stemedb::DbConfig;

/// hyper's smallest read buffer; `header_bytes_max` below it is refused.
pub const HEADER_BYTES_MIN: usize = 8192;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest body of `POST /v1/assert` and `POST /v1/query` (default 1 MiB).
    pub assertion_body_bytes_max: usize,
    /// Largest body of `POST /v1/assert/batch` (default 32 MiB).
    pub batch_body_bytes_max: usize,
    /// Signed bytes one page of `GET /v1/admin/backup/records` reads before it ends (default
    /// 64 MiB; never before its first record): its `limit` counts records, which can be large.
    pub backup_page_bytes_max: usize,
    /// Longest a request may take before it is answered with 503 (default 30 s). Reading a
    /// slow client's body counts.
    pub request_timeout_ms: u64,
    /// Longest a client may take to send a request's head, and to start the next request on
    /// a kept-alive connection; past it the connection is closed (default 30 s).
    pub header_read_timeout_ms: u64,
    /// Largest request head (request line and headers), in bytes; past it: 431 (default
    /// 16 KiB, at least 8 KiB).
    pub header_bytes_max: usize,
    /// Open connections at once; one more is answered 503 `too-many-connections` and closed
    /// (default 1024).
    pub connections_max: usize,
    /// Connection workers: single-threaded runtimes that each serve a share of the open
    /// connections (`workers.rs`); 0 serves them on the shared runtime's threads instead
    /// (default: [`CONNECTION_WORKERS_PER_CORE`] per core, at most [`CONNECTION_WORKERS_MAX`]).
    pub connection_workers: usize,
    /// Deepest nesting of arrays and objects in a JSON body; deeper: 400 `json-too-deep`
    /// (default 64, at most 128).
    pub json_depth_max: usize,
    /// Longest a query with `min_sequence` waits for this node to apply that sequence before
    /// 503 `not-yet-applied` (default 2 s; below `request_timeout_ms`).
    pub min_sequence_wait_ms: u64,
    /// Least time between two refreshes of the evidence lens's reliability table; a refresh
    /// also waits nine times the CPU it is predicted to take (the last one's CPU, scaled
    /// by the log's growth since, up to tenfold), so that it uses about a tenth of a core
    /// while the store grows slowly (default 1 s; docs/lenses.md §Evidence).
    pub reliability_refresh_ms: u64,
    /// The scheduling priority of the reliability table's background pass: `Idle` (default;
    /// Linux's `SCHED_IDLE`, only the cores' idle time) or `Normal` (docs/lenses.md §Evidence).
    pub reliability_pass_priority: crate::PassPriority,
    /// Longest a pass at `Idle` priority may take before it gives up and the next one runs at
    /// normal priority: a machine whose cores never idle would otherwise leave the table
    /// behind for good (default 5 min, at least 100 ms).
    pub reliability_idle_pass_ms_max: u64,
    /// Extra `Host` names the server answers to (ports ignored). On a loopback bind the
    /// loopback names (`localhost`, `127.0.0.0/8`, `[::1]`) are always accepted and any other
    /// name only if listed; on other binds, when the list is not empty, only listed names are
    /// (default empty). Others: 421 `host-not-allowed` (docs/security.md).
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) that may call the API from a browser: they get CORS
    /// headers and may send state-changing requests. Default empty: only the server's own
    /// origin (docs/security.md).
    pub cors_origins: Vec<String>,
    /// Which answered requests get a log line (default: errors, status 400 and above).
    pub request_log: crate::observe::RequestLog,
    pub db: DbConfig,
    /// API keys, roles and rate limits (docs/security.md).
    pub auth: crate::auth::AuthConfig,
    /// Custodial signing's master key: 64 hex digits (`STEMEDB_MASTER_KEY`), or a file holding
    /// them; neither: `DATA_DIR/master.key`, created at first start (0600).
    pub master_key: Option<MasterKey>,
    pub master_key_file: Option<std::path::PathBuf>,
    /// Per-agent write quota and circuit breaker (docs/security.md).
    pub agent_guard: crate::agent_guard::AgentGuardConfig,
    /// Cluster mode (`--cluster`, docs/cluster.md); `None`: a single node, no NATS.
    pub cluster: Option<stemedb_cluster::ClusterConfig>,
}

/// The most connection workers a server starts (each is a thread).
pub const CONNECTION_WORKERS_MAX: usize = 256;

/// Connection workers per core by default. A worker's connections wait while the system runs
/// something else on its core (no other worker takes them over): with two per core the other
/// one on that core serves its own meanwhile, and each holds half as many. Winner queries at
/// 64 connections on two cores: p99 2.2-2.6 ms with 4 workers against 4.5 with 2, at the same
/// rate; single writes as fast or faster (docs/benchmarks.md, "Thirtieth session").
pub const CONNECTION_WORKERS_PER_CORE: usize = 2;

/// The shortest spacing of reliability refreshes: below it the refresher would spin.
pub const RELIABILITY_REFRESH_MS_MIN: u64 = 100;

/// The shortest time a reliability pass at idle priority may be given: below it nearly every
/// pass would give up and run again at normal priority.
pub const RELIABILITY_IDLE_PASS_MS_MIN: u64 = 100;

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
            backup_page_bytes_max: 64 * 1024 * 1024,
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 30_000,
            header_bytes_max: 16 * 1024,
            connections_max: 1024,
            connection_workers: std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get)
                .saturating_mul(CONNECTION_WORKERS_PER_CORE)
                .min(CONNECTION_WORKERS_MAX),
            json_depth_max: 64,
            min_sequence_wait_ms: 2_000,
            reliability_refresh_ms: 1_000,
            reliability_pass_priority: crate::PassPriority::Idle,
            reliability_idle_pass_ms_max: 300_000,
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            request_log: crate::observe::RequestLog::default(),
            db: DbConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            master_key: None,
            master_key_file: None,
            agent_guard: crate::agent_guard::AgentGuardConfig::default(),
            cluster: None,
        }
    }
}

impl ServerConfig {
    /// Checks the server's own limits; the error names the setting.
    pub fn check(&self) -> Result<(), String> {
        if self.reliability_refresh_ms < RELIABILITY_REFRESH_MS_MIN {
            return Err(format!(
                "reliability_refresh_ms must be at least {RELIABILITY_REFRESH_MS_MIN}; got {}",
                self.reliability_refresh_ms
            ));
        }
        if self.reliability_idle_pass_ms_max < RELIABILITY_IDLE_PASS_MS_MIN {
            return Err(format!(
                "reliability_idle_pass_ms_max must be at least {RELIABILITY_IDLE_PASS_MS_MIN}; got {}",
                self.reliability_idle_pass_ms_max
            ));
        }
        if !(1..=128).contains(&self.json_depth_max) {
            return Err(format!(
                "json_depth_max must be 1 to 128 (the JSON parser's own limit); got {}",
                self.json_depth_max
            ));
        }
        if self.connections_max == 0 {
            return Err("connections_max must be at least 1".into());
        }
        if self.connection_workers > CONNECTION_WORKERS_MAX {
            return Err(format!(
                "connection_workers must be at most {CONNECTION_WORKERS_MAX} (0: none); got {}",
                self.connection_workers
            ));
        }
        if self.header_bytes_max < HEADER_BYTES_MIN {
            return Err(format!(
                "header_bytes_max must be at least {}; got {}",
                HEADER_BYTES_MIN, self.header_bytes_max
            ));
        }
        let guard = &self.agent_guard;
        if guard.tracked_agents_max == 0 && guard.failures_max > 0 {
            return Err(
                "agent_tracked_max must be at least 1 while the circuit breaker is on (0 would \
                 count no agent's failures; agent_failures_max = 0 turns the breaker off)"
                    .into(),
            );
        }
        if guard.write_rate_per_sec > 0
            && (guard.write_burst.max(guard.write_rate_per_sec) as usize) < self.db.batch_len_max
        {
            return Err(format!(
                "agent_write_burst ({}) must be at least batch_len_max ({}), or a full batch \
                 from one agent could never be admitted",
                guard.write_burst, self.db.batch_len_max
            ));
        }
        if let Some(host) = self
            .allowed_hosts
            .iter()
            .find(|h| h.is_empty() || h.contains(['/', '*', ' ', ',']) || h.contains("://"))
        {
            return Err(format!(
                "allowed_hosts holds host names (a port is ignored); {host:?} is not one"
            ));
        }
        if let Some(origin) = self.cors_origins.iter().find(|o| !is_origin(o)) {
            return Err(format!(
                "cors_origins holds origins such as https://app.example.org:8443 (scheme, host, \
                 optional port; no path, no wildcard); {origin:?} is not one"
            ));
        }
        if self.min_sequence_wait_ms >= self.request_timeout_ms {
            return Err(format!(
                "min_sequence_wait_ms ({}) must be below request_timeout_ms ({})",
                self.min_sequence_wait_ms, self.request_timeout_ms
            ));
        }
        if let Some(cluster) = &self.cluster {
            cluster.check()?;
            let write_ms = cluster.publish_timeout_ms + cluster.apply_wait_ms;
            if write_ms >= self.request_timeout_ms {
                return Err(format!(
                    "cluster_publish_timeout_ms + cluster_apply_wait_ms ({write_ms}) must be below \
                     request_timeout_ms ({}), so that a write's own 503 comes first",
                    self.request_timeout_ms
                ));
            }
        }
        if self.header_read_timeout_ms == 0 || self.request_timeout_ms == 0 {
            return Err("header_read_timeout_ms and request_timeout_ms must be above 0".into());
        }
        Ok(())
    }
}

/// `http://host[:port]` or `https://host[:port]`, nothing else.
fn is_origin(text: &str) -> bool {
    let authority = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    authority.is_some_and(|a| {
        !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    })
}
