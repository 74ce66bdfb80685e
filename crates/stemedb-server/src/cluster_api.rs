//! `GET /v1/cluster/members` and `GET /v1/cluster/health`: cluster mode's view of itself
//! (docs/cluster.md). Without cluster mode both answer 404 `not-clustered`.
use axum::Json;
use axum::extract::State;
use stemedb_wire::{ClusterHealth, ClusterMembers};

use crate::{ApiError, AppState};

#[utoipa::path(get, path = "/v1/cluster/members", tag = "cluster",
    responses((status = 200, description = "Every node heard from: status, applied sequence, lag", body = ClusterMembers),
        (status = 404, description = "This server runs without cluster mode", body = stemedb_wire::Problem,
            content_type = "application/problem+json")))]
pub async fn members(State(state): State<AppState>) -> Result<Json<ClusterMembers>, ApiError> {
    let cluster = state.cluster.as_ref().ok_or(ApiError::NotClustered)?;
    Ok(Json(cluster.members()))
}

#[utoipa::path(get, path = "/v1/cluster/health", tag = "cluster",
    responses((status = 200, description = "The log stream's leader and replicas, and whether writes can be acknowledged now", body = ClusterHealth),
        (status = 404, description = "This server runs without cluster mode", body = stemedb_wire::Problem,
            content_type = "application/problem+json")))]
pub async fn health(State(state): State<AppState>) -> Result<Json<ClusterHealth>, ApiError> {
    let cluster = state.cluster.as_ref().ok_or(ApiError::NotClustered)?;
    Ok(Json(cluster.health()))
}
