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
    /// `active`, `retracted`, `superseded`, `quarantined` or `rejected` (docs/truth.md).
    lifecycle_stage: String,
    /// Id of the retraction that retracted it (retracted records).
    retracted_by: Option<String>,
    /// The retraction's reason (retracted records).
    retraction_reason: Option<String>,
    /// Id of the superseding record or epoch (superseded records).
    superseded_by: Option<String>,
    /// The content-defence rule that holds it (quarantined records).
    quarantine_rule: Option<String>,
    /// Live votes (`GET /v1/assertions/{id}` only).
    votes: Option<Votes>,
}

#[derive(ToSchema)]
pub struct Votes {
    up: u64,
    down: u64,
}

#[derive(ToSchema)]
pub struct RetractResponse {
    id: String,
    sequence: u64,
    duplicate: Option<bool>,
    /// False when the signer is neither the target's author nor a curator (a dispute).
    effective: bool,
    /// `retraction`, `reinstatement` or `dispute`.
    disposition: String,
    retracted_count: u64,
    reinstated_count: u64,
}

#[derive(ToSchema)]
pub struct ControlResponse {
    id: String,
    sequence: u64,
    duplicate: Option<bool>,
    effective: bool,
    /// Assertions whose stage this record changed.
    changed_count: u64,
}

#[derive(ToSchema)]
pub struct AgentIdBody {
    agent_id: String,
}

#[derive(ToSchema)]
pub struct RoleResponse {
    agent_id: String,
    role: String,
    /// The role holds for records with a greater sequence.
    effective_after_sequence: u64,
}

/// `POST /v1/api-keys`.
#[derive(ToSchema)]
pub struct ApiKeyCreate {
    /// 1–100 characters.
    name: String,
    /// `read`, `write` or `admin`.
    role: String,
    /// RFC 3339 UTC; the key stops working then.
    expires_at: Option<String>,
    /// Requests per second (0: unlimited); absent: the role's default.
    rate_limit_per_sec: Option<u32>,
    /// Agents this key may write for without signing (custodial signing).
    agent_ids: Option<Vec<String>>,
}

/// `PATCH /v1/api-keys/{id}`: the fields to change; `null` clears `expires_at` or
/// `rate_limit_per_sec`.
#[derive(ToSchema)]
pub struct ApiKeyPatch {
    name: Option<String>,
    role: Option<String>,
    expires_at: Option<String>,
    rate_limit_per_sec: Option<u32>,
    agent_ids: Option<Vec<String>>,
}

/// A key as listed: never its secret.
#[derive(ToSchema, serde::Serialize)]
pub struct ApiKey {
    id: String,
    name: String,
    role: String,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    rate_limit_per_sec: Option<u32>,
    agent_ids: Vec<String>,
    /// Secrets that open it (2 during a rotation's grace period).
    secrets_valid: u32,
}

/// A created or rotated key: the one reply that carries its secret.
#[derive(ToSchema, serde::Serialize)]
pub struct ApiKeyWithSecret {
    #[serde(flatten)]
    key_fields: ApiKey,
    /// The secret: `sdb_` and 64 hex digits. Shown once.
    key: String,
    /// After a rotation: how long the previous secret keeps working.
    previous_secret_grace_ms: Option<u64>,
}

#[derive(ToSchema)]
pub struct ApiKeyList {
    keys: Vec<ApiKey>,
}

/// `GET /v1/admin/audit`.
#[derive(ToSchema)]
pub struct AdminAuditPage {
    /// `{at, actor, action, target, detail, prev}`, oldest first.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<Value>,
    total: u64,
}

#[derive(ToSchema)]
pub struct RoleList {
    agent_ids: Vec<String>,
}

#[derive(ToSchema)]
pub struct AgentResponse {
    agent_id: String,
    /// Null for an agent with no stored record that the circuit breaker has seen.
    public_key: Option<String>,
    trust: f64,
    /// Hops from a trust root; null without a chain (the default trust applies).
    trust_chain_depth: Option<u64>,
    /// Root first, this agent last.
    trust_path: Vec<String>,
    record_count: u64,
    curator: bool,
    trust_root: bool,
    circuit: AgentCircuit,
}

/// The agent's circuit breaker (docs/security.md).
#[derive(ToSchema)]
pub struct AgentCircuit {
    /// `open` (writes refused) or `closed`.
    state: String,
    /// While open: how long until it closes.
    retry_after_ms: Option<u64>,
    failures_in_window: u32,
    failures_max: u32,
    failure_window_ms: u64,
    cooldown_ms: u64,
    opened_total: u64,
}

/// `POST /v1/admin/agents/{id}/circuit/reset`.
#[derive(ToSchema)]
pub struct CircuitReset {
    agent_id: String,
    /// Whether the circuit was open before the reset.
    was_open: bool,
    circuit: AgentCircuit,
}

#[derive(ToSchema)]
pub struct SourceNode {
    subject: String,
    /// Ids of effective retractions of the source.
    retracted_by: Vec<String>,
    assertions: Vec<ProvenanceLeaf>,
}

#[derive(ToSchema)]
pub struct ProvenanceLeaf {
    assertion: Record,
    signature_valid: bool,
}

#[derive(ToSchema)]
pub struct ProvenanceNode {
    assertion: Record,
    /// Checked on the server from the stored bytes.
    signature_valid: bool,
    sources: Vec<SourceNode>,
    /// Derived-from assertions, each a node like this one.
    #[schema(value_type = Vec<Object>)]
    derived_from: Vec<Value>,
    /// Ids named in derived_from that are not stored here.
    missing: Option<Vec<String>>,
    /// True when the depth limit stopped the walk here.
    truncated: Option<bool>,
}

#[derive(ToSchema)]
pub struct Cluster {
    #[schema(value_type = Object)]
    value: Value,
    weight: f64,
    share: f64,
    agents: Vec<String>,
}

#[derive(ToSchema)]
pub struct Outlier {
    id: String,
    #[schema(value_type = Object)]
    value: Value,
    agent_id: String,
    distance: f64,
}

#[derive(ToSchema)]
pub struct SkepticResponse {
    subject: String,
    predicate: String,
    conflict_score: f64,
    disputed: bool,
    disputed_score_min: f64,
    #[schema(value_type = Object)]
    weighted_median: Value,
    clusters: Vec<Cluster>,
    outliers: Vec<Outlier>,
    outlier_rule: String,
}

#[derive(ToSchema)]
pub struct QuarantineItem {
    /// `low_trust_contradicts_gold` or `new_subject_burst`.
    rule: String,
    record: Record,
}

#[derive(ToSchema)]
pub struct QuarantineList {
    items: Vec<QuarantineItem>,
    /// Pass as `after` for the next page; null on the last.
    next_after: Option<u64>,
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
    /// `recency` (default), `authority`, `consensus`, `conflict` or `layered`.
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
    /// Let retracted assertions take part (default false).
    include_retracted: Option<bool>,
    /// Let superseded assertions take part (default false).
    include_superseded: Option<bool>,
    /// Assertions per group (default 100, at most 1,000).
    assertions_limit: Option<u64>,
    /// A group's `assertions_cursor`: that group's next page, alone (not with `cursor`).
    assertions_cursor: Option<String>,
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
    /// Layered lens: `gold_standard`, `authority` or `consensus`.
    decided_by: Option<String>,
    /// Authority, conflict and layered lenses: the winner's trust.
    trust: Option<f64>,
    /// Hops from a trust root to the winner's agent; null without a chain.
    trust_chain_depth: Option<u64>,
    /// Root first, the winner's agent last.
    trust_path: Option<Vec<String>>,
    /// Assertions of the group that took part in the lens.
    assertions_total: u64,
    /// Rank (from 0) of this page's first assertion.
    assertions_offset: u64,
    /// The group's next page (send back as `assertions_cursor`); null on its last page.
    assertions_cursor: Option<String>,
    /// This page of the ranking (winner first on the first page); at most `assertions_limit`.
    assertions: Vec<Record>,
}

#[derive(ToSchema)]
pub struct QueryResponse {
    lens: String,
    groups: Vec<Group>,
    /// The groups' pages one after another.
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
        crate::observe::metrics_text,
        crate::backup_api::status,
        crate::backup_api::snapshot,
        crate::backup_api::records,
        crate::backup_api::attest,
        crate::backup_api::verified,
        crate::truth_api::retract,
        crate::truth_api::vote,
        crate::truth_api::trust,
        crate::truth_api::gold_standard,
        crate::truth_api::epoch,
        crate::truth_api::add_curator,
        crate::truth_api::list_curators,
        crate::truth_api::add_trust_root,
        crate::truth_api::list_trust_roots,
        crate::truth_api::get_agent,
        crate::truth_api::reset_circuit,
        crate::truth_api::provenance,
        crate::truth_api::skeptic,
        crate::truth_api::quarantine_list,
        crate::truth_api::quarantine_approve,
        crate::truth_api::quarantine_reject,
        crate::truth_api::audit_export,
        crate::auth_api::create,
        crate::auth_api::list,
        crate::auth_api::revoke,
        crate::auth_api::rotate,
        crate::auth_api::update,
        crate::auth_api::admin_audit,
    ),
    modifiers(&KeySecurity, &EdgeResponses),
    security(("api_key" = []), ("bearer" = [])),
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
        Problem,
        Votes,
        RetractResponse,
        ControlResponse,
        AgentIdBody,
        RoleResponse,
        RoleList,
        AgentResponse,
        AgentCircuit,
        CircuitReset,
        ProvenanceNode,
        ProvenanceLeaf,
        SourceNode,
        SkepticResponse,
        Cluster,
        Outlier,
        QuarantineList,
        QuarantineItem
    ))
)]
pub struct ApiDoc;

/// Declares the two ways a key is sent (docs/security.md).
struct KeySecurity;

impl utoipa::Modify for KeySecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds the answers of the HTTP edge (`edge.rs`, docs/security.md) to every operation: 421
/// for a Host the server does not answer to, and 415 and 413 for operations taking a body.
struct EdgeResponses;

impl utoipa::Modify for EdgeResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description).into());
                };
                add("421", "The Host is not one this server answers to");
                if operation.request_body.is_some() {
                    add("413", "Body too large");
                    add("415", "The body is not sent as application/json");
                }
            }
        }
    }
}

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `/docs`: Swagger UI served from files compiled into the binary (works offline). It reads
/// the document at `/openapi.json`.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json"))
}
