//! The published refusal vectors (`refusals` in tests/vectors/signing.json): wire texts with a
//! duplicate object key or an identifier that is not NFC or holds an invisible character. Each
//! must be refused with the vector's field and rule, before the signature is looked at.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use serde_json::{Map, Value, json};
use stemedb_core::{CoreError, Limits, SecretKey, SignedAssertion};

fn vectors() -> Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/signing.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// One refusal: the wire text must fail with exactly this field and rule.
fn check(name: &str, wire: &str, field: &str, rule: &str) {
    match SignedAssertion::from_wire_bytes(wire.as_bytes(), &Limits::default()) {
        Err(CoreError::Invalid(v)) => {
            assert_eq!((v.field.as_str(), v.rule), (field, rule), "{name}: {v}");
            assert!(!v.message.is_empty(), "{name}: a message for people");
        }
        Err(other) => panic!("{name}: refused as {other}, not {field}/{rule}"),
        Ok(a) => panic!("{name}: accepted as {}", a.id),
    }
}

#[test]
fn every_refusal_vector_is_refused_with_its_field_and_rule() {
    let doc = vectors();
    let refusals = doc["refusals"].as_array().expect("refusals array");
    assert!(refusals.len() >= 10, "the contract publishes the refusals");
    for r in refusals {
        let s = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("{r}: {k}"));
        check(s("name"), s("wire"), s("field"), s("rule"));
    }
}

fn body(subject: &str, key: &SecretKey) -> Map<String, Value> {
    let v = json!({"subject": subject, "predicate": "p", "value": 1, "agent_id": "agent/a",
        "public_key": key.public_key().to_hex(), "timestamp": "2025-01-01T00:00:00Z"});
    v.as_object().cloned().unwrap()
}

/// A client cannot sign what the server would refuse; stored records are not re-validated.
#[test]
fn signing_refuses_nfd_but_stored_bytes_still_read() {
    let key = SecretKey::from_seed(&[9; 32]);
    let limits = Limits::default();
    let nfc = SignedAssertion::sign(body("drug/caf\u{e9}", &key), &key, &limits).unwrap();
    let err = SignedAssertion::sign(body("drug/cafe\u{301}", &key), &key, &limits).unwrap_err();
    assert!(
        matches!(&err, CoreError::Invalid(v) if v.rule == "nfc" && v.field == "subject"),
        "{err}"
    );
    // A record stored before the rule (NFD subject) still rebuilds from its canonical bytes.
    let old = body("drug/cafe\u{301}", &key);
    let canonical = stemedb_core::canonical_bytes(&old).unwrap();
    let read = SignedAssertion::from_canonical(&canonical, nfc.signature, &limits).unwrap();
    assert_eq!(read.body.subject, "drug/cafe\u{301}");
}

/// Duplicate keys are refused wherever a body is parsed from bytes, and only there: the same
/// texts without the duplicate are accepted (apart from their zero signature, not checked here).
#[test]
fn the_same_wire_without_the_duplicate_parses() {
    let doc = vectors();
    let first = &doc["refusals"][0];
    assert_eq!(first["rule"], "duplicate_key");
    let wire = first["wire"]
        .as_str()
        .unwrap()
        .replacen("\"value\":82,", "", 1);
    SignedAssertion::from_wire_bytes(wire.as_bytes(), &Limits::default()).unwrap();
}
