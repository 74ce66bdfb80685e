//! Reading a request's JSON body: within its route's byte limit and the nesting limit, then
//! parsed strictly (a key repeated in one object is refused, docs/signing.md).
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use stemedb::DbError;
use stemedb::core::parse_json_strict;

use crate::ApiError;

/// A request body within its route's byte limit and the JSON nesting limit.
pub(crate) fn body_bytes(
    config: &crate::ServerConfig,
    body: Result<Bytes, BytesRejection>,
    limit_bytes: usize,
) -> Result<Bytes, ApiError> {
    let bytes = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_)
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::PayloadTooLarge { limit_bytes }
        }
        other => ApiError::BodyUnreadable(other.body_text()),
    })?;
    if json_depth_exceeds(&bytes, config.json_depth_max) {
        return Err(ApiError::JsonTooDeep {
            depth_max: config.json_depth_max,
        });
    }
    Ok(bytes)
}

/// Whether arrays and objects in `bytes` nest deeper than `depth_max`, checked before any
/// parse in one pass (brackets inside strings do not count). Bytes that are not JSON are
/// left to the parser to name.
pub fn json_depth_exceeds(bytes: &[u8], depth_max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > depth_max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A signed request body as JSON; malformed JSON is the database's `malformed-json` problem, a
/// repeated key a validation problem (rule `duplicate_key`, docs/signing.md).
pub fn parse_wire(bytes: &[u8]) -> Result<Value, ApiError> {
    parse_json_strict(bytes).map_err(|e| ApiError::Db(DbError::from(e)))
}

/// A typed request body (the wire crate's request types), read strictly as every JSON body is,
/// so that no two readers see different requests in one body.
pub(crate) fn parse_typed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = parse_json_strict(bytes).map_err(DbError::from)?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::BadRequest(format!("bad request body: {e}")))
}
