//! The HTTP/JSON server: the only crate that knows HTTP. Routes map requests onto `Db`; every
//! error becomes `application/problem+json` in exactly one place (`problem.rs`).
#![forbid(unsafe_code)]

mod admin_log;
pub mod admin_state;
pub mod agent_guard;
mod api;
pub mod auth;
mod auth_api;
mod backup_api;
mod backup_status;
mod cluster_api;
mod cluster_link;
mod config;
mod console;
mod console_api;
mod custody;
mod db_work;
mod direct;
mod edge;
pub mod files;
mod framing;
mod json_response;
mod observe;
mod openapi;
mod problem;
mod query_params;
mod query_string;
mod refresh;
mod request_body;
mod request_metrics;
mod serve;
mod server_key;
pub mod tls;
mod truth_api;
mod verify_batch;
mod workers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, patch, post};
use stemedb::Db;
use tokio::net::TcpListener;

pub use admin_log::{AdminAction, AdminLog, AdminLogError, AuditEntry};
pub use admin_state::{AdminChange, AdminCommit, AdminPublish, AdminState, AdminStateError};
pub use config::{MasterKey, ServerConfig};
pub use custody::{CustodialCommit, Custodian, CustodyError, SealedKey};
pub use observe::REQUEST_ID_HEADER;
pub use observe::RequestLog;
pub use problem::ApiError;
pub use refresh::PassPriority;

/// What every request handler reads, behind one `Arc`: axum clones the state for each
/// middleware layer and extractor of every request, and a clone of ten `Arc`s was ten atomic
/// increments on cache lines both cores share (clones and drops were about 5 % of a winner
/// query's samples in a profile; an A/B could not tell the change from noise,
/// docs/benchmarks.md "Tenth session").
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
    pub db: Arc<Db>,
    pub config: Arc<ServerConfig>,
    pub started: Instant,
    pub auth: Arc<auth::Auth>,
    pub admin_log: Arc<AdminLog>,
    pub custody: Arc<custody::Custodian>,
    /// Per-agent write quota and circuit breaker.
    pub agents: Arc<agent_guard::AgentGuard>,
    /// Signs backup manifests.
    pub server_key: Arc<server_key::ServerKey>,
    /// When a backup was last signed and last verified (kept in the data directory).
    pub backups: Arc<backup_status::BackupStatus>,
    /// Every change to API keys, custodial keys and the admin audit log goes through here
    /// (applied at once on a single node, replicated in cluster mode). `auth`, `admin_log` and
    /// `custody` are its state's, for reading.
    pub admin: Arc<AdminCommit>,
    /// Cluster mode (`--cluster`): the replicated log this node applies; `None` on a single
    /// node.
    pub cluster: Option<Arc<stemedb_cluster::Cluster>>,
    /// Checks the signatures of concurrent single writes as one batch.
    pub verifier: verify_batch::VerifyBatcher,
}

/// The server's own files in a data directory, beside the store: API keys (hashed), sealed
/// custodial agent keys, the admin audit log, and the key files a first start may create. They
/// are not in backups (keys are secrets); a forced restore carries them over from the data it
/// replaces. The server key (which signs backups) and its public half are among them.
pub const SERVER_FILES: [&str; 9] = [
    auth::keys::FILE_NAME,
    custody::FILE_NAME,
    admin_log::FILE_NAME,
    admin_state::APPLIED_FILE_NAME,
    custody::MASTER_KEY_FILE,
    auth::ADMIN_KEY_FILE,
    server_key::FILE_NAME,
    server_key::PUBLIC_FILE_NAME,
    backup_status::FILE_NAME,
];

/// Secret files a start created: (what, path).
pub type CreatedFiles = Vec<(&'static str, std::path::PathBuf)>;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Custody(#[from] custody::CustodyError),
    #[error(transparent)]
    ServerKey(#[from] server_key::ServerKeyError),
    #[error(transparent)]
    Admin(#[from] AdminStateError),
    #[error(transparent)]
    Cluster(#[from] stemedb_cluster::ClusterError),
}

impl AppState {
    /// The state of a single server over an open database: loads its API keys, admin audit
    /// log and custodial agent keys from the data directory, and applies every change to them
    /// at once. Returns the secret files this start created (what, path): their paths may be
    /// logged, never their contents.
    pub fn open(db: Db, config: ServerConfig) -> Result<(AppState, CreatedFiles), StartError> {
        let (parts, created) = AppState::open_with(db, config, AdminCommit::local)?;
        Ok((AppState(Arc::new(parts)), created))
    }

    /// As [`AppState::open`], for a cluster node: every admin change goes through `publish`
    /// (the `stemedb-admin` stream), and the transport applies the stream to
    /// `state.admin.state()` ([`AdminState::apply`]), from [`AdminState::applied_seq`] on.
    pub fn open_replicated(
        db: Db,
        config: ServerConfig,
        publish: Arc<dyn AdminPublish>,
    ) -> Result<(AppState, CreatedFiles), StartError> {
        let (parts, created) = AppState::open_replicated_parts(db, config, publish)?;
        Ok((AppState(Arc::new(parts)), created))
    }

    /// The parts of [`AppState::open_replicated`], for a caller that fills in `cluster`.
    pub(crate) fn open_replicated_parts(
        db: Db,
        config: ServerConfig,
        publish: Arc<dyn AdminPublish>,
    ) -> Result<(AppParts, CreatedFiles), StartError> {
        AppState::open_with(db, config, |state| AdminCommit::replicated(state, publish))
    }

    fn open_with(
        db: Db,
        config: ServerConfig,
        commit: impl FnOnce(Arc<AdminState>) -> AdminCommit,
    ) -> Result<(AppParts, CreatedFiles), StartError> {
        // The recorder first: a gauge set before it exists is lost (the backup times were
        // missing from /metrics until the first backup whenever nothing had installed it yet).
        observe::handle();
        let dir = db.dir().to_owned();
        let mut created = Vec::new();
        let (master, master_file) = custody::resolve_master_key(
            config.master_key.as_ref().map(|k| k.0.as_str()),
            config.master_key_file.as_deref(),
            &dir,
        )?;
        let (admin, admin_key) = AdminState::open(&dir, config.auth.clone(), &master)?;
        created.extend(admin_key.map(|p| ("admin API key", p)));
        created.extend(master_file.map(|p| ("custodial-signing master key", p)));
        let agents = agent_guard::AgentGuard::new(config.agent_guard.clone());
        let (server_key, key_file) = server_key::ServerKey::open(&dir)?;
        created.extend(key_file.map(|p| ("backup-signing server key", p)));
        let (backups, warning) = backup_status::BackupStatus::open(&dir);
        if let Some(warning) = warning {
            tracing::warn!(%warning, "backup times unreadable; counting no backup until the next one");
        }
        let admin = Arc::new(admin);
        let state = AppParts {
            backups: Arc::new(backups),
            server_key: Arc::new(server_key),
            agents: Arc::new(agents),
            db: Arc::new(db),
            config: Arc::new(config),
            started: Instant::now(),
            auth: Arc::clone(admin.auth()),
            admin_log: Arc::clone(admin.log()),
            custody: Arc::clone(admin.custody()),
            admin: Arc::new(commit(admin)),
            cluster: None,
            verifier: verify_batch::VerifyBatcher::default(),
        };
        Ok((state, created))
    }

    /// The audit log's name for a caller: its key id, or `anonymous`.
    pub fn actor(caller: &auth::Caller) -> String {
        caller
            .0
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), |p| p.key_id.clone())
    }

    /// Appends an administrative action to the audit log (fsynced; in cluster mode applied on
    /// this node) before it is answered.
    pub async fn record_admin(
        &self,
        caller: &auth::Caller,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        let actor = AppState::actor(caller);
        let entry = AdminAction {
            actor: &actor,
            action,
            target,
            detail,
        }
        .entry(auth::now());
        self.admin.record(entry).await
    }
}

/// The full router: API, OpenAPI document, the offline API browser at `/docs` and the web
/// console at `/console/` (`console.rs`), behind the
/// edge checks (`edge.rs`); `loopback_bind`: the server listens on a loopback address.
pub fn router(state: AppState, loopback_bind: bool) -> Router {
    routes(state, loopback_bind).router
}

/// The router, and the routes answered without it (`direct.rs`), behind the same edge checks.
pub(crate) struct Routes {
    pub(crate) router: Router,
    pub(crate) direct: direct::Direct,
}

pub(crate) fn routes(state: AppState, loopback_bind: bool) -> Routes {
    let config = Arc::clone(&state.config);
    let edge = Arc::new(edge::Edge::new(Arc::clone(&config), loopback_bind));
    let api = Router::new()
        .route(
            direct::ASSERT_ROUTE,
            post(api::assert_one).layer(direct::assert_body_limit(&config)),
        )
        .route(
            "/v1/assert/batch",
            post(api::assert_batch).layer(DefaultBodyLimit::max(config.batch_body_bytes_max)),
        )
        .route("/v1/assertions/{id}", get(api::get_assertion))
        .route(
            direct::QUERY_ROUTE,
            get(api::query_get)
                .post(api::query_post)
                .layer(DefaultBodyLimit::max(config.assertion_body_bytes_max)),
        )
        .route("/v1/assertions/{id}/provenance", get(truth_api::provenance))
        .route("/v1/agents/{id}", get(truth_api::get_agent))
        .route("/v1/agents/{id}/records", get(console_api::agent_records))
        .route("/v1/retractions/{id}", get(console_api::retraction))
        .route("/v1/skeptic", get(truth_api::skeptic))
        .route("/v1/quarantine", get(truth_api::quarantine_list))
        .route("/v1/audit/export", get(truth_api::audit_export))
        .route("/v1/admin/status", get(backup_api::status))
        .route("/v1/admin/backup", get(backup_api::snapshot))
        .route("/v1/admin/backup/records", get(backup_api::records))
        .route("/v1/admin/backup/attest", get(backup_api::attest))
        .route("/v1/admin/backup/verified", post(backup_api::verified))
        .route(
            "/v1/admin/curators",
            get(truth_api::list_curators).post(truth_api::add_curator),
        )
        .route(
            "/v1/admin/trust-roots",
            get(truth_api::list_trust_roots).post(truth_api::add_trust_root),
        )
        .route("/v1/admin/audit", get(auth_api::admin_audit))
        .route(
            "/v1/admin/agents/{id}/circuit/reset",
            post(truth_api::reset_circuit),
        )
        .route("/v1/api-keys", get(auth_api::list).post(auth_api::create))
        .route("/v1/api-keys/{id}", patch(auth_api::update))
        .route("/v1/api-keys/{id}/revoke", post(auth_api::revoke))
        .route("/v1/api-keys/{id}/rotate", post(auth_api::rotate))
        .merge(control_routes(config.assertion_body_bytes_max))
        .route("/v1/health", get(api::health))
        .route("/v1/whoami", get(console_api::whoami))
        .route("/v1/overview", get(console_api::overview))
        .route("/v1/cluster/members", get(cluster_api::members))
        .route("/v1/cluster/health", get(cluster_api::health))
        .route("/metrics", get(observe::metrics_text))
        .route("/openapi.json", get(openapi::openapi_json))
        // Every route's body within the assertion limit unless its own layer (inside this one,
        // so it wins) says otherwise: a chunked body announces no length for the edge to judge,
        // and axum's own default is 2 MiB whatever the setting.
        .layer(DefaultBodyLimit::max(config.assertion_body_bytes_max))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .with_state(state.clone());
    let edge_stack = EdgeStack {
        log: config.request_log,
        edge,
        timeout_ms: config.request_timeout_ms,
    };
    let router = api
        .merge(openapi::swagger_ui())
        .merge(console::routes())
        .layer(middleware::from_fn_with_state(
            edge_stack.clone(),
            edge_stack_run,
        ));
    Routes {
        router,
        direct: direct::Direct::new(state, edge_stack),
    }
}

/// What every request passes through before its route, outermost first: its id, metrics and
/// log line (`observe.rs`), the edge checks (`edge.rs`), the request timeout. One middleware
/// instead of one each: every `from_fn` layer clones and boxes the service below it and boxes
/// its future, for every request (docs/benchmarks.md, "Twenty-sixth session").
#[derive(Clone)]
pub(crate) struct EdgeStack {
    log: RequestLog,
    edge: Arc<edge::Edge>,
    timeout_ms: u64,
}

impl EdgeStack {
    /// `request` through every check, `inner` answering it; `route` is its route's template
    /// (`None`: no route matched). The edge's rules by route (a JSON body's content type and
    /// size) and the request metrics' label follow it.
    pub(crate) async fn run<F, Fut>(
        &self,
        route: Option<&str>,
        request: Request,
        inner: F,
    ) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let label = route.unwrap_or("unmatched");
        observe::observe(self.log, label, request, |request| {
            edge::guard(&self.edge, route, request, |request| {
                request_timeout(self.timeout_ms, inner(request))
            })
        })
        .await
    }
}

async fn edge_stack_run(
    State(stack): State<EdgeStack>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = matched.as_ref().map(MatchedPath::as_str);
    stack.run(route, request, |request| next.run(request)).await
}

/// Routes that take one signed control record, each bounded like `POST /v1/assert`.
fn control_routes(body_bytes_max: usize) -> Router<AppState> {
    Router::new()
        .route("/v1/retract", post(truth_api::retract))
        .route("/v1/vote", post(truth_api::vote))
        .route("/v1/trust", post(truth_api::trust))
        .route("/v1/gold-standard", post(truth_api::gold_standard))
        .route("/v1/epochs", post(truth_api::epoch))
        .route(
            "/v1/quarantine/{id}/approve",
            post(truth_api::quarantine_approve),
        )
        .route(
            "/v1/quarantine/{id}/reject",
            post(truth_api::quarantine_reject),
        )
        .layer(DefaultBodyLimit::max(body_bytes_max))
}

/// Bounds every request by `timeout_ms` (`request_timeout_ms`); a request past it gets a 503
/// problem.
async fn request_timeout(timeout_ms: u64, answer: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(Duration::from_millis(timeout_ms), answer).await {
        Ok(response) => response,
        Err(_) => problem::into_response(&ApiError::Timeout { timeout_ms }),
    }
}

/// Serves plain HTTP until `shutdown` resolves, then lets requests in flight finish and closes
/// the database (finishing commits in flight). Connection limits: `serve.rs`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let loopback_bind = listener.local_addr()?.ip().is_loopback();
    serve::serve_on(
        listener,
        serve::Transport::Plain,
        state,
        shutdown,
        loopback_bind,
    )
    .await
}

/// Serves HTTPS (rustls) on `listener` with `tls`, as [`serve`] does HTTP.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let loopback_bind = listener.local_addr()?.ip().is_loopback();
    serve::serve_on(
        listener,
        serve::Transport::Tls(tokio_rustls::TlsAcceptor::from(tls)),
        state,
        shutdown,
        loopback_bind,
    )
    .await
}
