//! Observability at the HTTP edge: the Prometheus recorder behind `GET /metrics`, and the
//! middleware that gives every request an id (the `x-request-id` header, echoed back), counts
//! and times it by method, route and status, and logs one line for it.
use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{AppState, request_metrics};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// How often histograms are folded into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Quarantine entries a scrape counts at most: a flood must not make every scrape slow.
const QUARANTINE_COUNT_MAX: usize = 1_000_000;
const LATENCY_BUCKETS_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];
const BATCH_SIZE_BUCKETS: [f64; 9] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0,
];
/// The single-write signature checker's batches (`verify_batch.rs`): at most 16, and the cost
/// per signature falls most from 1 to 4 and little past 8.
const SIGNATURE_BATCH_BUCKETS: [f64; 5] = [1.0, 3.0, 7.0, 12.0, 16.0];

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder, installed on first use. `None` when another recorder was
/// installed first (an embedding program's); `/metrics` then says so.
pub fn handle() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &LATENCY_BUCKETS_SECONDS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("stemedb_commit_batch_size".into()),
                        &BATCH_SIZE_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("stemedb_signature_batch_size".into()),
                        &SIGNATURE_BATCH_BUCKETS,
                    )
                })
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe_all();
            Some(handle)
        })
        .as_ref()
}

fn describe_all() {
    describe_gauge!(
        "stemedb_assertions_total",
        "Records stored (the last sequence)."
    );
    describe_gauge!(
        "stemedb_storage_bytes",
        "Bytes the storage engine uses on disk."
    );
    describe_counter!(
        "stemedb_assertions_ingested_total",
        "Assertions offered for ingest, by result: accepted, duplicate, rejected."
    );
    describe_counter!("stemedb_queries_total", "Queries run, by lens.");
    describe_histogram!(
        "stemedb_query_latency_seconds",
        "Query time inside the database, by lens."
    );
    describe_counter!(
        "stemedb_http_requests_total",
        "HTTP requests, by method, route and status."
    );
    describe_histogram!(
        "stemedb_http_request_duration_seconds",
        "HTTP request time, by method, route and status."
    );
    describe_histogram!("stemedb_commit_batch_size", "New records per group commit.");
    describe_histogram!(
        "stemedb_signature_batch_size",
        "Signatures of concurrent single writes checked as one batch."
    );
    describe_histogram!(
        "stemedb_commit_latency_seconds",
        "Group commit time: log batch, truth derivation and fsync."
    );
    describe_histogram!(
        "stemedb_fsync_latency_seconds",
        "Time of the fsync that makes a group durable."
    );
    describe_counter!(
        "stemedb_rate_limit_rejections_total",
        "Requests refused by a key's rate limit, an agent's write quota or an open agent circuit."
    );
    describe_counter!(
        "stemedb_agent_failures_untracked_total",
        "Failed writes the circuit breaker did not count: a new agent while its cap of tracked \
         agents were all live."
    );
    counter!("stemedb_agent_failures_untracked_total").absolute(0);
    describe_gauge!("stemedb_connections_open", "Connections being served now.");
    describe_counter!(
        "stemedb_connections_refused_total",
        "Connections over the cap, answered 503 too-many-connections."
    );
    describe_counter!(
        "stemedb_errors_total",
        "Problems answered, by problem kind."
    );
    describe_counter!(
        "stemedb_storage_damage_total",
        "Reads that found stored bytes failing their checks (block checksum, header, \
         decompression); each is answered 503 storage-corrupt and logged."
    );
    counter!("stemedb_storage_damage_total").absolute(0);
    describe_gauge!(
        "stemedb_journal_bytes",
        "Bytes the engine's journal holds on disk: what a crash now would replay at the next start."
    );
    describe_gauge!(
        "stemedb_open_duration_seconds",
        "How long opening the data directory took at the last start (journal replay included)."
    );
    describe_gauge!(
        "stemedb_agent_circuits_open",
        "Agents whose circuit breaker refuses their writes now."
    );
    describe_gauge!(
        "stemedb_last_backup_timestamp_seconds",
        "Unix time of the last backup the server signed (0: never; kept across restarts)."
    );
    describe_gauge!(
        "stemedb_last_verified_backup_timestamp_seconds",
        "Unix time a chain of this server's backups last verified offline and was reported \
         (`stemedb backup verify --report`; 0: never; kept across restarts)."
    );
    describe_gauge!(
        "stemedb_quarantine_backlog",
        "Records waiting in quarantine for a curator's decision (counted up to 1,000,000)."
    );
    describe_gauge!(
        "stemedb_engine_flushes_outstanding",
        "Sealed memtables the storage engine has yet to write as tables."
    );
    describe_gauge!(
        "stemedb_engine_l0_tables",
        "Level-0 tables over all keyspaces waiting for compaction: it grows when compaction \
         falls behind writes, and every read then looks in more tables."
    );
    describe_gauge!(
        "stemedb_engine_compactions_active",
        "Compactions the storage engine is running now."
    );
    counter!("stemedb_rate_limit_rejections_total").absolute(0);
    counter!("stemedb_connections_refused_total").absolute(0);
    gauge!("stemedb_connections_open").set(0.0);
}

/// Folds recorded histogram samples into buckets every few seconds, so that memory stays
/// bounded even when nothing scrapes. Ends with the runtime.
pub fn spawn_upkeep() {
    if let Some(handle) = handle() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format (docs/operations.md lists the metrics)", content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    let Some(handle) = handle() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process\n",
        )
            .into_response();
    };
    let db = std::sync::Arc::clone(&state.db);
    let agent_circuits_open = state.agents.circuits_open();
    let figures = tokio::task::spawn_blocking(move || ScrapeFigures::read(&db)).await;
    let figures = match figures {
        Ok(figures) => figures,
        Err(e) => {
            // Only a panic on the blocking thread gets here. Plain text, as `/metrics` is
            // (`problem.rs`, which shapes problems, uses this module: no cycle).
            tracing::warn!(error = %e, "reading a scrape's figures");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "reading the figures of this scrape failed; the server's log says why\n",
            )
                .into_response();
        }
    };
    // The recorder is the process's: with two servers in one process (tests, an embedding
    // program) another scrape could set these gauges between this one's sets and its render.
    // Setting and rendering under one lock keeps each scrape's gauges its own server's; the
    // figures were read before it (they may wait on the engine), so it is held only for
    // setting and rendering.
    let text = {
        let _held = SCRAPE_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        figures.set_gauges(agent_circuits_open);
        handle.run_upkeep();
        handle.render()
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Held while a scrape sets its server's gauges and renders them (`metrics_text`).
static SCRAPE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What a scrape reads from its server's store for the gauges it sets.
struct ScrapeFigures {
    assertions: u64,
    disk_bytes: u64,
    journal_bytes: u64,
    opened_in: Duration,
    engine: stemedb::EngineBacklog,
    /// `None` when counting failed (said in a warning; the gauge then shows NaN).
    quarantine_backlog: Option<usize>,
}

impl ScrapeFigures {
    /// Reads them; blocks (the engine may be reopening, a journal listing reads a directory).
    fn read(db: &stemedb::Db) -> ScrapeFigures {
        let quarantine_backlog = match db.quarantine_backlog(QUARANTINE_COUNT_MAX) {
            Ok(count) => Some(count),
            Err(e) => {
                tracing::warn!(error = %e, "counting the quarantine backlog");
                None
            }
        };
        ScrapeFigures {
            assertions: db.assertion_count(),
            disk_bytes: db.disk_bytes(),
            journal_bytes: db.journal_bytes(),
            opened_in: db.opened_in(),
            engine: db.engine_backlog(),
            quarantine_backlog,
        }
    }

    fn set_gauges(&self, agent_circuits_open: usize) {
        gauge!("stemedb_assertions_total").set(self.assertions as f64);
        gauge!("stemedb_storage_bytes").set(self.disk_bytes as f64);
        gauge!("stemedb_journal_bytes").set(self.journal_bytes as f64);
        gauge!("stemedb_open_duration_seconds").set(self.opened_in.as_secs_f64());
        gauge!("stemedb_agent_circuits_open").set(agent_circuits_open as f64);
        gauge!("stemedb_engine_flushes_outstanding").set(self.engine.flushes_outstanding as f64);
        gauge!("stemedb_engine_l0_tables").set(self.engine.l0_tables as f64);
        gauge!("stemedb_engine_compactions_active").set(self.engine.compactions_active as f64);
        let backlog = self
            .quarantine_backlog
            .map_or(f64::NAN, |count| count as f64);
        gauge!("stemedb_quarantine_backlog").set(backlog);
    }
}

/// Which answered requests get a log line. One line per request costs a few percent of a
/// short query's CPU and about 100 bytes of log each (120 MB per 1.2 M queries); like
/// PostgreSQL, which logs failed statements but not every statement by default, the default
/// logs the answers that say something went wrong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestLog {
    /// Every request.
    All,
    /// Requests answered with status 400 or above (server errors at `WARN`).
    #[default]
    Errors,
    /// No request lines (a server error still logs its own `request failed` line, and every
    /// request is counted in the metrics).
    Off,
}

tokio::task_local! {
    /// The id of the request this task is answering (set by [`observe`]).
    static REQUEST_ID: String;
}

/// The id of the request being answered, when called while answering one (not on blocking
/// threads).
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(0);
static ID_SALT: OnceLock<RandomState> = OnceLock::new();

/// A caller's id when it is 1–64 characters of `[A-Za-z0-9._-]`; otherwise a new one
/// (16 hex digits, unique within the process and unpredictable across processes).
fn request_id(request: &Request) -> String {
    let sent = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    match sent {
        Some(id) => id.to_owned(),
        None => {
            let n = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
            format!("{:016x}", ID_SALT.get_or_init(RandomState::new).hash_one(n))
        }
    }
}

/// One request: id, metrics, and a log line if `log` asks for one; `inner` answers it. `route`
/// is the route's template (`/v1/assertions/{id}`), never the raw path: bounded label values.
pub async fn observe<F, Fut>(log: RequestLog, route: &str, request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let started = Instant::now();
    let id = request_id(&request);
    let method_sent = request.method().clone();
    let method = request_metrics::method_label(&method_sent);
    let mut response = REQUEST_ID.scope(id.clone(), inner(request)).await;
    let elapsed = started.elapsed();
    let code = response.status().as_u16();
    request_metrics::count_request(method, route, code, elapsed);
    let (method, status) = (method_sent.as_str(), code);
    let duration_us = elapsed.as_micros() as u64;
    match (log, code) {
        (RequestLog::Off, _) => {}
        (_, 500..) => tracing::warn!(
            target: "stemedb::http",
            request_id = %id, method = %method, route = %route, status = %status, duration_us,
            "request"
        ),
        (RequestLog::All, _) | (RequestLog::Errors, 400..) => tracing::info!(
            target: "stemedb::http",
            request_id = %id, method = %method, route = %route, status = %status, duration_us,
            "request"
        ),
        (RequestLog::Errors, _) => {}
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
