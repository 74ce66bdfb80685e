//! Admin routes for API keys (`/v1/api-keys…`) and the admin audit log (`/v1/admin/audit`).
//! A key's secret appears only in the reply that creates or rotates it.
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use stemedb::core::Timestamp;
use stemedb_wire::{
    AdminAuditPage, ApiKey, ApiKeyCreate, ApiKeyList, ApiKeyPatch, ApiKeyWithSecret,
};

use crate::admin_state::Audited;
use crate::auth::{Caller, KeyChange, KeyRecord, NewKey, Role};
use crate::query_string::{bounded, number, params};
use crate::request_body::{body_bytes, parse_typed};
use crate::{ApiError, AppState};

/// Longest key name.
const NAME_CHARS_MAX: usize = 100;
/// Most agents one key may sign for.
const AGENT_IDS_MAX: usize = 1_000;

/// A key as the API shows it: no secret, no hashes.
fn api_key(key: &KeyRecord) -> ApiKey {
    ApiKey {
        agent_ids: key.agent_ids.clone(),
        created_at: key.created_at.to_rfc3339(),
        expires_at: key.expires_at.map(Timestamp::to_rfc3339),
        id: key.id.clone(),
        name: key.name.clone(),
        rate_limit_per_sec: key.rate_limit_per_sec,
        revoked_at: key.revoked_at.map(Timestamp::to_rfc3339),
        role: key.role.name().to_owned(),
        secrets_valid: key.secrets.len() as u64,
    }
}

fn parse_time(text: &str, field: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_field(text, field).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn parse_role(text: &str) -> Result<Role, ApiError> {
    Role::parse(text).ok_or_else(|| {
        ApiError::BadRequest(format!("role must be read, write or admin; got {text:?}"))
    })
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.chars().count() > NAME_CHARS_MAX
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::BadRequest(format!(
            "name must be 1 to {NAME_CHARS_MAX} characters without control characters"
        )));
    }
    Ok(())
}

fn check_agents(agents: &[String]) -> Result<(), ApiError> {
    if agents.len() > AGENT_IDS_MAX || agents.iter().any(|a| a.is_empty() || a.len() > 256) {
        return Err(ApiError::BadRequest(format!(
            "agent_ids: at most {AGENT_IDS_MAX} ids of 1 to 256 bytes"
        )));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/api-keys", tag = "admin",
    request_body(content = stemedb_wire::ApiKeyCreate),
    responses((status = 201, description = "Created; `key` is the secret, shown only here", body = stemedb_wire::ApiKeyWithSecret),
        (status = 400, description = "Bad body", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.assertion_body_bytes_max)?;
    let body: ApiKeyCreate = parse_typed(&bytes)?;
    check_name(&body.name)?;
    check_agents(&body.agent_ids)?;
    let new = NewKey {
        name: body.name,
        role: parse_role(&body.role)?,
        expires_at: body
            .expires_at
            .as_deref()
            .map(|t| parse_time(t, "expires_at"))
            .transpose()?,
        rate_limit_per_sec: body.rate_limit_per_sec,
        agent_ids: body.agent_ids,
    };
    let audited = Audited::new(AppState::actor(&caller), "api_key.create");
    let (record, secret) = state
        .admin
        .create_key(
            new,
            audited,
            |key| json!({"name": key.name, "role": key.role}),
        )
        .await?;
    let answer = ApiKeyWithSecret {
        key_fields: api_key(&record),
        key: secret,
        previous_secret_grace_ms: None,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(get, path = "/v1/api-keys", tag = "admin",
    responses((status = 200, description = "Every key, without secrets", body = stemedb_wire::ApiKeyList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state
        .auth
        .with_keys(|keys| Ok(keys.list().iter().map(api_key).collect::<Vec<_>>()))?;
    Ok(Json(ApiKeyList { keys }))
}

#[utoipa::path(post, path = "/v1/api-keys/{id}/revoke", tag = "admin",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "Revoked", body = stemedb_wire::ApiKey),
        (status = 404, description = "No such key", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    let audited = Audited::new(AppState::actor(&caller), "api_key.revoke");
    let (record, ()) = state
        .admin
        .change_key(
            &id,
            audited,
            |key, now| Ok((key.revoked(now), ())),
            |_| Ok(json!({})),
        )
        .await?;
    Ok(Json(api_key(&record)))
}

#[utoipa::path(post, path = "/v1/api-keys/{id}/rotate", tag = "admin",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "A new secret; the old one works for the grace period", body = stemedb_wire::ApiKeyWithSecret),
        (status = 404, description = "No such key", body = stemedb_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn rotate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyWithSecret>, ApiError> {
    let grace_ms = state.auth.config.rotation_grace_ms;
    let audited = Audited::new(AppState::actor(&caller), "api_key.rotate");
    let (record, secret) = state
        .admin
        .change_key(
            &id,
            audited,
            |key, now| key.rotated(now, grace_ms),
            |_| Ok(json!({"grace_ms": grace_ms})),
        )
        .await?;
    Ok(Json(ApiKeyWithSecret {
        key_fields: api_key(&record),
        key: secret,
        previous_secret_grace_ms: Some(grace_ms),
    }))
}

#[utoipa::path(patch, path = "/v1/api-keys/{id}", tag = "admin",
    params(("id" = String, Path, description = "Key id")),
    request_body(content = stemedb_wire::ApiKeyPatch),
    responses((status = 200, description = "Changed", body = stemedb_wire::ApiKey),
        (status = 400, description = "Bad body", body = stemedb_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ApiKey>, ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.assertion_body_bytes_max)?;
    let body: ApiKeyPatch = parse_typed(&bytes)?;
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    if let Some(agents) = &body.agent_ids {
        check_agents(agents)?;
    }
    let change = KeyChange {
        name: body.name,
        role: body.role.as_deref().map(parse_role).transpose()?,
        expires_at: body
            .expires_at
            .map(|t| {
                t.as_deref()
                    .map(|t| parse_time(t, "expires_at"))
                    .transpose()
            })
            .transpose()?,
        rate_limit_per_sec: body.rate_limit_per_sec,
        agent_ids: body.agent_ids,
    };
    let audited = Audited::new(AppState::actor(&caller), "api_key.update");
    let (record, ()) = state
        .admin
        .change_key(
            &id,
            audited,
            |key, _| Ok((key.updated(change.clone()), ())),
            |key| serde_json::to_value(api_key(key)).map_err(|e| ApiError::Internal(e.to_string())),
        )
        .await?;
    Ok(Json(api_key(&record)))
}

/// `GET /v1/admin/audit?after=N&limit=M`: entries oldest first.
/// Entries of one admin audit page when `limit` is absent, and the most one may ask for (a
/// `limit` outside 1 to it is refused, as every page's is).
const AUDIT_PAGE_DEFAULT: u64 = 1_000;
const AUDIT_PAGE_MAX: u64 = 10_000;

#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin",
    params(("after" = Option<u64>, Query, description = "Skip this many entries"), ("limit" = Option<u64>, Query, description = "At most this many (default 1,000, 1 to 10,000)")),
    responses((status = 200, description = "Administrative actions, oldest first", body = stemedb_wire::AdminAuditPage),
        (status = 400, description = "Bad parameter", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
pub async fn admin_audit(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AdminAuditPage>, ApiError> {
    let pairs = params(raw.as_deref(), &["after", "limit"])?;
    let after = number(&pairs, "after", 0)? as usize;
    let limit = bounded(&pairs, "limit", AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX)? as usize;
    let log = state.admin_log.clone();
    let (entries, total) = tokio::task::spawn_blocking(move || log.read(after, limit))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(AdminAuditPage {
        entries,
        total: total as u64,
    }))
}
