//! Fuzz target: canonicalization (RFC 8785) of any JSON object never panics, gives the same
//! bytes as the reference implementation (`serde_json_canonicalizer`; stemedb-core writes its
//! own in one pass, `canonical.rs`), and is idempotent: canonical bytes, parsed and
//! canonicalized again, are the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(first) = stemedb_core::canonical_bytes(&body) else {
        return;
    };
    let reference = serde_json_canonicalizer::to_vec(&body).expect("the reference canonicalizes");
    assert_eq!(first, reference, "the same bytes as the reference implementation");
    let parsed: Map<String, Value> = serde_json::from_slice(&first).expect("canonical bytes are JSON");
    let second = stemedb_core::canonical_bytes(&parsed).expect("canonical JSON canonicalizes");
    assert_eq!(first, second, "canonicalization is idempotent");
});
