//! The one place where errors become HTTP responses: RFC 9457 `application/problem+json`,
//! with a stable `type` per kind of problem (docs/api.md lists them).
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use stemedb::{DbError, StoreError};
use stemedb_wire::Problem;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: String },
    #[error("no such route: {0}")]
    NoRoute(String),
    #[error("this server runs without cluster mode (start it with --cluster)")]
    NotClustered,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("request body is larger than the limit of {limit_bytes} bytes for this route")]
    PayloadTooLarge { limit_bytes: usize },
    #[error("could not read the request body: {0}")]
    BodyUnreadable(String),
    #[error("request took longer than {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("this route needs the {required} role; the key has {role}")]
    Forbidden {
        role: &'static str,
        required: &'static str,
    },
    #[error("{0}")]
    Refused(String),
    #[error("backup manifest refused: {0}")]
    ManifestRefused(String),
    #[error("{0}")]
    Unsigned(String),
    #[error(
        "rate limit of {limit_per_sec} requests per second exceeded; retry in {retry_after_ms} ms"
    )]
    RateLimited {
        limit_per_sec: u32,
        retry_after_ms: u64,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("the server has its maximum of {connections_max} connections open; retry later")]
    TooManyConnections { connections_max: usize },
    #[error(
        "agent {agent_id} is refused for a cooldown after repeated writes that failed \
         validation or signature checks; retry in {retry_after_ms} ms, or ask an administrator \
         to reset it"
    )]
    CircuitOpen {
        agent_id: String,
        retry_after_ms: u64,
    },
    #[error(
        "agent {agent_id} is over its write quota of {limit_per_sec} records per second; retry \
         in {retry_after_ms} ms"
    )]
    AgentQuota {
        agent_id: String,
        limit_per_sec: u32,
        retry_after_ms: u64,
    },
    #[error("JSON nested deeper than {depth_max} levels")]
    JsonTooDeep { depth_max: usize },
    #[error("{0}")]
    Conflict(String),
    #[error(
        "this route takes a JSON body: send `content-type: application/json` (parameters such \
         as charset are allowed); got {0}"
    )]
    UnsupportedMediaType(String),
    #[error(
        "this server does not answer to Host {0:?}; on a loopback bind only loopback names \
         and --allowed-hosts are served"
    )]
    HostNotAllowed(String),
    #[error(
        "requests from origin {0:?} may only read; add it to --cors-origins to let a browser \
         page there call this server"
    )]
    OriginNotAllowed(String),
    #[error(
        "the request has both Content-Length and Transfer-Encoding; send one (the connection \
         is closed)"
    )]
    AmbiguousFraming,
    #[error("the {0} header may appear only once")]
    DuplicateHeader(&'static str),
    #[error("the admin change was not committed to the cluster: {0}; retry")]
    AdminUnavailable(String),
}

/// Status, stable type suffix and title for an error.
fn classify(error: &ApiError) -> (StatusCode, &'static str, &'static str) {
    use StatusCode as S;
    match error {
        ApiError::Db(db) => match db {
            DbError::MalformedJson(_) => (S::BAD_REQUEST, "malformed-json", "Malformed JSON"),
            DbError::Invalid(_) => (
                S::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "Invalid assertion",
            ),
            DbError::SignatureInvalid { .. } => (
                S::UNPROCESSABLE_ENTITY,
                "signature-invalid",
                "Signature does not verify",
            ),
            DbError::AgentKeyConflict { .. } => (
                S::CONFLICT,
                "agent-key-conflict",
                "Agent bound to another key",
            ),
            DbError::BatchTooLarge { .. } => {
                (S::PAYLOAD_TOO_LARGE, "batch-too-large", "Batch too large")
            }
            DbError::BadQuery { .. } => (S::BAD_REQUEST, "invalid-query", "Invalid query"),
            DbError::Store(
                StoreError::DiskFull { .. }
                | StoreError::FailStopped {
                    disk_full: true, ..
                },
            ) => (
                S::INSUFFICIENT_STORAGE,
                "disk-full",
                "Not enough disk space",
            ),
            DbError::Store(
                StoreError::FailStopped { .. } | StoreError::ShuttingDown | StoreError::Reopening,
            ) => (
                S::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "Storage unavailable",
            ),
            // Damage is named, never a bare 500: the server is up, the damaged part cannot be
            // served until it is restored (docs/reliability.md).
            DbError::Store(
                StoreError::CorruptRecord { .. }
                | StoreError::CorruptIndex { .. }
                | StoreError::CorruptMeta { .. }
                | StoreError::Damaged { .. },
            ) => (
                S::SERVICE_UNAVAILABLE,
                "storage-corrupt",
                "Stored data failed its checks",
            ),
            DbError::DeadlineExceeded { .. } => {
                (S::SERVICE_UNAVAILABLE, "timeout", "Request timed out")
            }
            DbError::NotYetApplied { .. } => (
                S::SERVICE_UNAVAILABLE,
                "not-yet-applied",
                "The read's min_sequence is not applied here yet",
            ),
            DbError::ReplicationUnavailable { .. } => (
                S::SERVICE_UNAVAILABLE,
                "replication-unavailable",
                "The replicated log did not acknowledge the write",
            ),
            DbError::ReplicationPending { .. } => (
                S::SERVICE_UNAVAILABLE,
                "replication-pending",
                "The write is replicated but not yet applied on this node",
            ),
            // A store handed stream entries out of order is the applier's bug, never a
            // request's: it does not reach a route.
            DbError::Store(StoreError::StreamOutOfOrder { .. }) => {
                (S::INTERNAL_SERVER_ERROR, "internal", "Internal error")
            }
            DbError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
            // Every other storage failure, named one by one so that a new variant has to be
            // placed here on purpose. The open-time ones (lost acknowledged records, a damaged
            // mark, an engine that cannot open, a lock, a format) do not reach a request.
            DbError::Store(
                StoreError::Engine(_)
                | StoreError::Io { .. }
                | StoreError::AcknowledgedLost { .. }
                | StoreError::AckMarkDamaged { .. }
                | StoreError::EngineOpen { .. }
                | StoreError::Locked { .. }
                | StoreError::UnsupportedFormat { .. },
            ) => (S::INTERNAL_SERVER_ERROR, "storage-error", "Storage error"),
        },
        ApiError::NotFound { .. } => (S::NOT_FOUND, "not-found", "Not found"),
        ApiError::NoRoute(_) => (S::NOT_FOUND, "no-route", "No such route"),
        ApiError::NotClustered => (S::NOT_FOUND, "not-clustered", "Cluster mode is off"),
        ApiError::MethodNotAllowed => (
            S::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
        ),
        ApiError::PayloadTooLarge { .. } => (
            S::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
        ),
        ApiError::BodyUnreadable(_) => (S::BAD_REQUEST, "body-unreadable", "Unreadable body"),
        ApiError::Timeout { .. } => (S::SERVICE_UNAVAILABLE, "timeout", "Request timed out"),
        ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        ApiError::Unauthorized(_) => (S::UNAUTHORIZED, "unauthorized", "Missing or bad API key"),
        ApiError::Forbidden { .. } => (S::FORBIDDEN, "forbidden", "Role not allowed"),
        ApiError::Refused(_) => (S::FORBIDDEN, "refused", "Refused"),
        ApiError::ManifestRefused(_) => (
            S::UNPROCESSABLE_ENTITY,
            "backup-manifest-refused",
            "Backup manifest refused",
        ),
        ApiError::Unsigned(_) => (
            S::UNPROCESSABLE_ENTITY,
            "unsigned",
            "Unsigned write without custodial signing",
        ),
        ApiError::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "rate-limited", "Too many requests"),
        ApiError::BadRequest(_) => (S::BAD_REQUEST, "bad-request", "Bad request"),
        ApiError::TooManyConnections { .. } => (
            S::SERVICE_UNAVAILABLE,
            "too-many-connections",
            "Too many connections",
        ),
        ApiError::CircuitOpen { .. } => (
            S::TOO_MANY_REQUESTS,
            "agent-circuit-open",
            "Agent refused for a cooldown",
        ),
        ApiError::AgentQuota { .. } => (
            S::TOO_MANY_REQUESTS,
            "agent-quota",
            "Agent over its write quota",
        ),
        ApiError::JsonTooDeep { .. } => (S::BAD_REQUEST, "json-too-deep", "JSON nested too deep"),
        ApiError::Conflict(_) => (S::CONFLICT, "conflict", "Conflict"),
        ApiError::UnsupportedMediaType(_) => (
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        ),
        ApiError::HostNotAllowed(_) => (
            S::MISDIRECTED_REQUEST,
            "host-not-allowed",
            "Host not served",
        ),
        ApiError::OriginNotAllowed(_) => (S::FORBIDDEN, "origin-not-allowed", "Origin not allowed"),
        ApiError::AmbiguousFraming => (
            S::BAD_REQUEST,
            "ambiguous-framing",
            "Both Content-Length and Transfer-Encoding",
        ),
        ApiError::DuplicateHeader(_) => (S::BAD_REQUEST, "duplicate-header", "Header repeated"),
        ApiError::AdminUnavailable(_) => (
            S::SERVICE_UNAVAILABLE,
            "admin-unavailable",
            "Admin change not committed",
        ),
    }
}

/// What a caller is told instead of a server-side failure's own message, which can name
/// engine internals and data-directory paths; `None`: the message is fit to show.
fn hidden_detail(error: &ApiError) -> Option<&'static str> {
    match error {
        ApiError::Internal(_) | ApiError::Db(DbError::Internal(_)) => Some("an internal error"),
        ApiError::Db(DbError::Store(store)) => match store {
            StoreError::ShuttingDown => None,
            StoreError::DiskFull { .. } => Some(
                "free space in the data directory is below --disk-free-min-bytes; writes \
                 resume once space is freed",
            ),
            StoreError::FailStopped {
                disk_full: true, ..
            } => Some(
                "the disk filled up during a commit or a flush; writes resume by themselves \
                 once space is freed",
            ),
            StoreError::Reopening => None,
            StoreError::FailStopped { .. } => Some(
                "the writer stopped after a failed durable commit; restart the server to recover",
            ),
            StoreError::CorruptRecord { .. }
            | StoreError::CorruptIndex { .. }
            | StoreError::CorruptMeta { .. }
            | StoreError::Damaged { .. } => {
                Some("stored data failed its checks; `stemedb check` finds the damage")
            }
            StoreError::Engine(_)
            | StoreError::Io { .. }
            | StoreError::AcknowledgedLost { .. }
            | StoreError::AckMarkDamaged { .. }
            | StoreError::EngineOpen { .. }
            | StoreError::Locked { .. }
            | StoreError::UnsupportedFormat { .. } => Some("a storage error"),
            StoreError::StreamOutOfOrder { .. } => Some("an internal error"),
        },
        _ => None,
    }
}

/// The `detail` of a problem. A hidden failure is logged in full with the request id, and
/// the caller gets a fixed text naming that id.
fn detail(error: &ApiError) -> String {
    let Some(text) = hidden_detail(error) else {
        return error.to_string();
    };
    let id = crate::observe::current_request_id();
    tracing::error!(
        request_id = id.as_deref().unwrap_or("-"),
        error = %error,
        "request failed"
    );
    match id {
        Some(id) => format!("{text}; the server log has the details under request id {id}"),
        None => format!("{text}; the server log has the details"),
    }
}

/// The problem document for an error (also used inside batch results).
pub fn problem_of(error: &ApiError) -> Problem {
    let (status, kind, title) = classify(error);
    let mut problem = Problem {
        agent_id: None,
        bound_public_key: None,
        detail: detail(error),
        field: None,
        id: None,
        retry_after_ms: None,
        rule: None,
        status: status.as_u16(),
        title: title.to_owned(),
        kind: format!("urn:stemedb:problem:{kind}"),
    };
    match error {
        ApiError::Db(DbError::Invalid(v)) => {
            problem.field = Some(v.field.clone());
            problem.rule = Some(v.rule.to_owned());
        }
        ApiError::Db(DbError::BadQuery { field, .. }) => {
            problem.field = Some((*field).to_owned());
        }
        ApiError::Db(DbError::AgentKeyConflict {
            agent_id,
            bound_key,
        }) => {
            problem.field = Some("public_key".to_owned());
            problem.agent_id = Some(agent_id.clone());
            problem.bound_public_key = Some(bound_key.clone());
        }
        ApiError::Db(DbError::SignatureInvalid { id }) => {
            problem.field = Some("signature".to_owned());
            problem.id = Some(id.clone());
        }
        ApiError::CircuitOpen {
            agent_id,
            retry_after_ms,
        }
        | ApiError::AgentQuota {
            agent_id,
            retry_after_ms,
            ..
        } => {
            problem.agent_id = Some(agent_id.clone());
            problem.retry_after_ms = Some(*retry_after_ms);
        }
        _ => {}
    }
    problem
}

/// The problem document as JSON text.
fn problem_text(error: &ApiError) -> String {
    serde_json::to_string(&problem_of(error)).unwrap_or_else(|_| "{}".to_owned())
}

pub fn into_response(error: &ApiError) -> Response {
    let (status, kind, _) = classify(error);
    metrics::counter!("stemedb_errors_total", "kind" => kind).increment(1);
    if status.is_server_error() && hidden_detail(error).is_none() {
        let id = crate::observe::current_request_id();
        tracing::error!(request_id = id.as_deref().unwrap_or("-"), error = %error, "request failed");
    }
    let body = problem_text(error);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    match error {
        ApiError::Unauthorized(_) => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"stemedb\""),
            );
        }
        ApiError::RateLimited {
            limit_per_sec,
            retry_after_ms,
        }
        | ApiError::AgentQuota {
            limit_per_sec,
            retry_after_ms,
            ..
        } => {
            let seconds = retry_after_ms.div_ceil(1000).max(1);
            for (name, value) in [
                (header::RETRY_AFTER.as_str(), seconds),
                ("ratelimit-limit", u64::from(*limit_per_sec)),
                ("ratelimit-remaining", 0),
                ("ratelimit-reset", seconds),
            ] {
                if let (Ok(name), Ok(value)) = (
                    header::HeaderName::try_from(name),
                    HeaderValue::try_from(value.to_string()),
                ) {
                    headers.insert(name, value);
                }
            }
        }
        // The body was not read (or not all of it): the connection cannot carry another request.
        ApiError::AmbiguousFraming | ApiError::PayloadTooLarge { .. } => {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        ApiError::CircuitOpen { retry_after_ms, .. } => {
            let seconds = retry_after_ms.div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::try_from(seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        ApiError::Db(
            DbError::NotYetApplied { .. }
            | DbError::ReplicationUnavailable { .. }
            | DbError::ReplicationPending { .. },
        )
        | ApiError::AdminUnavailable(_) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    response
}

/// A whole HTTP/1.1 response for an error, as bytes: for answers written below the router
/// (a connection over the cap), which close the connection.
pub fn raw_http(error: &ApiError) -> Vec<u8> {
    let (status, kind, _) = classify(error);
    metrics::counter!("stemedb_errors_total", "kind" => kind).increment(1);
    let body = problem_text(error);
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\
         connection: close\r\nretry-after: 1\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        into_response(&self)
    }
}
