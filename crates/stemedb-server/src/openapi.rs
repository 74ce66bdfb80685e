//! The OpenAPI document (`/openapi.json`) and the offline API browser (`/docs`). The structs here
//! exist to describe the wire shapes; handlers build the same shapes as JSON values.
#![allow(dead_code)]

use axum::Json;
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// A signed assertion in wire form: the body plus `signature` (docs/signing.md).
#[derive(ToSchema)]
pub struct AssertionWire {
    /// `/`-separated path, 1–1024 bytes, e.g. `drug/aspirin/dosage`.
    subject: String,
    /// 1–256 bytes, e.g. `recommended_mg`.
    predicate: String,
    /// Any JSON value, at most 64 KiB serialized; integers within ±(2^53−1).
    #[schema(value_type = Object)]
    value: Value,
    /// In [0, 1]; absent means 1.
    confidence: Option<f64>,
    /// 1–256 bytes; bound to `public_key` by its first accepted assertion.
    agent_id: String,
    /// Lowercase hex of the 32-byte Ed25519 public key.
    public_key: String,
    /// RFC 3339 UTC valid time; at most 5 minutes ahead of the server clock.
    timestamp: String,
    /// Up to 64 source subjects, e.g. `source/CARDIOVASC_MEGA_TRIAL`.
    sources: Option<Vec<String>>,
    /// Free text, at most 4 KiB.
    provenance: Option<String>,
    /// Ids of assertions this one was derived from.
    derived_from: Option<Vec<String>>,
    /// Id of an assertion this one supersedes.
    supersedes: Option<String>,
    /// Lowercase hex Ed25519 signature over `stemedb/v1/assertion` 0x00 id.
    signature: String,
}

/// A stored record: the signed body's fields exactly as signed, plus the envelope fields.
#[derive(ToSchema)]
pub struct Record {
    #[schema(inline)]
    body: AssertionWire,
    /// BLAKE3-256 of the canonical body, lowercase hex.
    id: String,
    /// Position in the log.
    sequence: u64,
    /// Server time the record was committed (RFC 3339 UTC).
    recorded_at: String,
    /// `active` (later also `retracted`, `superseded`).
    lifecycle_stage: String,
}

#[derive(ToSchema)]
pub struct AssertResponse {
    id: String,
    sequence: u64,
    /// Present and true when the assertion was already stored.
    duplicate: Option<bool>,
}

#[derive(ToSchema)]
pub struct BatchRequest {
    /// Up to 10,000 signed assertions.
    assertions: Vec<AssertionWire>,
}

#[derive(ToSchema)]
pub struct BatchItem {
    index: u64,
    /// 201 stored, 200 duplicate, otherwise the problem's status.
    status: u16,
    id: Option<String>,
    sequence: Option<u64>,
    duplicate: Option<bool>,
    error: Option<Problem>,
}

#[derive(ToSchema)]
pub struct BatchResponse {
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    results: Vec<BatchItem>,
}

/// Query fields (the same in the query string and in a JSON body).
#[derive(IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct QueryParams {
    /// Exact subject, or a prefix ending in `/*`; `*` for all.
    subject: Option<String>,
    /// Alias of `subject`.
    concept_path: Option<String>,
    predicate: Option<String>,
    /// `recency` (default), `authority`, `consensus` or `conflict`.
    lens: Option<String>,
    /// Valid time: only assertions with `timestamp` ≤ as_of.
    as_of: Option<String>,
    /// Transaction time: only records with `recorded_at` ≤ known_at.
    known_at: Option<String>,
    /// Only records with `sequence` ≤ at_sequence.
    at_sequence: Option<u64>,
    /// Groups per page (default 100, at most 1,000).
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct QueryBody {
    #[schema(inline)]
    params: QueryParams,
}

#[derive(ToSchema)]
pub struct Group {
    subject: String,
    predicate: String,
    winner: Record,
    /// 0 when all values agree, up to 1 (docs/lenses.md).
    conflict_score: f64,
    explanation: String,
    /// Ranked, winner first.
    assertions: Vec<Record>,
}

#[derive(ToSchema)]
pub struct QueryResponse {
    lens: String,
    groups: Vec<Group>,
    /// The groups' ranked lists one after another.
    assertions: Vec<Record>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct HealthResponse {
    status: String,
    version: String,
    uptime_seconds: u64,
    assertion_count: u64,
}

/// RFC 9457 problem details.
#[derive(ToSchema)]
pub struct Problem {
    /// Stable per kind, e.g. `urn:stemedb:problem:validation-failed`.
    r#type: String,
    title: String,
    status: u16,
    detail: String,
    /// The offending field, when there is one.
    field: Option<String>,
    /// The broken rule, for validation problems.
    rule: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "StemeDB",
        description = "Signed assertions, resolved through lenses."
    ),
    paths(
        crate::api::assert_one,
        crate::api::assert_batch,
        crate::api::get_assertion,
        crate::api::query_get,
        crate::api::query_post,
        crate::api::health,
    ),
    components(schemas(
        AssertionWire,
        Record,
        AssertResponse,
        BatchRequest,
        BatchResponse,
        BatchItem,
        QueryBody,
        QueryResponse,
        Group,
        HealthResponse,
        Problem
    ))
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `/docs`: Swagger UI served from files compiled into the binary (works offline). It reads
/// the document at `/openapi.json`.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json"))
}
