//! The OpenAPI document (`/openapi.json`) and the offline API browser (`/docs`). Every schema
//! in it comes from the `stemedb_wire` types the handlers write and the client reads.

use axum::Json;
use stemedb_wire::{
    AdminAuditPage, AgentCircuit, AgentIdBody, AgentRecords, AgentResponse, ApiKey, ApiKeyCreate,
    ApiKeyList, ApiKeyPatch, ApiKeyWithSecret, AssertResponse, AssertionBody, AssertionWire,
    BackupVerified, BatchItem, BatchRequest, BatchResponse, CircuitReset, Cluster,
    ClusterConsumerError, ClusterHealth, ClusterMember, ClusterMembers, ClusterRefusedEntry,
    ClusterReplica, ControlResponse, DisputedGroup, Group, HealthResponse, Outlier, Overview,
    Problem, ProvenanceLeaf, ProvenanceNode, QuarantineItem, QuarantineList, QueryParams,
    QueryResponse, Record, RetractResponse, RetractionReach, RoleList, RoleResponse,
    SkepticResponse, SourceNode, Votes, Whoami,
};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

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
        crate::cluster_api::members,
        crate::cluster_api::health,
        crate::console_api::whoami,
        crate::console_api::overview,
        crate::console_api::agent_records,
        crate::console_api::retraction,
    ),
    modifiers(&KeySecurity, &EdgeResponses),
    security(("api_key" = []), ("bearer" = [])),
    components(schemas(
        AssertionBody,
        AssertionWire,
        Record,
        Votes,
        AssertResponse,
        BatchRequest,
        BatchResponse,
        BatchItem,
        QueryParams,
        QueryResponse<Record>,
        Group<Record>,
        HealthResponse,
        Problem,
        RetractResponse,
        ControlResponse,
        AgentIdBody,
        RoleResponse,
        RoleList,
        AgentResponse,
        AgentCircuit,
        CircuitReset,
        ProvenanceNode<Record>,
        ProvenanceLeaf<Record>,
        SourceNode<Record>,
        SkepticResponse,
        Cluster,
        Outlier,
        QuarantineList<Record>,
        QuarantineItem<Record>,
        ApiKeyCreate,
        ApiKeyPatch,
        ApiKey,
        ApiKeyWithSecret,
        ApiKeyList,
        AdminAuditPage,
        BackupVerified,
        ClusterMembers,
        ClusterMember,
        ClusterHealth,
        ClusterConsumerError,
        ClusterRefusedEntry,
        ClusterReplica,
        Whoami,
        Overview<Record>,
        DisputedGroup,
        AgentRecords<Record>,
        RetractionReach<Record>
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

/// The suffix utoipa gives a generic schema instantiated with `Record`, the only instantiation
/// documented: each such schema keeps its plain name (`QueryResponse`, not
/// `QueryResponse_Record`).
const RECORD_INSTANCE_SUFFIX: &str = "_Record";

/// The document, built once, with the generic schemas under their plain names.
fn document() -> &'static serde_json::Value {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        if let Some(serde_json::Value::Object(schemas)) =
            document.pointer_mut("/components/schemas")
        {
            let renamed: Vec<String> = schemas
                .keys()
                .filter(|name| name.ends_with(RECORD_INSTANCE_SUFFIX))
                .cloned()
                .collect();
            for name in renamed {
                if let Some(schema) = schemas.remove(&name) {
                    let plain = name.trim_end_matches(RECORD_INSTANCE_SUFFIX).to_owned();
                    schemas.insert(plain, schema);
                }
            }
        }
        plain_refs(&mut document);
        document
    })
}

/// Points every `$ref` to an `X_Record` schema at `X`.
fn plain_refs(node: &mut serde_json::Value) {
    use serde_json::Value;
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(target) if key == "$ref" => {
                        if let Some(plain) = target.strip_suffix(RECORD_INSTANCE_SUFFIX) {
                            *target = plain.to_owned();
                        }
                    }
                    _ => plain_refs(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(plain_refs),
        _ => {}
    }
}

pub async fn openapi_json() -> Json<&'static serde_json::Value> {
    Json(document())
}

/// `/docs`: Swagger UI served from files compiled into the binary (works offline). It reads
/// the document at `/openapi.json`. Its page takes an API key ("Authorize"), so it is served
/// as the console is, under a Content-Security-Policy: scripts and styles from this server
/// only (Swagger UI's own files; none inline), requests only to it, no frames, no forms posted
/// elsewhere (the browser test `console/test/console.test.mjs` renders it and fails on any
/// violation).
pub fn swagger_ui<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    let ui = SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json"));
    axum::Router::from(ui).layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            crate::console::page_headers(response.headers_mut(), DOCS_CONTENT_SECURITY_POLICY);
            response
        },
    ))
}

/// What the `/docs` page may load and where it may connect. Swagger UI 5.17.14 adds one
/// `<style>` element of its own; its hash allows exactly that one (a new Swagger UI with a
/// different style fails the browser test until the hash is updated from its message).
const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";
