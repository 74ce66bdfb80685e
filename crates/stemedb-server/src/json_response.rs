//! Writing a large typed answer (a `stemedb_wire` type) as an `application/json` response;
//! small ones go out through `axum::Json`. Records inside an answer go in as the JSON text
//! they were rendered to once (`RenderedJson`).
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::ApiError;

/// `body` serialized into a buffer of `capacity` bytes to start with (a good guess saves the
/// copies of a growing buffer on large answers).
pub(crate) fn json_response<T: Serialize>(
    status: StatusCode,
    body: &T,
    capacity: usize,
) -> Result<Response, ApiError> {
    Ok(bytes_response(status, json_bytes(body, capacity)?.into()))
}

/// `body` serialized as `json_response` does, for a caller that keeps the text.
pub(crate) fn json_bytes<T: Serialize>(body: &T, capacity: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(out)
}

/// A response of JSON text serialized earlier, sent as it is (a `Bytes` clone shares it).
pub(crate) fn bytes_response(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The name under which serde_json's serializer writes a struct's one string field through
/// unchanged: the serialization of `serde_json::value::RawValue` (serde_json 1.x, `raw.rs`).
const RAW_JSON_TOKEN: &str = "$serde_json::private::RawValue";

/// JSON text rendered earlier and valid by construction (a record: envelope fields spliced
/// onto its signed canonical bytes, whose hash was checked on read), written into an answer as
/// it is. It serializes exactly as a `RawValue` does, without the second parse that
/// `RawValue::from_string` makes to validate (measured on the query path: docs/benchmarks.md).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RenderedJson<'a>(pub &'a str);

impl Serialize for RenderedJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut raw = serializer.serialize_struct(RAW_JSON_TOKEN, 1)?;
        raw.serialize_field(RAW_JSON_TOKEN, self.0)?;
        raw.end()
    }
}

#[cfg(test)]
mod tests {
    use super::RenderedJson;

    /// Fails if serde_json stops writing the token's field through as it is.
    #[test]
    fn rendered_json_is_written_as_it_is() {
        let text = r#"{"b":1,"a":[true,"x"]}"#;
        let out = serde_json::to_string(&[RenderedJson(text), RenderedJson("2")]);
        assert_eq!(out.ok().as_deref(), Some(r#"[{"b":1,"a":[true,"x"]},2]"#));
    }
}
