//! Writing a large typed answer (a `stemedb_wire` type) as an `application/json` response;
//! small ones go out through `axum::Json`.
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ApiError;

/// `body` serialized into a buffer of `capacity` bytes to start with (a good guess saves the
/// copies of a growing buffer on large answers).
pub(crate) fn json_response<T: Serialize>(
    status: StatusCode,
    body: &T,
    capacity: usize,
) -> Result<Response, ApiError> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((status, [(header::CONTENT_TYPE, "application/json")], out).into_response())
}
