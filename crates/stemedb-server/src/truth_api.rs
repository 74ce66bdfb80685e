//! Truth-maintenance endpoints: control records (retract, vote, trust, gold standard, epoch,
//! quarantine review), administrator roles, agents, provenance, the skeptic, the quarantine
//! queue and the audit export. Control records take the same signed wire form as
//! `POST /v1/assert` and go through the same ingest path.
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use stemedb::core::control::{EPOCH, GOLD_STANDARD, RETRACTS, REVIEW, TRUSTS, VOTE};
use stemedb::core::{AssertionId, Timestamp};
use stemedb::{DbError, Ingested, Role, parse_query_time};
use stemedb_wire::{
    AgentReliability, AgentResponse, CircuitReset, ControlResponse, QuarantineItem, QuarantineList,
    RetractResponse, RoleList, RoleResponse,
};

use crate::auth::Caller;
use crate::db_work::{blocking, deadline};
use crate::json_response::json_response;
use crate::query_string::{number, param, params};
use crate::request_body::{body_bytes, parse_wire};
use crate::{ApiError, AppState};

/// Parses and ingests a control record of kind `predicate`; the answer's status follows
/// `POST /v1/assert` (201 new, 200 duplicate).
/// Parses a control record, signs it for its agent if it came unsigned from a key bound to
/// that agent (custodial signing), and ingests it.
async fn ingest_control(
    state: &AppState,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
    predicate: &'static str,
) -> Result<(Value, Ingested), ApiError> {
    ingest_fitted(state, caller, body, predicate, Ok).await
}

/// As [`ingest_control`], with `fit` applied to the parsed body first: a route that names part
/// of the record (a review's target and decision) fills it into an unsigned body and checks it
/// against a signed one.
async fn ingest_fitted(
    state: &AppState,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
    predicate: &'static str,
    fit: impl FnOnce(Value) -> Result<Value, ApiError> + Send + 'static,
) -> Result<(Value, Ingested), ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.assertion_body_bytes_max)?;
    let custody = std::sync::Arc::clone(&state.custody);
    let guard = std::sync::Arc::clone(&state.agents);
    let admin = std::sync::Arc::clone(&state.admin);
    blocking(state, move |db| {
        let wire = fit(parse_wire(&bytes)?)?;
        let agent = crate::agent_guard::agent_of(&wire, caller.0.as_ref());
        guard.guarded(agent.as_deref(), || {
            let limits = &db.config().limits;
            let caller = caller.0.as_ref();
            let wire = custody.prepare(&*admin, caller, Some(predicate), wire, db.now(), limits)?;
            let ingested = db.ingest_control(wire.clone(), predicate)?;
            Ok((wire, ingested))
        })
    })
    .await
}

fn status_of(ingested: &Ingested) -> StatusCode {
    if ingested.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

/// The answer of a control record whose effect is a count of changed assertions.
fn control_response(ingested: &Ingested, decision: Option<&str>) -> ControlResponse {
    ControlResponse {
        changed_count: ingested.changed,
        decision: decision.map(str::to_owned),
        duplicate: ingested.duplicate,
        effective: ingested.effective,
        id: ingested.id.clone(),
        sequence: ingested.sequence,
    }
}

#[utoipa::path(post, path = "/v1/retract", tag = "truth",
    request_body(content = stemedb_wire::AssertionWire, description = "A signed stemedb:retracts record"),
    responses(
        (status = 201, description = "Recorded; retracted_count says how many assertions changed", body = stemedb_wire::RetractResponse),
        (status = 422, description = "Invalid record or unknown target", body = stemedb_wire::Problem, content_type = "application/problem+json"),
    ))]
pub async fn retract(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (wire, ingested) = ingest_control(&state, caller, body, RETRACTS).await?;
    let target_is_retraction = wire
        .get("subject")
        .and_then(Value::as_str)
        .and_then(|s| AssertionId::parse_field(s, "subject").ok())
        .map(|id| state.db.get(&id))
        .transpose()?
        .flatten()
        .and_then(|r| r.to_json().get("predicate").cloned())
        == Some(json!(RETRACTS));
    let disposition = match (ingested.effective, target_is_retraction) {
        (false, _) => "dispute",
        (true, true) => "reinstatement",
        (true, false) => "retraction",
    };
    let (reinstated_count, retracted_count) = if target_is_retraction {
        (ingested.changed, 0)
    } else {
        (0, ingested.changed)
    };
    let answer = RetractResponse {
        disposition: disposition.to_owned(),
        duplicate: ingested.duplicate,
        effective: ingested.effective,
        id: ingested.id.clone(),
        reinstated_count,
        retracted_count,
        sequence: ingested.sequence,
    };
    Ok((status_of(&ingested), Json(answer)).into_response())
}

/// Shared by the control endpoints whose answer is the record's id and effect.
async fn simple_control(
    state: AppState,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
    predicate: &'static str,
) -> Result<Response, ApiError> {
    let (_, ingested) = ingest_control(&state, caller, body, predicate).await?;
    let answer = control_response(&ingested, None);
    Ok((status_of(&ingested), Json(answer)).into_response())
}

#[utoipa::path(post, path = "/v1/vote", tag = "truth",
    request_body(content = stemedb_wire::AssertionWire, description = "A signed stemedb:vote record (value 1 or -1)"),
    responses((status = 201, description = "Recorded; replaces the agent's earlier vote", body = stemedb_wire::ControlResponse),
        (status = 422, description = "Invalid record or unknown target", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn vote(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    simple_control(state, caller, body, VOTE).await
}

#[utoipa::path(post, path = "/v1/trust", tag = "truth",
    request_body(content = stemedb_wire::AssertionWire, description = "A signed stemedb:trusts record: subject agent/<trustee>, value weight in [0, 1]"),
    responses((status = 201, description = "Recorded", body = stemedb_wire::ControlResponse),
        (status = 422, description = "Invalid record", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn trust(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    simple_control(state, caller, body, TRUSTS).await
}

#[utoipa::path(post, path = "/v1/gold-standard", tag = "truth",
    request_body(content = stemedb_wire::AssertionWire, description = "A signed stemedb:gold-standard record (value true); effective from curators"),
    responses((status = 201, description = "Recorded", body = stemedb_wire::ControlResponse),
        (status = 422, description = "Invalid record or unknown target", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn gold_standard(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    simple_control(state, caller, body, GOLD_STANDARD).await
}

#[utoipa::path(post, path = "/v1/epochs", tag = "truth",
    request_body(content = stemedb_wire::AssertionWire, description = "A signed stemedb:epoch record: subject a prefix ending in /, value {before, reason}; effective from curators"),
    responses((status = 201, description = "Recorded; changed_count assertions superseded", body = stemedb_wire::ControlResponse),
        (status = 422, description = "Invalid record", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn epoch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    simple_control(state, caller, body, EPOCH).await
}

/// `{"agent_id": "…"}` and nothing else.
fn agent_id_body(bytes: &[u8]) -> Result<String, ApiError> {
    let value = stemedb::core::parse_json_strict(bytes).map_err(DbError::from)?;
    let map = value
        .as_object()
        .filter(|m| m.len() == 1)
        .ok_or_else(|| DbError::MalformedJson("the body is {\"agent_id\": \"…\"}".into()))?;
    map.get("agent_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| DbError::MalformedJson("the body is {\"agent_id\": \"…\"}".into()).into())
}

async fn grant(
    state: AppState,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
    role: Role,
    name: &'static str,
) -> Result<Response, ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.assertion_body_bytes_max)?;
    let agent_id = agent_id_body(&bytes)?;
    let agent = agent_id.clone();
    let key = std::sync::Arc::clone(&state.server_key);
    let after = blocking(&state, move |db| {
        Ok(db.grant_role(role, &agent, key.secret())?)
    })
    .await?;
    let action = format!("{name}.add");
    state
        .record_admin(
            &caller,
            &action,
            &agent_id,
            json!({"effective_after_sequence": after}),
        )
        .await?;
    let answer = RoleResponse {
        agent_id,
        effective_after_sequence: after,
        role: name.to_owned(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(post, path = "/v1/admin/curators", tag = "admin",
    request_body(content = stemedb_wire::AgentIdBody),
    responses((status = 201, description = "The agent is a curator for every later record", body = stemedb_wire::RoleResponse)))]
pub async fn add_curator(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    grant(state, caller, body, Role::Curator, "curator").await
}

#[utoipa::path(get, path = "/v1/admin/curators", tag = "admin",
    responses((status = 200, description = "Curators", body = stemedb_wire::RoleList)))]
pub async fn list_curators(State(state): State<AppState>) -> Json<RoleList> {
    Json(RoleList {
        agent_ids: state.db.agents_with_role(Role::Curator),
    })
}

#[utoipa::path(post, path = "/v1/admin/trust-roots", tag = "admin",
    request_body(content = stemedb_wire::AgentIdBody),
    responses((status = 201, description = "The agent is a root of the trust graph", body = stemedb_wire::RoleResponse)))]
pub async fn add_trust_root(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    grant(state, caller, body, Role::TrustRoot, "trust_root").await
}

#[utoipa::path(get, path = "/v1/admin/trust-roots", tag = "admin",
    responses((status = 200, description = "Trust roots", body = stemedb_wire::RoleList)))]
pub async fn list_trust_roots(State(state): State<AppState>) -> Json<RoleList> {
    Json(RoleList {
        agent_ids: state.db.agents_with_role(Role::TrustRoot),
    })
}

#[utoipa::path(get, path = "/v1/agents/{id}", tag = "truth",
    params(("id" = String, Path, description = "Agent id")),
    responses((status = 200, description = "Key, trust, chain and counts", body = stemedb_wire::AgentResponse),
        (status = 404, description = "No record signed by this agent", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn get_agent(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let agent = id.clone();
    let (info, reliability) = blocking(&state, move |db| {
        Ok((db.agent_info(&agent)?, db.agent_reliability(&agent)?))
    })
    .await?;
    let reliability = AgentReliability {
        accuracy: reliability.accuracy,
        claims: reliability.claims as u64,
        agreed: reliability.agreed as u64,
        copy_of: reliability.copy_of,
        anchored: reliability.anchored,
        table_sequence: reliability.table_sequence,
    };
    let circuit = state.agents.status(&id, std::time::Instant::now())?;
    let Some(info) = info else {
        // An agent with no record yet may still have a circuit (its writes all failed).
        if state.agents.is_tracked(&id) {
            let answer = AgentResponse {
                agent_id: id,
                circuit,
                curator: false,
                public_key: None,
                record_count: 0,
                trust: state.db.config().policy.trust.default_trust,
                trust_chain_depth: None,
                trust_path: Vec::new(),
                trust_root: false,
                reliability,
            };
            return Ok(Json(answer).into_response());
        }
        return Err(ApiError::NotFound { what: "agent", id });
    };
    let chain = info.chain.as_ref();
    let answer = AgentResponse {
        agent_id: info.agent_id,
        circuit,
        curator: info.curator,
        public_key: Some(info.public_key),
        record_count: info.record_count,
        trust: info.trust,
        trust_chain_depth: chain.map(|c| c.depth() as u64),
        trust_path: chain.map(|c| c.path.clone()).unwrap_or_default(),
        trust_root: info.trust_root,
        reliability,
    };
    Ok(Json(answer).into_response())
}

#[utoipa::path(post, path = "/v1/admin/agents/{id}/circuit/reset", tag = "admin",
    params(("id" = String, Path, description = "Agent id (percent-encode `/`)")),
    responses(
        (status = 200, description = "The circuit is closed and its failures cleared; `was_open` says whether it was open", body = stemedb_wire::CircuitReset),
    ))]
pub async fn reset_circuit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = std::time::Instant::now();
    let was_open = state.agents.reset(&id, now)?;
    state
        .record_admin(
            &caller,
            "agent.circuit_reset",
            &id,
            json!({"was_open": was_open}),
        )
        .await?;
    let circuit = state.agents.status(&id, now)?;
    Ok(Json(CircuitReset {
        agent_id: id,
        circuit,
        was_open,
    })
    .into_response())
}

/// The time bounds of a read: `as_of`, `known_at` (RFC 3339) and `at_sequence`.
fn read_at(pairs: &[(&'static str, String)]) -> Result<stemedb::ReadAt, ApiError> {
    let time = |name: &'static str| {
        param(pairs, name)
            .map(|t| parse_query_time(t, name))
            .transpose()
    };
    let at_sequence = param(pairs, "at_sequence")
        .map(|text| {
            text.parse::<u64>().map_err(|_| DbError::BadQuery {
                field: "at_sequence",
                message: "must be a log sequence (a whole number)".into(),
            })
        })
        .transpose()?;
    Ok(stemedb::ReadAt {
        as_of: time("as_of")?,
        known_at: time("known_at")?,
        at_sequence,
    })
}

fn as_of_param(pairs: &[(&'static str, String)]) -> Result<Option<Timestamp>, ApiError> {
    Ok(param(pairs, "as_of")
        .map(|t| parse_query_time(t, "as_of"))
        .transpose()?)
}

fn parse_id(id: &str) -> Result<AssertionId, ApiError> {
    AssertionId::parse_field(id, "id").map_err(|e| {
        DbError::BadQuery {
            field: "id",
            message: e.message,
        }
        .into()
    })
}

#[utoipa::path(get, path = "/v1/assertions/{id}/provenance", tag = "truth",
    params(("id" = String, Path, description = "Assertion id"), ("as_of" = Option<String>, Query, description = "Valid time")),
    responses((status = 200, description = "The provenance tree; every node has signature_valid", body = stemedb_wire::ProvenanceNode<stemedb_wire::Record>),
        (status = 404, description = "Unknown id", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn provenance(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let parsed = parse_id(&id)?;
    let pairs = params(raw.as_deref(), &["as_of"])?;
    let as_of = as_of_param(&pairs)?;
    let deadline = deadline(&state);
    let tree = blocking(&state, move |db| {
        let bound = db.read_bound(None, None, as_of)?;
        Ok(db.provenance(&parsed, bound, Some(deadline))?)
    })
    .await?
    .ok_or(ApiError::NotFound {
        what: "assertion with id",
        id,
    })?;
    Ok(Json(tree).into_response())
}

#[utoipa::path(get, path = "/v1/skeptic", tag = "truth",
    params(("subject" = String, Query), ("predicate" = String, Query),
        ("as_of" = Option<String>, Query, description = "Valid time"),
        ("known_at" = Option<String>, Query, description = "Transaction time"),
        ("at_sequence" = Option<u64>, Query, description = "Log position")),
    responses((status = 200, description = "Conflict score, value clusters, outliers, disputed", body = stemedb_wire::SkepticResponse),
        (status = 404, description = "No active assertions in the group", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn skeptic(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params(
        raw.as_deref(),
        &["subject", "predicate", "as_of", "known_at", "at_sequence"],
    )?;
    let at = read_at(&pairs)?;
    let required = |name: &'static str| {
        param(&pairs, name)
            .map(str::to_owned)
            .ok_or(ApiError::Db(DbError::BadQuery {
                field: name,
                message: "is required".into(),
            }))
    };
    let (subject, predicate) = (required("subject")?, required("predicate")?);
    let id = format!("{subject} {predicate}");
    let deadline = deadline(&state);
    let report = blocking(&state, move |db| {
        Ok(db.skeptic_until(&subject, &predicate, at, Some(deadline))?)
    })
    .await?
    .ok_or(ApiError::NotFound {
        what: "active assertions for",
        id,
    })?;
    Ok(Json(report).into_response())
}

#[utoipa::path(get, path = "/v1/quarantine", tag = "truth",
    params(("after" = Option<u64>, Query, description = "Sequence to continue after"), ("limit" = Option<u64>, Query, description = "At most 1,000 (default 100)")),
    responses((status = 200, description = "Quarantined records, oldest first", body = stemedb_wire::QuarantineList<stemedb_wire::Record>)))]
pub async fn quarantine_list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params(raw.as_deref(), &["after", "limit"])?;
    let after = number(&pairs, "after", 0)?;
    let limit = number(&pairs, "limit", 100)?;
    if limit == 0 || limit > 1000 {
        return Err(DbError::BadQuery {
            field: "limit",
            message: "must be 1 to 1000".into(),
        }
        .into());
    }
    let held = blocking(&state, move |db| Ok(db.quarantined(after, limit as usize)?)).await?;
    let items = held
        .iter()
        .map(|q| {
            Ok(QuarantineItem {
                record: q.record.to_raw_json()?,
                rule: q.rule.as_str().to_owned(),
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let next_after = (held.len() as u64 == limit)
        .then(|| held.last().map(|q| q.record.sequence))
        .flatten();
    let records_bytes: usize = items.iter().map(|i| i.record.get().len()).sum();
    let answer = QuarantineList { items, next_after };
    json_response(
        StatusCode::OK,
        &answer,
        records_bytes + 64 * answer.items.len() + 64,
    )
}

async fn review(
    state: AppState,
    caller: Caller,
    id: String,
    body: Result<Bytes, BytesRejection>,
    decision: &'static str,
) -> Result<Response, ApiError> {
    let route_id = id.clone();
    let fit = move |wire: Value| fit_review(wire, &route_id, decision);
    let (_, ingested) = ingest_fitted(&state, caller.clone(), body, REVIEW, fit).await?;
    let action = format!("quarantine.{decision}");
    state
        .record_admin(
            &caller,
            &action,
            &id,
            json!({"review": ingested.id, "effective": ingested.effective}),
        )
        .await?;
    let answer = control_response(&ingested, Some(decision));
    Ok((status_of(&ingested), Json(answer)).into_response())
}

/// A review names its target and decision in the route as well as in the record. An unsigned
/// body (custodial signing) gets both from the route; a signed one must agree with it.
fn fit_review(wire: Value, id: &str, decision: &str) -> Result<Value, ApiError> {
    let mut wire = wire;
    if let Value::Object(body) = &mut wire
        && !body.contains_key("signature")
        && !body.contains_key("public_key")
    {
        body.entry("subject").or_insert_with(|| json!(id));
        if let Value::Object(value) = body.entry("value").or_insert_with(|| json!({})) {
            value.entry("decision").or_insert_with(|| json!(decision));
        }
    }
    let mismatch = |field: &str, message: String| {
        ApiError::Db(DbError::Invalid(stemedb::core::ValidationError::new(
            field,
            "review_matches_route",
            message,
        )))
    };
    if wire.get("subject").and_then(Value::as_str) != Some(id) {
        return Err(mismatch(
            "subject",
            format!("must be the id in the route, {id}"),
        ));
    }
    if wire.pointer("/value/decision").and_then(Value::as_str) != Some(decision) {
        return Err(mismatch(
            "value.decision",
            format!("must be {decision:?} on this route"),
        ));
    }
    Ok(wire)
}

#[utoipa::path(post, path = "/v1/quarantine/{id}/approve", tag = "truth",
    params(("id" = String, Path, description = "The quarantined assertion")),
    request_body(content = stemedb_wire::AssertionWire, description = "A curator's signed stemedb:review record, decision approve"),
    responses((status = 201, description = "Recorded; changed_count 1 when it left quarantine", body = stemedb_wire::ControlResponse),
        (status = 422, description = "Invalid record", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn quarantine_approve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    review(state, caller, id, body, "approve").await
}

#[utoipa::path(post, path = "/v1/quarantine/{id}/reject", tag = "truth",
    params(("id" = String, Path, description = "The quarantined assertion")),
    request_body(content = stemedb_wire::AssertionWire, description = "A curator's signed stemedb:review record, decision reject"),
    responses((status = 201, description = "Recorded; the record stays stored as rejected", body = stemedb_wire::ControlResponse),
        (status = 422, description = "Invalid record", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn quarantine_reject(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    review(state, caller, id, body, "reject").await
}

#[utoipa::path(get, path = "/v1/audit/export", tag = "truth",
    params(("subject" = String, Query, description = "Exact subject or prefix ending in /*"), ("as_of" = Option<String>, Query, description = "Valid time")),
    responses((status = 200, description = "JSON Lines (stemedb-audit/1), verifiable offline with `stemedb verify`", content_type = "application/x-ndjson")))]
pub async fn audit_export(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params(raw.as_deref(), &["subject", "as_of"])?;
    let subject = param(&pairs, "subject")
        .map(str::to_owned)
        .ok_or(ApiError::Db(DbError::BadQuery {
            field: "subject",
            message: "is required".into(),
        }))?;
    let as_of = as_of_param(&pairs)?;
    let deadline = deadline(&state);
    let (bytes, _) = blocking(&state, move |db| {
        Ok(db.audit_export_until(&subject, as_of, Some(deadline))?)
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        bytes,
    )
        .into_response())
}
