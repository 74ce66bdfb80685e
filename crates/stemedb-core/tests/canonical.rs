//! Property tests: canonical bytes are a fixed point, ids do not depend on how the JSON was
//! spelled, and a signature binds exactly one body.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use stemedb_core::{Limits, SecretKey, SignedAssertion};

/// Integral doubles in [2^53, 1e21) are written by RFC 8785 as integer tokens beyond the safe
/// range; the contract rejects them (tested below), so valid bodies never hold them.
fn writes_as_unsafe_integer(f: f64) -> bool {
    f.fract() == 0.0 && f.abs() > 9_007_199_254_740_991.0 && f.abs() < 1e21
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("valid number", |f| f.is_finite()
                && !writes_as_unsafe_integer(*f))
            .prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body(
    subject: String,
    value: Value,
    confidence: Option<f64>,
    with_sources: bool,
    key: &SecretKey,
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("subject".into(), json!(subject));
    body.insert("predicate".into(), json!("p"));
    body.insert("value".into(), value);
    if let Some(c) = confidence {
        body.insert("confidence".into(), json!(c));
    }
    body.insert("agent_id".into(), json!("agent/prop"));
    body.insert("public_key".into(), json!(key.public_key().to_hex()));
    body.insert("timestamp".into(), json!("2025-01-01T00:00:00Z"));
    if with_sources {
        body.insert("sources".into(), json!(["source/A", "source/B"]));
    }
    body
}

fn subject() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}(/[a-zé中0-9_]{1,8}){0,3}"
}

proptest! {
    #[test]
    fn canonical_bytes_are_a_fixed_point_and_ids_ignore_spelling(
        subject in subject(), value in json_value(), confidence in proptest::option::of(0.0f64..=1.0),
        with_sources in any::<bool>(), seed in any::<[u8; 32]>(),
    ) {
        let key = SecretKey::from_seed(&seed);
        let limits = Limits::default();
        let signed = SignedAssertion::sign(body(subject, value, confidence, with_sources, &key), &key, &limits).unwrap();
        // Re-reading the canonical bytes gives the same bytes and id.
        let again = SignedAssertion::from_canonical(&signed.canonical, signed.signature, &limits).unwrap();
        prop_assert_eq!(&again.canonical, &signed.canonical);
        prop_assert_eq!(again.id, signed.id);
        // Pretty-printed wire JSON (other whitespace) gives the same id, and it verifies.
        let pretty = serde_json::to_string_pretty(&signed.to_wire()).unwrap();
        let parsed = SignedAssertion::from_wire_bytes(pretty.as_bytes(), &limits).unwrap();
        prop_assert_eq!(parsed.id, signed.id);
        prop_assert!(parsed.verify());
    }

    #[test]
    fn a_signature_binds_exactly_one_body(
        subject in subject(), a in json_value(), b in json_value(), seed in any::<[u8; 32]>(),
    ) {
        let key = SecretKey::from_seed(&seed);
        let limits = Limits::default();
        let first = SignedAssertion::sign(body(subject.clone(), a, None, false, &key), &key, &limits).unwrap();
        let other = SignedAssertion::sign(body(subject, b, None, false, &key), &key, &limits).unwrap();
        prop_assume!(first.canonical != other.canonical);
        prop_assert_ne!(first.id, other.id);
        // The first signature on the second body must not verify.
        let forged = SignedAssertion::from_canonical(&other.canonical, first.signature, &limits).unwrap();
        prop_assert!(!forged.verify());
    }
}

proptest! {
    #[test]
    fn integral_numbers_beyond_the_safe_range_are_rejected_however_spelled(
        f in any::<f64>().prop_filter("unsafe integral", |f| f.is_finite() && writes_as_unsafe_integer(*f)),
        seed in any::<[u8; 32]>(),
    ) {
        let key = SecretKey::from_seed(&seed);
        let err = SignedAssertion::sign(body("s".into(), json!([f]), None, false, &key), &key, &Limits::default()).unwrap_err();
        prop_assert!(err.to_string().contains("safe_integer"), "{}", err);
    }
}

/// Any JSON value, numbers of every kind included (beyond the safe range too: the
/// canonicalizer must agree with the reference on every value, valid body or not), with names
/// that sort differently as UTF-16 than as UTF-8 (U+E000–U+FFFF against supplementary
/// characters).
fn any_json_value() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        "\\PC{0,6}",
        "[a\u{e000}\u{ffff}\u{1f600}\u{10000}é\"\\\\\u{1}]{0,4}"
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[\\x00-\\x1f\"\\\\/a\u{7f}\u{2028}é😀]{0,8}".prop_map(Value::String),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(name.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// stemedb-core's canonical bytes against the reference implementation's, for one object.
fn check_canonical(name: &str, value: Value) {
    let mut object = Map::new();
    object.insert("v".into(), value);
    let ours = stemedb_core::canonical_bytes(&object).unwrap();
    let reference = serde_json_canonicalizer::to_vec(&object).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&reference),
        "{name}"
    );
}

#[test]
#[allow(clippy::excessive_precision)] // RFC 8785's own test number, spelled as the RFC spells it
fn canonical_bytes_match_rfc_8785_on_known_cases() {
    let rfc_numbers = json!([333333333.33333329, 1E30, 4.50, 2e-3, 1e-27]);
    let cases: &[(&str, Value)] = &[
        ("RFC 8785 §3.2.2.3 numbers", rfc_numbers.clone()),
        ("negative zero", json!(-0.0)),
        (
            "largest and smallest doubles",
            json!([1.7976931348623157e308, 5e-324, -5e-324]),
        ),
        (
            "integers beyond 2^53",
            json!([9007199254740993u64, u64::MAX, i64::MIN]),
        ),
        (
            "exponent thresholds",
            json!([1e21, 1e20, 1e-6, 1e-7, 123e-20]),
        ),
        (
            "escapes",
            json!("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}\"\\/\u{7f}\u{2028}é😀"),
        ),
        (
            "UTF-16 order of names",
            json!({"\u{e000}": 1, "😀": 2, "a": 3, "": 4, "\u{ffff}": 5, "é": 6}),
        ),
        (
            "RFC 8785 §3.2.3 sorting",
            json!({"\u{20ac}": "Euro", "\r": "CR", "\u{fb33}": "Hebrew", "1": "One", "😀": "Emoji", "\u{80}": "Control", "ö": "Latin"}),
        ),
        (
            "nesting",
            json!({"b": [{"z": null, "a": true}, []], "a": {}}),
        ),
    ];
    for (name, value) in cases {
        check_canonical(name, value.clone());
    }
    // RFC 8785's own expected bytes, not only the reference implementation's.
    let mut object = Map::new();
    object.insert("n".into(), rfc_numbers);
    object.insert("s".into(), json!("\u{20ac}$\u{f}\nA'B\"\\\\\"/"));
    let expected = "{\"n\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"s\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(
        String::from_utf8(stemedb_core::canonical_bytes(&object).unwrap()).unwrap(),
        expected
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn canonical_bytes_match_the_reference_implementation(value in any_json_value()) {
        check_canonical("generated", value);
    }
}
