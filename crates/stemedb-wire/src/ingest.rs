//! The answers of the write routes `POST /v1/assert` and `POST /v1/assert/batch`.
use serde::{Deserialize, Serialize};

use crate::{AssertionWire, Problem, is_false};

/// `POST /v1/assert`: where the assertion is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssertResponse {
    /// Present and true when the assertion was already stored.
    #[serde(default, skip_serializing_if = "is_false")]
    pub duplicate: bool,
    pub id: String,
    pub sequence: u64,
}

/// `POST /v1/assert/batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchRequest {
    /// Up to 10,000 signed assertions.
    pub assertions: Vec<AssertionWire>,
}

/// One item's outcome in a batch: stored (`id`, `sequence`) or refused (`error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchItem {
    /// Present and true when the item was already stored.
    #[serde(default, skip_serializing_if = "is_false")]
    pub duplicate: bool,
    /// Why the item was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Position of the item in the request.
    pub index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// 201 stored, 200 duplicate, otherwise the problem's status.
    pub status: u16,
}

/// The answer to a batch: counts, then one result per item in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchResponse {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub results: Vec<BatchItem>,
}
