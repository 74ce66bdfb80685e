//! The published signing vectors (tests/vectors/signing.json) hold: canonical bytes, id, public
//! key and signature for each body, so implementations in other languages can check themselves.
//! `STEMEDB_BLESS=1 cargo test -p stemedb-core --test vectors` rewrites the expected fields
//! from the `seed` and `body` of each vector.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use serde_json::{Value, json};
use stemedb_core::{Limits, SecretKey, SignedAssertion};

fn vectors_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/signing.json")
}

fn key_of(vector: &Value) -> SecretKey {
    let seed: [u8; 32] = hex::decode(vector["seed"].as_str().unwrap_or_default())
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or_else(|| panic!("{}: seed must be 32 bytes of hex", vector["name"]));
    SecretKey::from_seed(&seed)
}

fn computed(vector: &Value) -> Value {
    let key = key_of(vector);
    let body = vector["body"].as_object().cloned().unwrap_or_default();
    let signed = SignedAssertion::sign(body, &key, &Limits::default())
        .unwrap_or_else(|e| panic!("{}: body must be valid: {e}", vector["name"]));
    json!({
        "public_key": key.public_key().to_hex(),
        "canonical": String::from_utf8(signed.canonical.clone()).unwrap_or_default(),
        "id": signed.id.to_hex(),
        "signing_message_hex": hex::encode(stemedb_core::signing_message(&signed.id)),
        "signature": signed.signature.to_hex(),
    })
}

fn check(vector: &Value) {
    let name = vector["name"].as_str().unwrap_or("?");
    let got = computed(vector);
    for field in [
        "public_key",
        "canonical",
        "id",
        "signing_message_hex",
        "signature",
    ] {
        assert_eq!(vector[field], got[field], "vector {name}: {field} differs");
    }
    // The wire form (body + signature) must be accepted and verify.
    let mut wire = vector["body"].clone();
    wire["signature"] = vector["signature"].clone();
    let parsed = SignedAssertion::from_wire(wire, &Limits::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(parsed.verify(), "vector {name}: signature must verify");
    assert_eq!(
        parsed.id.to_hex(),
        vector["id"],
        "vector {name}: id from the wire form"
    );
}

#[test]
fn signing_vectors_match_the_published_file() {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing vectors: {e}"));
    let vectors = doc["vectors"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("vectors array missing"));
    assert!(
        vectors.len() >= 6,
        "the contract promises at least 6 vectors"
    );
    if std::env::var_os("STEMEDB_BLESS").is_some() {
        for v in vectors.iter_mut() {
            v["body"]["public_key"] = json!(key_of(v).public_key().to_hex());
            let got = computed(v);
            for (k, val) in got.as_object().into_iter().flatten() {
                v[k] = val.clone();
            }
        }
        let out = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        std::fs::write(&path, out).unwrap_or_else(|e| panic!("writing vectors: {e}"));
        // A blessing run rewrote the vectors and checked nothing: it does not pass.
        panic!(
            "STEMEDB_BLESS: {} rewritten from this build; review the diff, then run again \
             without STEMEDB_BLESS to check it",
            path.display()
        );
    }
    vectors.iter().for_each(check);
}
