//! Request handlers. Each one parses, hands the work to `Db` on a blocking thread, and shapes
//! the JSON answer; errors go back as `ApiError` and become problems in `problem.rs`.
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use std::sync::Arc;

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use stemedb::core::{AssertionId, parse_json_strict};
use stemedb::{Db, DbError, Ingested, Query, QueryResult};

use std::collections::HashMap;

use crate::agent_guard::{AgentGuard, agent_of, counts_as_failure};
use crate::auth::Caller;
use crate::problem::problem_json;
use crate::{ApiError, AppState, query_params};

/// Runs blocking database work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Db) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = std::sync::Arc::clone(&state.db);
    tokio::task::spawn_blocking(move || work(&db))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// A request body within its route's byte limit and the JSON nesting limit.
pub(crate) fn body_bytes(
    config: &crate::ServerConfig,
    body: Result<Bytes, BytesRejection>,
    limit_bytes: usize,
) -> Result<Bytes, ApiError> {
    let bytes = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_)
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::PayloadTooLarge { limit_bytes }
        }
        other => ApiError::BodyUnreadable(other.body_text()),
    })?;
    if json_depth_exceeds(&bytes, config.json_depth_max) {
        return Err(ApiError::JsonTooDeep {
            depth_max: config.json_depth_max,
        });
    }
    Ok(bytes)
}

/// Whether arrays and objects in `bytes` nest deeper than `depth_max`, checked before any
/// parse in one pass (brackets inside strings do not count). Bytes that are not JSON are
/// left to the parser to name.
pub fn json_depth_exceeds(bytes: &[u8], depth_max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > depth_max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn ingested_json(ingested: &Ingested) -> Value {
    if ingested.duplicate {
        json!({"id": ingested.id, "sequence": ingested.sequence, "duplicate": true})
    } else {
        json!({"id": ingested.id, "sequence": ingested.sequence})
    }
}

#[utoipa::path(post, path = "/v1/assert", tag = "assertions",
    request_body(content = crate::openapi::AssertionWire, description = "A signed assertion (docs/signing.md)"),
    responses(
        (status = 201, description = "Stored durably", body = crate::openapi::AssertResponse),
        (status = 200, description = "Already stored (same id)", body = crate::openapi::AssertResponse),
        (status = 400, description = "Malformed JSON", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Agent bound to another key", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field or signature", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn assert_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.assertion_body_bytes_max)?;
    let (custody, guard) = (Arc::clone(&state.custody), Arc::clone(&state.agents));
    let ingested = blocking(&state, move |db| {
        let wire = parse_wire(&bytes)?;
        let agent = agent_of(&wire, caller.0.as_ref());
        guard.guarded(agent.as_deref(), || {
            let limits = &db.config().limits;
            let wire = custody.prepare(caller.0.as_ref(), None, wire, db.now(), limits)?;
            db.ingest_one(wire).map_err(ApiError::from)
        })
    })
    .await?;
    let status = if ingested.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(ingested_json(&ingested))).into_response())
}

#[utoipa::path(post, path = "/v1/assert/batch", tag = "assertions",
    request_body(content = crate::openapi::BatchRequest),
    responses(
        (status = 200, description = "One result per item; stored items are durable", body = crate::openapi::BatchResponse),
        (status = 400, description = "Malformed JSON", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too many items or too many bytes", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A key repeated in one object (rule duplicate_key)", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn assert_batch(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.batch_body_bytes_max)?;
    let guard = Arc::clone(&state.agents);
    let results = blocking(&state, move |db| {
        let items = parse_batch(&bytes)?;
        guarded_batch(db, &guard, items)
    })
    .await?;
    let (mut accepted, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    let items: Vec<Value> = results
        .into_iter()
        .enumerate()
        .map(|(index, result)| match result {
            Ok(ingested) => {
                if ingested.duplicate {
                    duplicates += 1;
                } else {
                    accepted += 1;
                }
                let mut item = ingested_json(&ingested);
                item["index"] = json!(index);
                item["status"] = json!(if ingested.duplicate { 200 } else { 201 });
                item
            }
            Err(problem) => {
                rejected += 1;
                json!({"index": index, "status": problem["status"], "error": problem})
            }
        })
        .collect();
    let body = json!({"accepted": accepted, "duplicates": duplicates, "rejected": rejected, "results": items});
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Ingests a batch through the agent guard: items of an agent whose circuit is open or whose
/// quota cannot take all its items in this batch are refused (each with the problem); the rest
/// are ingested together; items that fail validation count against their agent.
fn guarded_batch(
    db: &Db,
    guard: &AgentGuard,
    items: Vec<Value>,
) -> Result<Vec<Result<Ingested, Value>>, ApiError> {
    let max = db.config().batch_len_max;
    if items.len() > max {
        // Refused whole, before any quota is spent.
        let len = items.len();
        return Err(DbError::BatchTooLarge { len, max }.into());
    }
    let agents: Vec<Option<String>> = items.iter().map(|item| agent_of(item, None)).collect();
    let mut per_agent: HashMap<&str, u32> = HashMap::new();
    for agent in agents.iter().flatten() {
        *per_agent.entry(agent).or_default() += 1;
    }
    let now = std::time::Instant::now();
    let refused: HashMap<&str, Value> = per_agent
        .into_iter()
        .filter_map(|(agent, n)| {
            let error = guard.admit(agent, n, now).err()?;
            Some((agent, problem_json(&error)))
        })
        .collect();
    let refusal = |i: usize| agents[i].as_deref().and_then(|a| refused.get(a));
    let admitted: Vec<Value> = items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| refusal(*i).is_none())
        .map(|(_, item)| item)
        .collect();
    let mut stored = db.ingest_batch(admitted)?.into_iter();
    let mut results = Vec::with_capacity(agents.len());
    for (i, agent) in agents.iter().enumerate() {
        if let Some(problem) = refusal(i) {
            results.push(Err(problem.clone()));
            continue;
        }
        let result = stored.next().ok_or_else(|| {
            ApiError::Internal("the batch returned fewer results than items".into())
        })?;
        results.push(result.map_err(|e| {
            let error = ApiError::Db(e);
            if let Some(agent) = agent
                && counts_as_failure(&error)
            {
                guard.record_failure(agent, now);
            }
            problem_json(&error)
        }));
    }
    Ok(results)
}

fn parse_batch(bytes: &[u8]) -> Result<Vec<Value>, ApiError> {
    // A repeated key anywhere refuses the whole batch (field `assertions[i].…`).
    let value = parse_json_strict(bytes).map_err(DbError::from)?;
    let Value::Object(mut map) = value else {
        return Err(
            DbError::MalformedJson("a batch is an object {\"assertions\": [...]}".into()).into(),
        );
    };
    if let Some(unknown) = map.keys().find(|k| *k != "assertions") {
        return Err(DbError::MalformedJson(format!(
            "unknown field {unknown:?} in batch; only \"assertions\""
        ))
        .into());
    }
    match map.remove("assertions") {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(DbError::MalformedJson("\"assertions\" must be an array".into()).into()),
    }
}

#[utoipa::path(get, path = "/v1/assertions/{id}", tag = "assertions",
    params(("id" = String, Path, description = "Assertion id: 64 lowercase hex characters")),
    responses(
        (status = 200, description = "The record", body = crate::openapi::Record),
        (status = 400, description = "Not an id", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown id", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_assertion(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let parsed = AssertionId::parse_field(&id, "id").map_err(|e| DbError::BadQuery {
        field: "id",
        message: e.message,
    })?;
    // A point read by id: bounded and short, so it runs inline (see `run_query`).
    let record = state.db.get(&parsed)?.ok_or(ApiError::NotFound {
        what: "assertion with id",
        id,
    })?;
    let votes = state.db.votes(&parsed, stemedb::Bound::latest())?;
    let mut text = record.to_json_string();
    // Votes are live state, not part of the signed record: spliced in as an envelope field.
    text.pop();
    text.push_str(&format!(
        ",\"votes\":{{\"up\":{},\"down\":{}}}}}",
        votes.up, votes.down
    ));
    Ok(json_text(StatusCode::OK, text))
}

#[utoipa::path(get, path = "/v1/query", tag = "query",
    params(crate::openapi::QueryParams),
    responses(
        (status = 200, description = "Groups ranked by the lens", body = crate::openapi::QueryResponse),
        (status = 400, description = "Invalid query", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn query_get(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = query_params::from_query_string(raw.as_deref())?;
    run_query(&state, query).await
}

#[utoipa::path(post, path = "/v1/query", tag = "query",
    request_body(content = crate::openapi::QueryBody),
    responses(
        (status = 200, description = "Groups ranked by the lens", body = crate::openapi::QueryResponse),
        (status = 400, description = "Invalid query", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn query_post(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.assertion_body_bytes_max)?;
    let query = query_params::from_json_body(&bytes)?;
    run_query(&state, query).await
}

/// Most records an exact query may hold to be answered on the async worker.
const INLINE_RECORDS_MAX: usize = 256;

async fn run_query(state: &AppState, mut query: Query) -> Result<Response, ApiError> {
    query.deadline = Some(deadline(state));
    // The common exact (subject, predicate) query over a small group is short, mostly cached
    // work: answer it inline and skip two thread hand-offs, which cost more than the query
    // (measured: about a quarter of query throughput). A group may hold any number of
    // assertions, though, so a large one (found by a key-only scan), a prefix scan, or a wait
    // for a read slot goes to the blocking pool, bounded by the request's deadline: past it
    // the work stops (`DbError::DeadlineExceeded`) instead of running on after the 503.
    if query.predicate.is_some()
        && !query.subject.ends_with('*')
        && let Some(result) = state.db.query_if_small(&query, INLINE_RECORDS_MAX)?
    {
        return Ok(json_text(StatusCode::OK, query_json(&result)));
    }
    let result = blocking(state, move |db| db.query(&query).map_err(ApiError::from)).await?;
    Ok(json_text(StatusCode::OK, query_json(&result)))
}

/// When the request's own work must stop: `request_timeout_ms` from now (the timeout layer
/// answers 503 at about the same moment).
pub(crate) fn deadline(state: &AppState) -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_millis(state.config.request_timeout_ms)
}

/// A response whose body is JSON text built here.
pub(crate) fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(crate) fn json_str(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The query answer as JSON text. Each record is rendered once and that text is reused for
/// `winner`, the group's list and the top-level list (queries are the hot read path).
fn query_json(result: &QueryResult) -> String {
    let rendered: Vec<Vec<String>> = result
        .groups
        .iter()
        .map(|g| {
            g.assertions
                .iter()
                .map(stemedb::RecordView::to_json_string)
                .collect()
        })
        .collect();
    let size: usize = rendered
        .iter()
        .flatten()
        .map(|r| r.len() * 2 + 1)
        .sum::<usize>()
        + 512 * rendered.len()
        + 64;
    let mut out = String::with_capacity(size);
    out.push_str("{\"lens\":");
    out.push_str(&json_str(result.lens.as_str()));
    out.push_str(",\"groups\":[");
    for (i, (group, records)) in result.groups.iter().zip(&rendered).enumerate() {
        if i > 0 {
            out.push(',');
        }
        group_json(&mut out, group, records);
    }
    out.push_str("],\"assertions\":[");
    let all: Vec<&str> = rendered.iter().flatten().map(String::as_str).collect();
    out.push_str(&all.join(","));
    out.push_str("],\"next_cursor\":");
    out.push_str(&optional_str(result.next_cursor.as_deref()));
    out.push('}');
    out
}

fn optional_str(text: Option<&str>) -> String {
    text.map_or_else(|| "null".to_owned(), json_str)
}

/// One group: its winner (rendered once more only on a later page), score, explanation,
/// trust, and this page of its ranking with the count and the cursor to the rest.
fn group_json(out: &mut String, group: &stemedb::GroupResult, records: &[String]) {
    out.push_str("{\"subject\":");
    out.push_str(&json_str(&group.subject));
    out.push_str(",\"predicate\":");
    out.push_str(&json_str(&group.predicate));
    out.push_str(",\"winner\":");
    match records.first() {
        Some(first) if group.assertions_offset == 0 => out.push_str(first),
        _ => out.push_str(&group.winner.to_json_string()),
    }
    out.push_str(",\"conflict_score\":");
    out.push_str(&serde_json::Value::from(group.conflict_score).to_string());
    out.push_str(",\"explanation\":");
    out.push_str(&json_str(&group.explanation));
    if let Some(layer) = group.layer {
        out.push_str(",\"decided_by\":");
        out.push_str(&json_str(layer));
    }
    if let Some(t) = &group.winner_trust {
        out.push_str(&format!(
            ",\"trust\":{},\"trust_chain_depth\":{},\"trust_path\":{}",
            serde_json::Value::from(t.trust),
            t.depth.map_or_else(|| "null".to_owned(), |d| d.to_string()),
            serde_json::Value::from(t.path.clone())
        ));
    }
    out.push_str(&format!(
        ",\"assertions_total\":{},\"assertions_offset\":{},\"assertions_cursor\":{}",
        group.assertions_total,
        group.assertions_offset,
        optional_str(group.assertions_cursor.as_deref())
    ));
    out.push_str(",\"assertions\":[");
    out.push_str(&records.join(","));
    out.push_str("]}");
}

#[utoipa::path(get, path = "/v1/health", tag = "operations",
    responses((status = 200, description = "Liveness and counts", body = crate::openapi::HealthResponse)))]
/// Without a key only `{"status": "ok"}` (a liveness probe learns nothing else); with any
/// valid key also the version, uptime and assertion count.
pub async fn health(
    State(state): State<AppState>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
) -> Json<Value> {
    if caller.is_none_or(|c| c.0.0.is_none()) {
        return Json(json!({"status": "ok"}));
    }
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "assertion_count": state.db.assertion_count(),
    }))
}

/// A signed request body as JSON; malformed JSON is the database's `malformed-json` problem, a
/// repeated key a validation problem (rule `duplicate_key`, docs/signing.md).
pub fn parse_wire(bytes: &[u8]) -> Result<Value, ApiError> {
    parse_json_strict(bytes).map_err(|e| ApiError::Db(DbError::from(e)))
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_owned())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
