//! Fuzz target: any `X-API-Key` and `Authorization` header bytes are taken or refused by the
//! server's credential parser, never a panic; a taken key is printable ASCII of 1 to 256 bytes.
#![no_main]
use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len().saturating_sub(1));
    let (x_api_key, authorization) = data.get(1..).unwrap_or_default().split_at(split.min(data.len().saturating_sub(1)));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(x_api_key) && !x_api_key.is_empty() {
        headers.insert("x-api-key", value);
    }
    if let Ok(value) = HeaderValue::from_bytes(authorization) && !authorization.is_empty() {
        headers.insert("authorization", value);
    }
    if let Ok(key) = stemedb_server::auth::credential(&headers) {
        assert!(!key.is_empty() && key.len() <= 256);
        assert!(key.bytes().all(|b| b.is_ascii_graphic()));
    }
});
