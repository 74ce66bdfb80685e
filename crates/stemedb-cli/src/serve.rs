//! `stemedb serve`: open the data directory, bind, serve until SIGINT/SIGTERM, close cleanly.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use stemedb_server::{AppState, ServerConfig};

/// How log lines are written (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which answered requests get a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RequestLogArg {
    /// Every request.
    All,
    /// Answers with status 400 and above.
    Errors,
    /// None.
    Off,
}

/// The scheduling priority of the reliability table's background pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PassPriorityArg {
    /// Only the cores' idle time (Linux's SCHED_IDLE).
    Idle,
    /// As the requests' threads.
    Normal,
}

/// Whether requests need API keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    Enabled,
    Disabled,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// An optional TOML file with any of these settings (flags and STEMEDB_* take precedence;
    /// see deploy/stemedb.example.toml).
    #[arg(long, env = "STEMEDB_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: text (default) or json.
    #[arg(long, env = "STEMEDB_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Which requests get a log line with their request id: errors (default; status 400
    /// and above), all, or off.
    #[arg(
        long,
        env = "STEMEDB_REQUEST_LOG",
        value_enum,
        default_value = "errors"
    )]
    request_log: RequestLogArg,
    /// Data directory (created if missing).
    #[arg(long, env = "STEMEDB_DATA_DIR", default_value = "./stemedb-data")]
    data_dir: PathBuf,
    /// Address to listen on. Loopback by default; use 0.0.0.0:PORT to expose it.
    #[arg(long, env = "STEMEDB_BIND_ADDR", default_value = "127.0.0.1:18180")]
    bind: String,
    /// Authentication: `enabled` (default) or `disabled` (only when bound to loopback; every
    /// request is then treated as admin).
    #[arg(long, env = "STEMEDB_AUTH", value_enum, default_value = "enabled")]
    auth: AuthMode,
    /// An admin API key chosen by the operator (32 to 256 printable characters). Never logged.
    #[arg(long, env = "STEMEDB_ROOT_API_KEY", hide_env_values = true)]
    root_api_key: Option<String>,
    /// Master key of custodial signing: 64 hex digits. Never logged. Without it and without
    /// --master-key-file, DATA_DIR/master.key is used (created at first start, mode 0600).
    #[arg(long, env = "STEMEDB_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// File holding the master key (64 hex digits).
    #[arg(long, env = "STEMEDB_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// PEM certificate chain: with --tls-key-path, serve HTTPS (rustls) instead of HTTP.
    #[arg(long, env = "STEMEDB_TLS_CERT_PATH", requires = "tls_key_path")]
    tls_cert_path: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, env = "STEMEDB_TLS_KEY_PATH", requires = "tls_cert_path")]
    tls_key_path: Option<PathBuf>,
    /// Serve /metrics without a key: `--metrics-open true`.
    #[arg(long, env = "STEMEDB_METRICS_OPEN", default_value_t = defaults().auth.metrics_open, action = clap::ArgAction::Set)]
    metrics_open: bool,
    /// How long the previous secret of a rotated API key keeps working, in milliseconds.
    #[arg(long, env = "STEMEDB_KEY_ROTATION_GRACE_MS", default_value_t = defaults().auth.rotation_grace_ms)]
    key_rotation_grace_ms: u64,
    /// Default requests per second of a read key (0: unlimited).
    #[arg(long, env = "STEMEDB_READ_RATE_PER_SEC", default_value_t = defaults().auth.read_rate_per_sec)]
    read_rate_per_sec: u32,
    /// Default requests per second of a write key (0: unlimited).
    #[arg(long, env = "STEMEDB_WRITE_RATE_PER_SEC", default_value_t = defaults().auth.write_rate_per_sec)]
    write_rate_per_sec: u32,
    /// Default requests per second of an admin key (0: unlimited; the root key and the bootstrap admin key are never limited).
    #[arg(long, env = "STEMEDB_ADMIN_RATE_PER_SEC", default_value_t = defaults().auth.admin_rate_per_sec)]
    admin_rate_per_sec: u32,
    /// Requests per second shared by all callers without a key on open routes (/v1/health).
    #[arg(long, env = "STEMEDB_OPEN_RATE_PER_SEC", default_value_t = defaults().auth.open_rate_per_sec)]
    open_rate_per_sec: u32,
    /// Records per second one agent may write, whatever key sends them (0: unlimited).
    #[arg(
        long,
        env = "STEMEDB_AGENT_WRITE_RATE_PER_SEC",
        default_value_t = defaults().agent_guard.write_rate_per_sec
    )]
    agent_write_rate_per_sec: u32,
    /// Records one agent may write at once before its rate applies (at least the rate).
    #[arg(long, env = "STEMEDB_AGENT_WRITE_BURST", default_value_t = defaults().agent_guard.write_burst)]
    agent_write_burst: u32,
    /// Writes of one agent that may fail validation or signature checks in a window; one more
    /// refuses the agent for the cooldown (0: no circuit breaker).
    #[arg(long, env = "STEMEDB_AGENT_FAILURES_MAX", default_value_t = defaults().agent_guard.failures_max)]
    agent_failures_max: u32,
    /// The window of that count, in milliseconds.
    #[arg(
        long,
        env = "STEMEDB_AGENT_FAILURE_WINDOW_MS",
        default_value_t = defaults().agent_guard.failure_window_ms
    )]
    agent_failure_window_ms: u64,
    /// How long an agent's open circuit refuses its writes, in milliseconds.
    #[arg(long, env = "STEMEDB_AGENT_COOLDOWN_MS", default_value_t = defaults().agent_guard.cooldown_ms)]
    agent_cooldown_ms: u64,
    /// Agents whose failed writes the breaker counts at once; past it, a new agent's failures
    /// go uncounted until entries go idle (bounds the breaker's memory and work).
    #[arg(
        long,
        env = "STEMEDB_AGENT_TRACKED_MAX",
        default_value_t = defaults().agent_guard.tracked_agents_max
    )]
    agent_tracked_max: usize,
    /// Largest body of one assertion or query, in bytes.
    #[arg(long, env = "STEMEDB_ASSERTION_BODY_BYTES_MAX", default_value_t = defaults().assertion_body_bytes_max)]
    assertion_body_bytes_max: usize,
    /// Largest batch body, in bytes.
    #[arg(long, env = "STEMEDB_BATCH_BODY_BYTES_MAX", default_value_t = defaults().batch_body_bytes_max)]
    batch_body_bytes_max: usize,
    /// Signed bytes one backup page reads before it ends (never before its first record).
    #[arg(long, env = "STEMEDB_BACKUP_PAGE_BYTES_MAX", default_value_t = defaults().backup_page_bytes_max)]
    backup_page_bytes_max: usize,
    /// Most assertions in one batch.
    #[arg(long, env = "STEMEDB_BATCH_LEN_MAX", default_value_t = defaults().db.batch_len_max)]
    batch_len_max: usize,
    /// Request timeout, in milliseconds (reading a slow client's body counts).
    #[arg(long, env = "STEMEDB_REQUEST_TIMEOUT_MS", default_value_t = defaults().request_timeout_ms)]
    request_timeout_ms: u64,
    /// Longest a client may take to send a request head, or to start its next request on a
    /// kept-alive connection, in milliseconds; past it the connection is closed.
    #[arg(long, env = "STEMEDB_HEADER_READ_TIMEOUT_MS", default_value_t = defaults().header_read_timeout_ms)]
    header_read_timeout_ms: u64,
    /// Largest request head (request line and headers), in bytes (at least 8192); past it: 431.
    #[arg(long, env = "STEMEDB_HEADER_BYTES_MAX", default_value_t = defaults().header_bytes_max)]
    header_bytes_max: usize,
    /// Connections open at once; one more is answered 503 too-many-connections and closed.
    #[arg(long, env = "STEMEDB_CONNECTIONS_MAX", default_value_t = defaults().connections_max)]
    connections_max: usize,
    /// Connection workers: threads that each serve a share of the open connections from their
    /// own poller (default: two per core); 0 serves them on the shared runtime's threads.
    #[arg(long, env = "STEMEDB_CONNECTION_WORKERS", default_value_t = defaults().connection_workers)]
    connection_workers: usize,
    /// Host names served besides the loopback names, comma-separated (ports ignored). On a
    /// loopback bind any other Host gets 421 host-not-allowed (DNS rebinding); on another
    /// bind a non-empty list refuses every name not in it.
    #[arg(long, env = "STEMEDB_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// Browser origins (scheme://host[:port]) allowed to call the API cross-origin (CORS),
    /// comma-separated. Default none: only the server's own origin may change state.
    #[arg(long, env = "STEMEDB_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Deepest nesting of arrays and objects in a JSON body (1 to 128); deeper: 400.
    #[arg(long, env = "STEMEDB_JSON_DEPTH_MAX", default_value_t = defaults().json_depth_max)]
    json_depth_max: usize,
    /// Longest a query with min_sequence waits for this node to apply it, in milliseconds;
    /// past it: 503 not-yet-applied.
    #[arg(long, env = "STEMEDB_MIN_SEQUENCE_WAIT_MS", default_value_t = defaults().min_sequence_wait_ms)]
    min_sequence_wait_ms: u64,
    /// Least time between two refreshes of the evidence lens's reliability table, in
    /// milliseconds (a refresh also waits nine times the CPU it is predicted to take: the
    /// last one's CPU, scaled by how far the log has grown since, up to tenfold; after a
    /// failed refresh, at least 30 s).
    #[arg(long, env = "STEMEDB_RELIABILITY_REFRESH_MS", default_value_t = defaults().reliability_refresh_ms)]
    reliability_refresh_ms: u64,
    /// The scheduling priority of the reliability table's background pass: idle (default;
    /// it runs only when no request's thread wants a core, so a busy server's table lags
    /// further) or normal.
    #[arg(
        long,
        env = "STEMEDB_RELIABILITY_PASS_PRIORITY",
        value_enum,
        default_value = "idle"
    )]
    reliability_pass_priority: PassPriorityArg,
    /// Longest a reliability pass at idle priority may take, in milliseconds, before it gives
    /// up and the next pass runs at normal priority (a machine whose cores never idle would
    /// otherwise leave the table behind for good).
    #[arg(long, env = "STEMEDB_RELIABILITY_IDLE_PASS_MS_MAX", default_value_t = defaults().reliability_idle_pass_ms_max)]
    reliability_idle_pass_ms_max: u64,
    /// Reliability tables of past bounds kept in memory (each made by a pass over the store,
    /// for an evidence read in the past).
    #[arg(long, env = "STEMEDB_RELIABILITY_PAST_TABLES_MAX", default_value_t = defaults().db.reliability_past_tables_max)]
    reliability_past_tables_max: usize,
    /// Pairs of agents the evidence lens's copy search counts at most (bounds its memory,
    /// about 40 bytes a pair).
    #[arg(long, env = "STEMEDB_EVIDENCE_COPY_PAIRS_MAX", default_value_t = defaults().db.evidence.copy_pairs_max)]
    evidence_copy_pairs_max: usize,
    /// Groups with more claimants than this are not searched for copies (the search is
    /// quadratic in a group's claimants).
    #[arg(long, env = "STEMEDB_EVIDENCE_COPY_CLAIMANTS_MAX", default_value_t = defaults().db.evidence.copy_claimants_max)]
    evidence_copy_claimants_max: usize,
    /// How far ahead of the server clock a timestamp may be, in milliseconds.
    #[arg(long, env = "STEMEDB_FUTURE_SKEW_MS", default_value_t = defaults().db.future_skew_ms)]
    future_skew_ms: i64,
    /// Storage caches, in bytes: half for the block cache, a quarter for decoded records, a
    /// quarter for their lens fields, and up to 3/32 beside them for group summaries
    /// (default: a quarter of the memory this process may use, the machine's or its control
    /// groups' lowest limit, at least 16 MiB).
    #[arg(long, env = "STEMEDB_CACHE_BYTES", default_value_t = defaults().db.cache_bytes)]
    cache_bytes: u64,
    /// Journal bytes kept before flushing (at least 64 MiB); bounds replay after a crash.
    #[arg(long, env = "STEMEDB_JOURNAL_BYTES_MAX", default_value_t = defaults().db.journal_bytes_max)]
    journal_bytes_max: u64,
    /// Free bytes the data directory's filesystem must keep; below it writes get 507 until
    /// space returns (0 turns the check off).
    #[arg(long, env = "STEMEDB_DISK_FREE_MIN_BYTES", default_value_t = defaults().db.disk_free_min_bytes)]
    disk_free_min_bytes: u64,
    /// Trust of an agent with no chain from a trust root.
    #[arg(long, env = "STEMEDB_TRUST_DEFAULT", default_value_t = defaults().db.policy.trust.default_trust)]
    trust_default: f64,
    /// Factor applied at every hop of a trust chain.
    #[arg(long, env = "STEMEDB_TRUST_DECAY", default_value_t = defaults().db.policy.trust.decay)]
    trust_decay: f64,
    /// Longest trust chain followed from a root.
    #[arg(long, env = "STEMEDB_TRUST_HOPS_MAX", default_value_t = defaults().db.policy.trust.hops_max)]
    trust_hops_max: usize,
    /// Agents below this trust are subject to the quarantine rules.
    #[arg(long, env = "STEMEDB_QUARANTINE_TRUST_MIN", default_value_t = defaults().db.policy.quarantine_trust_min)]
    quarantine_trust_min: f64,
    /// How far (relatively) a number may lie from a gold standard and still agree with it.
    #[arg(
        long,
        env = "STEMEDB_QUARANTINE_GOLD_TOLERANCE",
        default_value_t = defaults().db.policy.gold_number_tolerance
    )]
    quarantine_gold_tolerance: f64,
    /// New subjects a low-trust agent may create per window before quarantine; 0 turns it off.
    #[arg(
        long,
        env = "STEMEDB_QUARANTINE_NEW_SUBJECTS_MAX",
        default_value_t = defaults().db.policy.new_subjects_burst_max
    )]
    quarantine_new_subjects_max: u64,
    /// The window of the new-subject rule, in milliseconds.
    #[arg(long, env = "STEMEDB_QUARANTINE_WINDOW_MS", default_value_t = defaults().db.policy.new_subjects_window_ms)]
    quarantine_window_ms: u64,
    /// Conflict score above which the skeptic calls a group disputed.
    #[arg(long, env = "STEMEDB_DISPUTED_SCORE_MIN", default_value_t = defaults().db.disputed_score_min)]
    disputed_score_min: f64,
    /// Cluster mode: the NATS servers (JetStream) of the replicated log, comma-separated
    /// (nats://host:port,...). Without it the server is a single node and needs no NATS.
    #[arg(
        long,
        env = "STEMEDB_CLUSTER",
        value_delimiter = ',',
        requires = "node_id"
    )]
    cluster: Vec<String>,
    /// This node's id in the cluster (letters, digits, '-', '_'; unique).
    #[arg(long, env = "STEMEDB_NODE_ID")]
    node_id: Option<String>,
    /// The URL of this node's HTTP API that peers and clients use (default: http:// and the
    /// bound address).
    #[arg(long, env = "STEMEDB_ADVERTISE")]
    advertise: Option<String>,
    /// Replicas of the log stream (3 for a three-server NATS cluster).
    #[arg(long, env = "STEMEDB_CLUSTER_STREAM_REPLICAS", default_value_t = cluster_defaults().stream_replicas)]
    cluster_stream_replicas: usize,
    /// Bytes the log stream may hold (0: unbounded, so that a new node can catch up from it).
    #[arg(long, env = "STEMEDB_CLUSTER_STREAM_BYTES_MAX", default_value_t = cluster_defaults().stream_bytes_max)]
    cluster_stream_bytes_max: u64,
    /// How long a write may wait for the log's acknowledgement (retries included), in ms.
    #[arg(long, env = "STEMEDB_CLUSTER_PUBLISH_TIMEOUT_MS", default_value_t = cluster_defaults().publish_timeout_ms)]
    cluster_publish_timeout_ms: u64,
    /// How long an acknowledged write waits for this node to apply it, in ms; then 503.
    #[arg(long, env = "STEMEDB_CLUSTER_APPLY_WAIT_MS", default_value_t = cluster_defaults().apply_wait_ms)]
    cluster_apply_wait_ms: u64,
    /// Heartbeat interval, in ms: a node is suspect after 3 missed, down after 10.
    #[arg(long, env = "STEMEDB_CLUSTER_HEARTBEAT_MS", default_value_t = cluster_defaults().heartbeat_ms)]
    cluster_heartbeat_ms: u64,
    /// Log entries applied per store commit at most.
    #[arg(long, env = "STEMEDB_CLUSTER_APPLY_BATCH_MAX", default_value_t = cluster_defaults().apply_batch_max)]
    cluster_apply_batch_max: usize,
    /// How long a starting node waits for the NATS cluster and its streams, in ms.
    #[arg(long, env = "STEMEDB_CLUSTER_JOIN_WAIT_MS", default_value_t = cluster_defaults().join_wait_ms)]
    cluster_join_wait_ms: u64,
    /// Nodes the member table holds; past it the one heard from longest ago makes room.
    #[arg(long, env = "STEMEDB_CLUSTER_MEMBERS_MAX", default_value_t = cluster_defaults().members_max)]
    cluster_members_max: usize,
}

/// The defaults of the cluster settings: `ClusterConfig::new` is their one source.
fn cluster_defaults() -> stemedb_cluster::ClusterConfig {
    stemedb_cluster::ClusterConfig::new(Vec::new(), String::new(), String::new())
}

/// The defaults of every setting: `ServerConfig::default()` is their one source, so `--help`,
/// `config show` and an embedded `Db` agree.
fn defaults() -> ServerConfig {
    ServerConfig::default()
}

impl ServeArgs {
    fn server_config(&self) -> ServerConfig {
        let mut config = ServerConfig {
            assertion_body_bytes_max: self.assertion_body_bytes_max,
            batch_body_bytes_max: self.batch_body_bytes_max,
            backup_page_bytes_max: self.backup_page_bytes_max,
            request_timeout_ms: self.request_timeout_ms,
            header_read_timeout_ms: self.header_read_timeout_ms,
            header_bytes_max: self.header_bytes_max,
            connections_max: self.connections_max,
            connection_workers: self.connection_workers,
            json_depth_max: self.json_depth_max,
            min_sequence_wait_ms: self.min_sequence_wait_ms,
            reliability_refresh_ms: self.reliability_refresh_ms,
            reliability_pass_priority: match self.reliability_pass_priority {
                PassPriorityArg::Idle => stemedb_server::PassPriority::Idle,
                PassPriorityArg::Normal => stemedb_server::PassPriority::Normal,
            },
            reliability_idle_pass_ms_max: self.reliability_idle_pass_ms_max,
            allowed_hosts: non_empty(&self.allowed_hosts),
            cors_origins: non_empty(&self.cors_origins),
            request_log: match self.request_log {
                RequestLogArg::All => stemedb_server::RequestLog::All,
                RequestLogArg::Errors => stemedb_server::RequestLog::Errors,
                RequestLogArg::Off => stemedb_server::RequestLog::Off,
            },
            ..ServerConfig::default()
        };
        config.db.batch_len_max = self.batch_len_max;
        config.db.reliability_past_tables_max = self.reliability_past_tables_max;
        config.db.evidence.copy_pairs_max = self.evidence_copy_pairs_max;
        config.db.evidence.copy_claimants_max = self.evidence_copy_claimants_max;
        config.db.future_skew_ms = self.future_skew_ms;
        config.db.cache_bytes = self.cache_bytes;
        config.db.journal_bytes_max = self.journal_bytes_max;
        config.db.disk_free_min_bytes = self.disk_free_min_bytes;
        config.master_key = self.master_key.clone().map(stemedb_server::MasterKey);
        config.agent_guard = stemedb_server::agent_guard::AgentGuardConfig {
            write_rate_per_sec: self.agent_write_rate_per_sec,
            write_burst: self.agent_write_burst,
            failures_max: self.agent_failures_max,
            failure_window_ms: self.agent_failure_window_ms,
            cooldown_ms: self.agent_cooldown_ms,
            tracked_agents_max: self.agent_tracked_max,
        };
        config.master_key_file = self.master_key_file.clone();
        config.auth = stemedb_server::auth::AuthConfig {
            enabled: self.auth == AuthMode::Enabled,
            root_api_key: self.root_api_key.clone(),
            metrics_open: self.metrics_open,
            rotation_grace_ms: self.key_rotation_grace_ms,
            read_rate_per_sec: self.read_rate_per_sec,
            write_rate_per_sec: self.write_rate_per_sec,
            admin_rate_per_sec: self.admin_rate_per_sec,
            open_rate_per_sec: self.open_rate_per_sec,
        };
        let policy = &mut config.db.policy;
        policy.trust.default_trust = self.trust_default;
        policy.trust.decay = self.trust_decay;
        policy.trust.hops_max = self.trust_hops_max;
        policy.quarantine_trust_min = self.quarantine_trust_min;
        policy.gold_number_tolerance = self.quarantine_gold_tolerance;
        policy.new_subjects_burst_max = self.quarantine_new_subjects_max;
        policy.new_subjects_window_ms = self.quarantine_window_ms;
        config.db.disputed_score_min = self.disputed_score_min;
        config.cluster = self.cluster_config();
        config
    }

    /// `--advertise`, unless absent or empty (the example file's way of leaving it unset).
    fn advertise_set(&self) -> Option<String> {
        self.advertise.clone().filter(|a| !a.trim().is_empty())
    }

    /// Cluster mode's settings when `--cluster` names servers.
    fn cluster_config(&self) -> Option<stemedb_cluster::ClusterConfig> {
        let urls = non_empty(&self.cluster);
        if urls.is_empty() {
            return None;
        }
        let advertise = self
            .advertise_set()
            .unwrap_or_else(|| format!("http://{}", self.bind));
        let node_id = self.node_id.clone().unwrap_or_default();
        Some(stemedb_cluster::ClusterConfig {
            stream_replicas: self.cluster_stream_replicas,
            stream_bytes_max: self.cluster_stream_bytes_max,
            publish_timeout_ms: self.cluster_publish_timeout_ms,
            apply_wait_ms: self.cluster_apply_wait_ms,
            heartbeat_ms: self.cluster_heartbeat_ms,
            apply_batch_max: self.cluster_apply_batch_max,
            join_wait_ms: self.cluster_join_wait_ms,
            members_max: self.cluster_members_max,
            ..stemedb_cluster::ClusterConfig::new(urls, node_id, advertise)
        })
    }
}

/// The entries of a comma-separated list setting, without empty ones (`""` is the empty list).
fn non_empty(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|entry| entry.trim().to_owned())
        .filter(|entry| !entry.is_empty())
        .collect()
}

pub fn run(args: ServeArgs) -> Result<()> {
    // Colour only for a person at a terminal: a log file or a journal gets plain text (escape
    // codes in files were unreadable to grep, and formatting them cost every request).
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    match args.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let config = args.server_config();
    config.db.check().context("checking the configuration")?;
    config
        .check()
        .map_err(anyhow::Error::msg)
        .context("checking the configuration")?;
    let started = Instant::now();
    let db = crate::open_guard::open(&args.data_dir, config.db.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.bind)
            .await
            .with_context(|| format!("binding {}", args.bind))?;
        let address = listener.local_addr()?;
        if !config.auth.enabled {
            anyhow::ensure!(
                address.ip().is_loopback(),
                "--auth disabled is allowed only on a loopback address; {address} is not one"
            );
            tracing::warn!(
                "AUTHENTICATION IS DISABLED: every request on {address} is treated as admin. \
                 Use this only for local development."
            );
        }
        if let Some(reason) = db.format_upgrade_failed() {
            tracing::warn!(
                data_dir = %args.data_dir.display(),
                "the data directory keeps its older on-disk format: its upgrade failed \
                 ({reason}); it is served and written in that format meanwhile. Run \
                 `stemedb check`, then `stemedb rebuild-indexes` with the server stopped"
            );
        }
        match db.reliability_at_open() {
            stemedb::ReliabilityAtOpen::Missing => {}
            stemedb::ReliabilityAtOpen::Loaded { sequence } => tracing::info!(
                sequence,
                "the evidence lens starts from the reliability table kept at the last run"
            ),
            stemedb::ReliabilityAtOpen::Refused { reason } => tracing::warn!(
                file = %args.data_dir.join(stemedb::RELIABILITY_FILE).display(),
                "the reliability table kept at the last run is not used ({reason}); the \
                 evidence lens weighs every agent at the prior until the first refresh"
            ),
        }
        tracing::info!(
            data_dir = %args.data_dir.display(),
            assertions = db.assertion_count(),
            cache_bytes = config.db.cache_bytes,
            signature_arithmetic = stemedb_core::signature_arithmetic(),
            ready_ms = started.elapsed().as_millis() as u64,
            "opened"
        );
        let mut cluster = config.cluster.clone();
        if let Some(cluster) = cluster.as_mut().filter(|_| args.advertise_set().is_none()) {
            // The bound address, not the flag: `--bind 127.0.0.1:0` picks the port.
            cluster.advertise = format!("http://{address}");
        }
        let (state, created) = match cluster {
            None => AppState::open(db, config).context("loading API keys")?,
            Some(cluster) => {
                let node = cluster.node_id.clone();
                AppState::open_clustered(db, config, cluster)
                    .await
                    .with_context(|| format!("joining the cluster as node {node}"))?
            }
        };
        for (what, path) in created {
            tracing::info!(
                path = %path.display(),
                "none was configured: created the {what} and wrote it to this file (mode 0600)"
            );
        }
        let tls = match (&args.tls_cert_path, &args.tls_key_path) {
            (Some(cert), Some(key)) => Some(stemedb_server::tls::server_config(cert, key)?),
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        // Tests and scripts read this line to find the port when binding to :0.
        println!("stemedb listening on {scheme}://{address}");
        match tls {
            Some(tls) => stemedb_server::serve_tls(listener, tls, state, shutdown_signal()).await,
            None => stemedb_server::serve(listener, state, shutdown_signal()).await,
        }
        .context("serving")?;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = interrupt => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = interrupt.await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::{Args, FromArgMatches};

    use super::*;

    /// `stemedb serve` with no flags, no environment and no file.
    fn serve_without_settings() -> ServeArgs {
        let command = ServeArgs::augment_args(clap::Command::new("serve"))
            .mut_args(|arg| arg.env(None::<&str>));
        let matches = command.try_get_matches_from(["serve"]).unwrap();
        ServeArgs::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn serve_defaults_are_the_server_config_defaults() {
        let from_flags = format!("{:?}", serve_without_settings().server_config());
        assert_eq!(from_flags, format!("{:?}", ServerConfig::default()));
    }
}
