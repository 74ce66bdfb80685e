//! The reads the web console needs beyond the rest of the API: who the caller is
//! (`GET /v1/whoami`), the store at a glance (`GET /v1/overview`), and what an agent signed
//! (`GET /v1/agents/{id}/records`).
use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use stemedb::core::AssertionId;
use stemedb::{DISPUTED_KEPT, DbError};
use stemedb_wire::{AgentRecords, DisputedGroup, Overview, RetractionReach, Whoami};

use crate::auth::Caller;
use crate::db_work::{blocking, deadline};
use crate::json_response::json_response;
use crate::query_string::{bounded, number, params};
use crate::{ApiError, AppState};

/// Log records an overview reads for recent retractions, by default and at most.
const RETRACTIONS_SCAN_DEFAULT: u64 = 10_000;
const RETRACTIONS_SCAN_MAX: u64 = 100_000;
/// Disputed groups an overview lists by default (at most [`DISPUTED_KEPT`]).
const DISPUTED_DEFAULT: u64 = 10;
/// Quarantined records an overview counts at most; more shows as this many.
const QUARANTINE_COUNTED_MAX: usize = 10_000;
/// Retractions an overview lists, by default and at most.
const RETRACTIONS_DEFAULT: u64 = 20;
const RETRACTIONS_MAX: u64 = 100;

#[utoipa::path(get, path = "/v1/whoami", tag = "operations",
    responses((status = 200, description = "The key this request was made with", body = stemedb_wire::Whoami)))]
/// The key this request was made with: its role and the agents it may sign for.
pub async fn whoami(Extension(caller): Extension<Caller>) -> Result<Json<Whoami>, ApiError> {
    // The route needs a key, so the authorization layer has already refused a request
    // without one; this answers the same way should the table ever change.
    let principal = caller
        .0
        .ok_or_else(|| ApiError::Unauthorized("an API key is needed".into()))?;
    Ok(Json(Whoami {
        agent_ids: principal.agent_ids,
        key_id: principal.key_id,
        name: principal.name,
        role: principal.role.name().to_owned(),
    }))
}

#[utoipa::path(get, path = "/v1/overview", tag = "truth",
    params(("disputed" = Option<u64>, Query, description = "Disputed groups to list (default 10, at most 50)"),
        ("retractions" = Option<u64>, Query, description = "Retractions to list (default 20, at most 100)"),
        ("scan" = Option<u64>, Query, description = "Log records to read for them, newest first (default 10,000, at most 100,000)")),
    responses((status = 200, description = "Counts, the most disputed groups and recent retractions", body = stemedb_wire::Overview<stemedb_wire::Record>)))]
/// Counts, the most disputed groups (from the newest reliability table, so free of a pass over
/// the store) and the retractions among the newest records of the log.
pub async fn overview(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params(raw.as_deref(), &["disputed", "retractions", "scan"])?;
    let disputed_max = bounded(&pairs, "disputed", DISPUTED_DEFAULT, DISPUTED_KEPT as u64)?;
    let retractions_max = bounded(&pairs, "retractions", RETRACTIONS_DEFAULT, RETRACTIONS_MAX)?;
    let scan = bounded(
        &pairs,
        "scan",
        RETRACTIONS_SCAN_DEFAULT,
        RETRACTIONS_SCAN_MAX,
    )?;
    let deadline = deadline(&state);
    let (table, backlog, (retractions, scanned), last) = blocking(&state, move |db| {
        Ok((
            db.reliability()?,
            db.quarantine_backlog(QUARANTINE_COUNTED_MAX)?,
            db.recent_retractions(scan, retractions_max as usize, Some(deadline))?,
            db.last_sequence(),
        ))
    })
    .await?;
    let (retractions, records_bytes) = rendered(&retractions)?;
    let disputed = table
        .disputed
        .iter()
        .take(disputed_max as usize)
        .map(|g| DisputedGroup {
            claims: g.claims as u64,
            dissenting: g.dissenting as u64,
            predicate: g.predicate.clone(),
            subject: g.subject.clone(),
            values: g.values as u64,
        })
        .collect();
    let answer = Overview {
        assertion_count: state.db.assertion_count(),
        clustered: state.cluster.is_some(),
        disputed,
        disputed_sequence: table.sequence,
        last_sequence: last,
        quarantine_backlog: backlog as u64,
        quarantine_backlog_max: QUARANTINE_COUNTED_MAX as u64,
        retractions,
        retractions_scanned: scanned,
    };
    json_response(StatusCode::OK, &answer, records_bytes + 4096)
}

/// Records an agent's page holds, by default and at most.
const AGENT_RECORDS_DEFAULT: u64 = 50;
const AGENT_RECORDS_MAX: u64 = 1000;

#[utoipa::path(get, path = "/v1/agents/{id}/records", tag = "truth",
    params(("id" = String, Path, description = "Agent id (percent-encode `/`)"),
        ("before" = Option<u64>, Query, description = "Only records with a lower sequence (the previous page's next_before)"),
        ("limit" = Option<u64>, Query, description = "Records per page (default 50, at most 1,000)")),
    responses((status = 200, description = "The agent's records, newest first: its claims, votes, trust statements, retractions and reviews", body = stemedb_wire::AgentRecords<stemedb_wire::Record>)))]
/// What an agent signed, newest first, a page at a time: its claims and its votes, trust
/// statements, retractions and reviews.
pub async fn agent_records(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params(raw.as_deref(), &["before", "limit"])?;
    let before = number(&pairs, "before", u64::MAX)?;
    let limit = bounded(&pairs, "limit", AGENT_RECORDS_DEFAULT, AGENT_RECORDS_MAX)?;
    let records = blocking(&state, move |db| {
        Ok(db.agent_records(&id, before, limit as usize)?)
    })
    .await?;
    let next_before = (records.len() as u64 == limit)
        .then(|| records.last().map(|r| r.sequence))
        .flatten();
    let (records, records_bytes) = rendered(&records)?;
    let answer = AgentRecords {
        records,
        next_before,
    };
    json_response(StatusCode::OK, &answer, records_bytes + 128)
}

/// Records of a retraction's reach per page, by default and at most.
const REACH_DEFAULT: u64 = 100;
const REACH_MAX: u64 = 1000;

#[utoipa::path(get, path = "/v1/retractions/{id}", tag = "truth",
    params(("id" = String, Path, description = "A retraction's id"),
        ("after" = Option<u64>, Query, description = "Only records with a higher sequence (the previous page's next_after)"),
        ("limit" = Option<u64>, Query, description = "Records per page (default 100, at most 1,000)")),
    responses((status = 200, description = "The retraction and a page of what it reached", body = stemedb_wire::RetractionReach<stemedb_wire::Record>),
        (status = 400, description = "Not an id, or the record is no retraction", body = stemedb_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No record with this id", body = stemedb_wire::Problem, content_type = "application/problem+json")))]
/// A retraction and what it reached, a page at a time: its target and, under a cascade,
/// what cites or derives from it, each with its stage now.
pub async fn retraction(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let parsed = AssertionId::parse_field(&id, "id").map_err(|e| DbError::BadQuery {
        field: "id",
        message: e.message,
    })?;
    let pairs = params(raw.as_deref(), &["after", "limit"])?;
    let after = number(&pairs, "after", 0)?;
    let limit = bounded(&pairs, "limit", REACH_DEFAULT, REACH_MAX)?;
    let reach = blocking(&state, move |db| {
        Ok(db.retraction_reach(&parsed, after, limit as usize)?)
    })
    .await?
    .ok_or(ApiError::NotFound {
        what: "retraction",
        id,
    })?;
    let (reached, records_bytes) = rendered(&reach.reached)?;
    let answer = RetractionReach {
        retraction: reach.retraction.to_raw_json()?,
        reached,
        next_after: reach.next_after,
    };
    json_response(StatusCode::OK, &answer, records_bytes + 1024)
}

/// Records rendered once for an answer, and their bytes (which size the answer's buffer).
fn rendered(
    records: &[stemedb::RecordView],
) -> Result<(Vec<Box<serde_json::value::RawValue>>, usize), DbError> {
    let list = records
        .iter()
        .map(|r| r.to_raw_json())
        .collect::<Result<Vec<_>, DbError>>()?;
    let bytes = list.iter().map(|r| r.get().len()).sum();
    Ok((list, bytes))
}
