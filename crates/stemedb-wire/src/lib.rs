//! The JSON shapes of the StemeDB HTTP API: one set of serde types that the server writes, the
//! OpenAPI document describes (feature `openapi`) and the Rust client reads.
//!
//! Types that carry stored records are generic over the record's representation `R`: the server
//! writes each record as the JSON text it rendered once from the signed bytes (a
//! `&serde_json::value::RawValue`), the client reads [`Record`], and the OpenAPI document is
//! generated from the `Record` instantiation. Fields are declared in the order the server
//! writes them.
#![forbid(unsafe_code)]

mod admin;
mod cluster;
mod console;
mod ingest;
mod problem;
mod query;
mod record;
mod truth;

pub use admin::{
    AdminAuditPage, ApiKey, ApiKeyCreate, ApiKeyList, ApiKeyPatch, ApiKeyWithSecret,
    BackupVerified, HealthResponse,
};
pub use cluster::{
    ClusterConsumerError, ClusterHealth, ClusterMember, ClusterMembers, ClusterRefusedEntry,
    ClusterReplica,
};
pub use console::{DisputedGroup, Overview, Whoami};
pub use ingest::{AssertResponse, BatchItem, BatchRequest, BatchResponse};
pub use problem::Problem;
pub use query::{Group, QueryParams, QueryResponse};
pub use record::{AssertionBody, AssertionWire, Record, Votes};
pub use truth::{
    AgentCircuit, AgentIdBody, AgentRecords, AgentReliability, AgentResponse, CircuitReset,
    Cluster, ControlResponse, Outlier, ProvenanceLeaf, ProvenanceNode, QuarantineItem,
    QuarantineList, RetractResponse, RetractionReach, RoleList, RoleResponse, SkepticResponse,
    SourceNode,
};

/// For `deserialize_with` on an `Option<Option<T>>` field: tells `"field": null` (`Some(None)`)
/// from an absent field (`None`), which serde alone reads as the same.
pub(crate) fn present<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// For `skip_serializing_if` on flags written only when true.
pub(crate) fn is_false(flag: &bool) -> bool {
    !*flag
}
