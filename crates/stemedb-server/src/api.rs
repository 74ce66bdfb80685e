//! Request handlers. Each one parses, hands the work to `Db` on a blocking thread, and shapes
//! the JSON answer; errors go back as `ApiError` and become problems in `problem.rs`.
use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use stemedb::core::{AssertionId, parse_json_strict};
use stemedb::{Db, DbError, Ingested, Query, QueryResult};
use stemedb_wire::{
    AssertResponse, BatchItem, BatchResponse, Group, HealthResponse, Problem, QueryResponse, Votes,
};

use crate::agent_guard::{AgentGuard, agent_of, counts_as_failure};
use crate::auth::Caller;
use crate::db_work::{blocking, deadline};
use crate::json_response::{RenderedJson, bytes_response, json_bytes, json_response};
use crate::problem::problem_of;
use crate::request_body::{body_bytes, parse_wire};
use crate::{ApiError, AppState, query_params};

fn assert_response(ingested: &Ingested) -> AssertResponse {
    AssertResponse {
        id: ingested.id.clone(),
        sequence: ingested.sequence,
        duplicate: ingested.duplicate,
    }
}

#[utoipa::path(post, path = "/v1/assert", tag = "assertions",
    request_body(content = stemedb_wire::AssertionWire, description = "A signed assertion (docs/signing.md)"),
    responses(
        (status = 201, description = "Stored durably", body = stemedb_wire::AssertResponse),
        (status = 200, description = "Already stored (same id)", body = stemedb_wire::AssertResponse),
        (status = 400, description = "Malformed JSON", body = stemedb_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Agent bound to another key", body = stemedb_wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = stemedb_wire::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field or signature", body = stemedb_wire::Problem, content_type = "application/problem+json"),
    ))]
pub async fn assert_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.assertion_body_bytes_max)?;
    // The write runs to its end as a task of its own even when the client goes away or the
    // request times out, as it did on a blocking thread: its failure is still counted against
    // its agent, and an acknowledged-or-not record is never left half-decided.
    let ingested = tokio::spawn(write_one(state, caller, bytes))
        .await
        .map_err(|e| ApiError::Internal(format!("a single write stopped: {e}")))??;
    let status = if ingested.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(assert_response(&ingested))).into_response())
}

/// Bodies larger than this are parsed on a blocking thread (the route allows up to
/// `assertion_body_bytes_max`; parsing a large one would hold an async worker for
/// milliseconds). Ordinary assertions are well under 2 KiB.
const INLINE_BODY_BYTES_MAX: usize = 16 * 1024;

/// One single write, through the agent guard: refused while its agent's circuit is open or
/// its quota spent; a failure of the write itself is counted against it.
async fn write_one(state: AppState, caller: Caller, bytes: Bytes) -> Result<Ingested, ApiError> {
    if bytes.len() > INLINE_BODY_BYTES_MAX {
        let (custody, guard, admin) = (
            Arc::clone(&state.custody),
            Arc::clone(&state.agents),
            Arc::clone(&state.admin),
        );
        return blocking(&state, move |db| {
            let wire = parse_wire(&bytes)?;
            let agent = agent_of(&wire, caller.0.as_ref());
            guard.guarded(agent.as_deref(), || {
                prepare_and_ingest(db, &custody, &*admin, &caller, wire)
            })
        })
        .await;
    }
    let wire = parse_wire(&bytes)?;
    let agent = agent_of(&wire, caller.0.as_ref());
    state.agents.admit_one(agent.as_deref())?;
    let result = ingest_admitted(&state, caller, wire).await;
    state.agents.settle(agent.as_deref(), &result);
    result
}

/// Ingests one admitted write. A signed data assertion on a single node is validated on this
/// thread, its signature checked in a batch with concurrent writes' (`verify_batch.rs`), and
/// its durable answer awaited, with no thread blocked while the writer commits
/// (docs/benchmarks.md: the hand-offs and the single checks were most of a single write's cost
/// beyond a batch's). The rest go to a blocking thread: a custodial body (the server may make
/// and store the agent's key), a control record (its target is looked up in the store, which
/// waits out an engine reopen), and any body in cluster mode (the replicated log answers
/// synchronously).
async fn ingest_admitted(
    state: &AppState,
    caller: Caller,
    wire: Value,
) -> Result<Ingested, ApiError> {
    let control = wire
        .get("predicate")
        .and_then(Value::as_str)
        .is_some_and(|p| p.starts_with(stemedb::core::control::RESERVED_PREFIX));
    if wire.get("signature").is_some() && !control && !state.db.is_replicated() {
        let prepared = state.db.prepare_one(wire)?;
        let verified = state.verifier.verify(&state.db, prepared).await?;
        return Ok(state.db.begin_ingest_verified(verified).await?);
    }
    let (custody, admin) = (Arc::clone(&state.custody), Arc::clone(&state.admin));
    blocking(state, move |db| {
        prepare_and_ingest(db, &custody, &*admin, &caller, wire)
    })
    .await
}

/// Custodial signing where the body asks for it (`custody.rs`), then the whole ingest of one
/// assertion; blocks.
fn prepare_and_ingest(
    db: &Db,
    custody: &crate::custody::Custodian,
    admin: &dyn crate::custody::CustodialCommit,
    caller: &Caller,
    wire: Value,
) -> Result<Ingested, ApiError> {
    let limits = &db.config().limits;
    let wire = custody.prepare(admin, caller.0.as_ref(), None, wire, db.now(), limits)?;
    db.ingest_one(wire).map_err(ApiError::from)
}

#[utoipa::path(post, path = "/v1/assert/batch", tag = "assertions",
    request_body(content = stemedb_wire::BatchRequest),
    responses(
        (status = 200, description = "One result per item; stored items are durable", body = stemedb_wire::BatchResponse),
        (status = 400, description = "Malformed JSON", body = stemedb_wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too many items or too many bytes", body = stemedb_wire::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A key repeated in one object (rule duplicate_key)", body = stemedb_wire::Problem, content_type = "application/problem+json"),
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
    let mut answer = BatchResponse {
        accepted: 0,
        duplicates: 0,
        rejected: 0,
        results: Vec::with_capacity(results.len()),
    };
    for (index, result) in (0u64..).zip(results) {
        let item = match result {
            Ok(ingested) => {
                if ingested.duplicate {
                    answer.duplicates += 1;
                } else {
                    answer.accepted += 1;
                }
                BatchItem {
                    duplicate: ingested.duplicate,
                    error: None,
                    id: Some(ingested.id.clone()),
                    index,
                    sequence: Some(ingested.sequence),
                    status: if ingested.duplicate { 200 } else { 201 },
                }
            }
            Err(problem) => {
                answer.rejected += 1;
                BatchItem {
                    duplicate: false,
                    id: None,
                    index,
                    sequence: None,
                    status: problem.status,
                    error: Some(problem),
                }
            }
        };
        answer.results.push(item);
    }
    // About 100 bytes per item.
    json_response(StatusCode::OK, &answer, 64 + 100 * answer.results.len())
}

/// Ingests a batch through the agent guard: items of an agent whose circuit is open or whose
/// quota cannot take all its items in this batch are refused (each with the problem); the rest
/// are ingested together; items that fail validation count against their agent.
fn guarded_batch(
    db: &Db,
    guard: &AgentGuard,
    items: Vec<Value>,
) -> Result<Vec<Result<Ingested, Problem>>, ApiError> {
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
    let refused: HashMap<&str, Problem> = per_agent
        .into_iter()
        .filter_map(|(agent, n)| {
            let error = guard.admit(agent, n, now).err()?;
            Some((agent, problem_of(&error)))
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
            problem_of(&error)
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
        (status = 200, description = "The record", body = stemedb_wire::Record),
        (status = 400, description = "Not an id", body = stemedb_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown id", body = stemedb_wire::Problem, content_type = "application/problem+json"),
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
    let votes = Votes {
        up: votes.up,
        down: votes.down,
    };
    // Votes are live state, not part of the signed record: the record's text as served
    // everywhere else, with `votes` (`stemedb_wire::Record::votes`) spliced in as its last field.
    let mut text = record.to_json_string();
    text.pop();
    text.push_str(",\"votes\":");
    text.push_str(&serde_json::to_string(&votes).map_err(|e| ApiError::Internal(e.to_string()))?);
    text.push('}');
    Ok(json_text(text))
}

#[utoipa::path(get, path = "/v1/query", tag = "query",
    params(stemedb_wire::QueryParams),
    responses(
        (status = 200, description = "Groups ranked by the lens", body = stemedb_wire::QueryResponse<stemedb_wire::Record>),
        (status = 400, description = "Invalid query", body = stemedb_wire::Problem, content_type = "application/problem+json"),
    ))]
pub async fn query_get(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    query_string(&state, raw.as_deref()).await
}

/// `GET /v1/query`'s answer to its query string (the handler's, and `direct.rs`'s).
pub(crate) async fn query_string(
    state: &AppState,
    raw: Option<&str>,
) -> Result<Response, ApiError> {
    let query = query_params::from_query_string(raw)?;
    run_query(state, query).await
}

#[utoipa::path(post, path = "/v1/query", tag = "query",
    request_body(content = stemedb_wire::QueryParams),
    responses(
        (status = 200, description = "Groups ranked by the lens", body = stemedb_wire::QueryResponse<stemedb_wire::Record>),
        (status = 400, description = "Invalid query", body = stemedb_wire::Problem, content_type = "application/problem+json"),
    ))]
pub async fn query_post(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.assertion_body_bytes_max)?;
    let query = query_params::from_json_body(&bytes)?;
    run_query(&state, query).await
}

/// How often a read with `min_sequence` looks again whether the node has applied it.
const APPLIED_POLL_MS: u64 = 2;

/// Waits, at most `min_sequence_wait_ms`, until this node has applied `min_sequence` (the query
/// then refuses it by name if it still has not). Polls: one node applies within a group
/// commit; a cluster's applier will wake these reads instead.
async fn wait_applied(state: &AppState, min_sequence: u64) {
    let until = std::time::Instant::now()
        + std::time::Duration::from_millis(state.config.min_sequence_wait_ms);
    while state.db.last_sequence() < min_sequence && std::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(APPLIED_POLL_MS)).await;
    }
}

/// Most records an exact query may hold to be answered on the async worker.
const INLINE_RECORDS_MAX: usize = 256;

async fn run_query(state: &AppState, mut query: Query) -> Result<Response, ApiError> {
    query.deadline = Some(deadline(state));
    if let Some(min_sequence) = query.min_sequence {
        wait_applied(state, min_sequence).await;
    }
    // The common exact (subject, predicate) query over a small group is short, mostly cached
    // work: answer it inline and skip two thread hand-offs, which cost more than the query
    // (measured: about a quarter of query throughput). A group may hold any number of
    // assertions, though, so a large one (found by a key-only scan), a prefix scan, or a wait
    // for a read slot goes to the blocking pool, bounded by the request's deadline: past it
    // the work stops (`DbError::DeadlineExceeded`) instead of running on after the 503.
    let render = if query.winner_only {
        winners_body
    } else {
        query_body
    };
    if query.predicate.is_some()
        && !query.subject.ends_with('*')
        && let Some(body) = state
            .db
            .query_if_small(&query, INLINE_RECORDS_MAX, render)?
    {
        return Ok(bytes_response(StatusCode::OK, body));
    }
    let result = blocking(state, move |db| db.query(&query).map_err(ApiError::from)).await?;
    Ok(bytes_response(StatusCode::OK, render(&result)?))
}

/// A response whose body is JSON text built here (a record as stored, with live fields).
fn json_text(body: String) -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The query answer's body. Each record is rendered once and that text is reused for
/// `winner`, the group's list and the top-level list (queries are the hot read path).
fn query_body(result: &QueryResult) -> Result<Bytes, ApiError> {
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
    // A winner is rendered once more only when it is not on this page (a later page).
    let winners: Vec<Option<String>> = result
        .groups
        .iter()
        .map(|g| (g.assertions_offset != 0).then(|| g.winner.to_json_string()))
        .collect();
    let mut groups = Vec::with_capacity(result.groups.len());
    for ((group, records), winner) in result.groups.iter().zip(&rendered).zip(&winners) {
        let winner = match (winner, records.first()) {
            (Some(winner), _) | (None, Some(winner)) => RenderedJson(winner),
            (None, None) => return Err(ApiError::Internal("a group without assertions".into())),
        };
        groups.push(group_of(group, winner, records));
    }
    let answer = QueryResponse {
        lens: result.lens.as_str().to_owned(),
        groups,
        assertions: rendered.iter().flatten().map(|r| RenderedJson(r)).collect(),
        next_cursor: result.next_cursor.clone(),
    };
    let records_bytes: usize = rendered.iter().flatten().map(String::len).sum();
    let capacity = records_bytes * 2 + 512 * rendered.len() + 64;
    Ok(json_bytes(&answer, capacity)?.into())
}

/// `winner_only`: each group with its winner (the first page's one record) and empty lists.
/// A kept answer is kept as this body (`stemedb`'s `answers.rs`), so it is sent again as it is.
fn winners_body(result: &QueryResult) -> Result<Bytes, ApiError> {
    let rendered: Vec<String> = result
        .groups
        .iter()
        .map(|g| {
            g.assertions
                .first()
                .map(stemedb::RecordView::to_json_string)
        })
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::Internal("a group without assertions".into()))?;
    let groups = result
        .groups
        .iter()
        .zip(&rendered)
        .map(|(group, winner)| group_of(group, RenderedJson(winner), &[]))
        .collect();
    let answer = QueryResponse {
        lens: result.lens.as_str().to_owned(),
        groups,
        assertions: Vec::new(),
        next_cursor: result.next_cursor.clone(),
    };
    let records_bytes: usize = rendered.iter().map(String::len).sum();
    let text = json_bytes(&answer, records_bytes + 1024 * rendered.len() + 64)?;
    // A kept body is kept as long as its answer is, so it is copied to a block of its size:
    // the allocator shrinks a block in place only below half its size, and the buffer's spare
    // capacity held about 0.8 KB more per kept answer (docs/benchmarks.md, "Twenty-eighth
    // session").
    Ok(Bytes::copy_from_slice(&text))
}

/// One group: its winner, score, explanation, trust, and this page of its ranking with the
/// count and the cursor to the rest.
fn group_of<'r>(
    group: &stemedb::GroupResult,
    winner: RenderedJson<'r>,
    records: &'r [String],
) -> Group<RenderedJson<'r>> {
    Group {
        subject: group.subject.clone(),
        predicate: group.predicate.clone(),
        winner,
        conflict_score: group.conflict_score,
        explanation: group.explanation.clone(),
        decided_by: group.layer.map(str::to_owned),
        trust: group.winner_trust.as_ref().map(|t| t.trust),
        trust_chain_depth: group
            .winner_trust
            .as_ref()
            .map(|t| t.depth.map(|d| d as u64)),
        trust_path: group.winner_trust.as_ref().map(|t| t.path.clone()),
        assertions_total: group.assertions_total as u64,
        assertions_offset: group.assertions_offset as u64,
        assertions_cursor: group.assertions_cursor.clone(),
        assertions: records.iter().map(|r| RenderedJson(r)).collect(),
    }
}

#[utoipa::path(get, path = "/v1/health", tag = "operations",
    responses((status = 200, description = "Liveness and counts", body = stemedb_wire::HealthResponse)))]
/// Without a key only `{"status": "ok"}` (a liveness probe learns nothing else); with any
/// valid key also the version, uptime and assertion count.
pub async fn health(
    State(state): State<AppState>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
) -> Json<HealthResponse> {
    let status = "ok".to_owned();
    if caller.is_none_or(|c| c.0.0.is_none()) {
        return Json(HealthResponse {
            assertion_count: None,
            status,
            uptime_seconds: None,
            version: None,
        });
    }
    Json(HealthResponse {
        assertion_count: Some(state.db.assertion_count()),
        status,
        uptime_seconds: Some(state.started.elapsed().as_secs()),
        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
    })
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_owned())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
