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
use serde_json::{Map, Value, json};
use stemedb::core::control::{EPOCH, GOLD_STANDARD, RETRACTS, REVIEW, TRUSTS, VOTE};
use stemedb::core::{AssertionId, Timestamp};
use stemedb::{DbError, Ingested, Role, parse_query_time};

use crate::api::{blocking, body_bytes};
use crate::auth::Caller;
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
    blocking(state, move |db| {
        let wire = fit(crate::api::parse_wire(&bytes)?)?;
        let agent = crate::agent_guard::agent_of(&wire, caller.0.as_ref());
        guard.guarded(agent.as_deref(), || {
            let limits = &db.config().limits;
            let wire =
                custody.prepare(caller.0.as_ref(), Some(predicate), wire, db.now(), limits)?;
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

fn base_json(ingested: &Ingested) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(ingested.id));
    out.insert("sequence".into(), json!(ingested.sequence));
    if ingested.duplicate {
        out.insert("duplicate".into(), json!(true));
    }
    out.insert("effective".into(), json!(ingested.effective));
    out
}

#[utoipa::path(post, path = "/v1/retract", tag = "truth",
    request_body(content = crate::openapi::AssertionWire, description = "A signed stemedb:retracts record"),
    responses(
        (status = 201, description = "Recorded; retracted_count says how many assertions changed", body = crate::openapi::RetractResponse),
        (status = 422, description = "Invalid record or unknown target", body = crate::openapi::Problem, content_type = "application/problem+json"),
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
    let mut out = base_json(&ingested);
    let disposition = match (ingested.effective, target_is_retraction) {
        (false, _) => "dispute",
        (true, true) => "reinstatement",
        (true, false) => "retraction",
    };
    out.insert("disposition".into(), json!(disposition));
    let (counted, other) = if target_is_retraction {
        ("reinstated_count", "retracted_count")
    } else {
        ("retracted_count", "reinstated_count")
    };
    out.insert(counted.into(), json!(ingested.changed));
    out.insert(other.into(), json!(0));
    Ok((status_of(&ingested), Json(Value::Object(out))).into_response())
}

/// Shared by the control endpoints whose answer is the record's id and effect.
async fn simple_control(
    state: AppState,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
    predicate: &'static str,
) -> Result<Response, ApiError> {
    let (_, ingested) = ingest_control(&state, caller, body, predicate).await?;
    let mut out = base_json(&ingested);
    out.insert("changed_count".into(), json!(ingested.changed));
    Ok((status_of(&ingested), Json(Value::Object(out))).into_response())
}

#[utoipa::path(post, path = "/v1/vote", tag = "truth",
    request_body(content = crate::openapi::AssertionWire, description = "A signed stemedb:vote record (value 1 or -1)"),
    responses((status = 201, description = "Recorded; replaces the agent's earlier vote", body = crate::openapi::ControlResponse),
        (status = 422, description = "Invalid record or unknown target", body = crate::openapi::Problem, content_type = "application/problem+json")))]
pub async fn vote(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    simple_control(state, caller, body, VOTE).await
}

#[utoipa::path(post, path = "/v1/trust", tag = "truth",
    request_body(content = crate::openapi::AssertionWire, description = "A signed stemedb:trusts record: subject agent/<trustee>, value weight in [0, 1]"),
    responses((status = 201, description = "Recorded", body = crate::openapi::ControlResponse),
        (status = 422, description = "Invalid record", body = crate::openapi::Problem, content_type = "application/problem+json")))]
pub async fn trust(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    simple_control(state, caller, body, TRUSTS).await
}

#[utoipa::path(post, path = "/v1/gold-standard", tag = "truth",
    request_body(content = crate::openapi::AssertionWire, description = "A signed stemedb:gold-standard record (value true); effective from curators"),
    responses((status = 201, description = "Recorded", body = crate::openapi::ControlResponse),
        (status = 422, description = "Invalid record or unknown target", body = crate::openapi::Problem, content_type = "application/problem+json")))]
pub async fn gold_standard(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    simple_control(state, caller, body, GOLD_STANDARD).await
}

#[utoipa::path(post, path = "/v1/epochs", tag = "truth",
    request_body(content = crate::openapi::AssertionWire, description = "A signed stemedb:epoch record: subject a prefix ending in /, value {before, reason}; effective from curators"),
    responses((status = 201, description = "Recorded; changed_count assertions superseded", body = crate::openapi::ControlResponse),
        (status = 422, description = "Invalid record", body = crate::openapi::Problem, content_type = "application/problem+json")))]
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
    let body = json!({"agent_id": agent_id, "role": name, "effective_after_sequence": after});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(post, path = "/v1/admin/curators", tag = "admin",
    request_body(content = crate::openapi::AgentIdBody),
    responses((status = 201, description = "The agent is a curator for every later record", body = crate::openapi::RoleResponse)))]
pub async fn add_curator(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    grant(state, caller, body, Role::Curator, "curator").await
}

#[utoipa::path(get, path = "/v1/admin/curators", tag = "admin",
    responses((status = 200, description = "Curators", body = crate::openapi::RoleList)))]
pub async fn list_curators(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"agent_ids": state.db.agents_with_role(Role::Curator)}))
}

#[utoipa::path(post, path = "/v1/admin/trust-roots", tag = "admin",
    request_body(content = crate::openapi::AgentIdBody),
    responses((status = 201, description = "The agent is a root of the trust graph", body = crate::openapi::RoleResponse)))]
pub async fn add_trust_root(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    grant(state, caller, body, Role::TrustRoot, "trust_root").await
}

#[utoipa::path(get, path = "/v1/admin/trust-roots", tag = "admin",
    responses((status = 200, description = "Trust roots", body = crate::openapi::RoleList)))]
pub async fn list_trust_roots(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"agent_ids": state.db.agents_with_role(Role::TrustRoot)}))
}

#[utoipa::path(get, path = "/v1/agents/{id}", tag = "truth",
    params(("id" = String, Path, description = "Agent id")),
    responses((status = 200, description = "Key, trust, chain and counts", body = crate::openapi::AgentResponse),
        (status = 404, description = "No record signed by this agent", body = crate::openapi::Problem, content_type = "application/problem+json")))]
pub async fn get_agent(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let agent = id.clone();
    let info = blocking(&state, move |db| Ok(db.agent_info(&agent)?)).await?;
    let circuit = state.agents.status(&id, std::time::Instant::now())?;
    let Some(info) = info else {
        // An agent with no record yet may still have a circuit (its writes all failed).
        if state.agents.is_tracked(&id) {
            let trust = state.db.config().policy.trust.default_trust;
            let body = json!({
                "agent_id": id, "public_key": null, "trust": trust, "trust_chain_depth": null,
                "trust_path": [], "record_count": 0, "curator": false, "trust_root": false,
                "circuit": circuit,
            });
            return Ok(Json(body).into_response());
        }
        return Err(ApiError::NotFound { what: "agent", id });
    };
    let chain = info.chain.as_ref();
    let body = json!({
        "agent_id": info.agent_id,
        "public_key": info.public_key,
        "trust": info.trust,
        "trust_chain_depth": chain.map(|c| c.depth()),
        "trust_path": chain.map(|c| c.path.clone()).unwrap_or_default(),
        "record_count": info.record_count,
        "curator": info.curator,
        "trust_root": info.trust_root,
        "circuit": circuit,
    });
    Ok(Json(body).into_response())
}

#[utoipa::path(post, path = "/v1/admin/agents/{id}/circuit/reset", tag = "admin",
    params(("id" = String, Path, description = "Agent id (percent-encode `/`)")),
    responses(
        (status = 200, description = "The circuit is closed and its failures cleared; `was_open` says whether it was open", body = crate::openapi::CircuitReset),
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
    Ok(Json(json!({"agent_id": id, "was_open": was_open, "circuit": circuit})).into_response())
}

/// `as_of` (and nothing else) from a query string.
pub(crate) fn params(
    raw: Option<&str>,
    allowed: &[&'static str],
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| DbError::BadQuery {
            field: "query",
            message: format!("unreadable query string: {e}"),
        })?;
    pairs
        .into_iter()
        .map(|(k, v)| {
            allowed
                .iter()
                .find(|a| **a == k)
                .map(|a| (*a, v))
                .ok_or_else(|| {
                    DbError::BadQuery {
                        field: "query",
                        message: format!(
                            "unknown parameter {k:?}; expected {}",
                            allowed.join(", ")
                        ),
                    }
                    .into()
                })
        })
        .collect()
}

pub(crate) fn param<'a>(pairs: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
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
    responses((status = 200, description = "The provenance tree; every node has signature_valid", body = crate::openapi::ProvenanceNode),
        (status = 404, description = "Unknown id", body = crate::openapi::Problem, content_type = "application/problem+json")))]
pub async fn provenance(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let parsed = parse_id(&id)?;
    let pairs = params(raw.as_deref(), &["as_of"])?;
    let as_of = as_of_param(&pairs)?;
    let tree = blocking(&state, move |db| {
        let bound = db.read_bound(None, None, as_of)?;
        Ok(db.provenance(&parsed, bound)?)
    })
    .await?
    .ok_or(ApiError::NotFound {
        what: "assertion with id",
        id,
    })?;
    Ok(Json(tree).into_response())
}

#[utoipa::path(get, path = "/v1/skeptic", tag = "truth",
    params(("subject" = String, Query), ("predicate" = String, Query)),
    responses((status = 200, description = "Conflict score, value clusters, outliers, disputed", body = crate::openapi::SkepticResponse),
        (status = 404, description = "No active assertions in the group", body = crate::openapi::Problem, content_type = "application/problem+json")))]
pub async fn skeptic(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params(raw.as_deref(), &["subject", "predicate"])?;
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
    let deadline = crate::api::deadline(&state);
    let report = blocking(&state, move |db| {
        Ok(db.skeptic_until(&subject, &predicate, Some(deadline))?)
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
    responses((status = 200, description = "Quarantined records, oldest first", body = crate::openapi::QuarantineList)))]
pub async fn quarantine_list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params(raw.as_deref(), &["after", "limit"])?;
    let number = |name: &'static str, default: u64| -> Result<u64, ApiError> {
        param(&pairs, name).map_or(Ok(default), |t| {
            t.parse::<u64>().map_err(|_| {
                ApiError::Db(DbError::BadQuery {
                    field: name,
                    message: format!("must be a non-negative integer; got {t:?}"),
                })
            })
        })
    };
    let after = number("after", 0)?;
    let limit = number("limit", 100)?;
    if limit == 0 || limit > 1000 {
        return Err(DbError::BadQuery {
            field: "limit",
            message: "must be 1 to 1000".into(),
        }
        .into());
    }
    let held = blocking(&state, move |db| Ok(db.quarantined(after, limit as usize)?)).await?;
    let items: Vec<Value> = held
        .iter()
        .map(|q| json!({"rule": q.rule.as_str(), "record": q.record.to_json()}))
        .collect();
    let next_after = (held.len() as u64 == limit)
        .then(|| held.last().map(|q| q.record.sequence))
        .flatten();
    Ok(Json(json!({"items": items, "next_after": next_after})).into_response())
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
    let mut out = base_json(&ingested);
    out.insert("decision".into(), json!(decision));
    out.insert("changed_count".into(), json!(ingested.changed));
    Ok((status_of(&ingested), Json(Value::Object(out))).into_response())
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
    request_body(content = crate::openapi::AssertionWire, description = "A curator's signed stemedb:review record, decision approve"),
    responses((status = 201, description = "Recorded; changed_count 1 when it left quarantine", body = crate::openapi::ControlResponse),
        (status = 422, description = "Invalid record", body = crate::openapi::Problem, content_type = "application/problem+json")))]
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
    request_body(content = crate::openapi::AssertionWire, description = "A curator's signed stemedb:review record, decision reject"),
    responses((status = 201, description = "Recorded; the record stays stored as rejected", body = crate::openapi::ControlResponse),
        (status = 422, description = "Invalid record", body = crate::openapi::Problem, content_type = "application/problem+json")))]
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
    let deadline = crate::api::deadline(&state);
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
