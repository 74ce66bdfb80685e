//! The access table: the least role each route needs. docs/security.md prints the same table,
//! and the authorization-matrix test checks every OpenAPI route against both.
use axum::http::Method;

use super::Role;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key needed (a key, if sent, is still checked).
    Open,
    /// A key with at least this role.
    Needs(Role),
}

const OPEN: Access = Access::Open;
const READ: Access = Access::Needs(Role::Read);
const WRITE: Access = Access::Needs(Role::Write);
const ADMIN: Access = Access::Needs(Role::Admin);

/// (method, route template, access) for every route the server has.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/v1/health", OPEN),
    ("GET", "/openapi.json", OPEN),
    ("GET", "/metrics", READ),
    ("GET", "/v1/assertions/{id}", READ),
    ("GET", "/v1/assertions/{id}/provenance", READ),
    ("GET", "/v1/query", READ),
    ("POST", "/v1/query", READ),
    ("GET", "/v1/agents/{id}", READ),
    ("GET", "/v1/agents/{id}/records", READ),
    ("GET", "/v1/retractions/{id}", READ),
    ("GET", "/v1/skeptic", READ),
    ("GET", "/v1/quarantine", READ),
    ("GET", "/v1/audit/export", READ),
    ("GET", "/v1/whoami", READ),
    ("GET", "/v1/overview", READ),
    ("GET", "/v1/cluster/members", READ),
    ("GET", "/v1/cluster/health", READ),
    ("POST", "/v1/assert", WRITE),
    ("POST", "/v1/assert/batch", WRITE),
    ("POST", "/v1/retract", WRITE),
    ("POST", "/v1/vote", WRITE),
    ("POST", "/v1/trust", WRITE),
    ("POST", "/v1/gold-standard", WRITE),
    ("POST", "/v1/epochs", WRITE),
    ("POST", "/v1/quarantine/{id}/approve", WRITE),
    ("POST", "/v1/quarantine/{id}/reject", WRITE),
    ("GET", "/v1/admin/status", ADMIN),
    ("GET", "/v1/admin/backup", ADMIN),
    ("GET", "/v1/admin/backup/records", ADMIN),
    ("GET", "/v1/admin/backup/attest", ADMIN),
    ("POST", "/v1/admin/backup/verified", ADMIN),
    ("GET", "/v1/admin/curators", ADMIN),
    ("POST", "/v1/admin/curators", ADMIN),
    ("GET", "/v1/admin/trust-roots", ADMIN),
    ("POST", "/v1/admin/trust-roots", ADMIN),
    ("GET", "/v1/admin/audit", ADMIN),
    ("POST", "/v1/admin/agents/{id}/circuit/reset", ADMIN),
    ("GET", "/v1/api-keys", ADMIN),
    ("POST", "/v1/api-keys", ADMIN),
    ("PATCH", "/v1/api-keys/{id}", ADMIN),
    ("POST", "/v1/api-keys/{id}/revoke", ADMIN),
    ("POST", "/v1/api-keys/{id}/rotate", ADMIN),
];

/// The access a route needs; `None` for a route missing from the table (refused).
pub fn required_access(method: &Method, path: &str, metrics_open: bool) -> Option<Access> {
    if metrics_open && path == "/metrics" {
        return Some(OPEN);
    }
    ROUTES
        .iter()
        .find(|(m, p, _)| *p == path && *m == method.as_str())
        .map(|(_, _, access)| *access)
}
