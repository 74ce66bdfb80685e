//! The ingest table: each kind of bad input gets its problem (status, type, field) and nothing
//! is stored.
use serde_json::{Value, json};
use stemedb::SystemClock;
use stemedb::core::Clock;

use crate::api::{assert_problem, reqwest_like};
use crate::harness::{TestServer, body, key, signed, signed_unchecked};

/// A valid signed wire assertion to break in one way.
fn valid() -> Value {
    let k = key(40);
    signed(
        body(
            &k,
            "agent/table",
            "drug/aspirin/dosage",
            "recommended_mg",
            json!(81),
        ),
        &k,
    )
}

/// Changes a body field and re-signs, so that only the changed rule can fail.
fn resigned(field: &str, value: Value) -> Vec<u8> {
    let k = key(40);
    let mut b = body(
        &k,
        "agent/table",
        "drug/aspirin/dosage",
        "recommended_mg",
        json!(81),
    );
    b.insert(field.into(), value);
    serde_json::to_vec(&signed_unchecked(b, &k)).unwrap()
}

fn edited(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut wire = valid();
    edit(&mut wire);
    serde_json::to_vec(&wire).unwrap()
}

/// (name, body bytes, status, problem kind, field)
type Case = (
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    Option<&'static str>,
);

/// Posts `bytes` and checks the answer's status, problem type and field.
async fn check(
    server: &TestServer,
    name: &str,
    path: &str,
    bytes: Vec<u8>,
    status: u16,
    kind: &str,
    field: Option<&str>,
) {
    let answer = reqwest_like(&server.url)
        .send("POST", path, Some(bytes))
        .await;
    assert_problem(&answer, status, kind, name);
    let doc = answer.2;
    if let Some(f) = field {
        assert_eq!(doc["field"], f, "{name}: {doc}");
    }
    assert!(
        !doc["detail"].as_str().unwrap_or_default().is_empty(),
        "{name}: a detail for people"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_bad_input_is_refused_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let future = stemedb::core::Timestamp::from_micros(SystemClock.now().micros() + 3_600_000_000)
        .to_rfc3339();
    let big_value = json!("x".repeat(64 * 1024));
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            b"{\"subject\": ".to_vec(),
            400,
            "malformed-json",
            None,
        ),
        (
            "not an object",
            b"[1, 2]".to_vec(),
            422,
            "validation-failed",
            Some("$"),
        ),
        (
            "unknown field",
            edited(|w| w["colour"] = json!("red")),
            422,
            "validation-failed",
            Some("colour"),
        ),
        (
            "missing subject",
            edited(|w| {
                w.as_object_mut().unwrap().remove("subject");
            }),
            422,
            "validation-failed",
            Some("subject"),
        ),
        (
            "empty subject",
            resigned("subject", json!("")),
            422,
            "validation-failed",
            Some("subject"),
        ),
        (
            "subject over 1024 bytes",
            resigned("subject", json!("s".repeat(1025))),
            422,
            "validation-failed",
            Some("subject"),
        ),
        (
            "control char in subject",
            resigned("subject", json!("a\u{0}b")),
            422,
            "validation-failed",
            Some("subject"),
        ),
        (
            "predicate over 256 bytes",
            resigned("predicate", json!("p".repeat(257))),
            422,
            "validation-failed",
            Some("predicate"),
        ),
        (
            "value over 64 KiB",
            resigned("value", big_value),
            422,
            "validation-failed",
            Some("value"),
        ),
        (
            "confidence above 1",
            resigned("confidence", json!(1.5)),
            422,
            "validation-failed",
            Some("confidence"),
        ),
        (
            "confidence not a number",
            resigned("confidence", json!("high")),
            422,
            "validation-failed",
            Some("confidence"),
        ),
        (
            "integer beyond 2^53-1",
            resigned("value", json!({"n": 9_007_199_254_740_992u64})),
            422,
            "validation-failed",
            Some("value.n"),
        ),
        (
            "timestamp not RFC 3339",
            resigned("timestamp", json!("yesterday")),
            422,
            "validation-failed",
            Some("timestamp"),
        ),
        (
            "timestamp not UTC",
            resigned("timestamp", json!("2025-01-01T00:00:00+02:00")),
            422,
            "validation-failed",
            Some("timestamp"),
        ),
        (
            "timestamp in the future",
            resigned("timestamp", json!(future)),
            422,
            "validation-failed",
            Some("timestamp"),
        ),
        (
            "public key not hex",
            resigned("public_key", json!("zz")),
            422,
            "validation-failed",
            Some("public_key"),
        ),
        (
            "public key uppercase",
            edited(|w| w["public_key"] = json!(w["public_key"].as_str().unwrap().to_uppercase())),
            422,
            "validation-failed",
            Some("public_key"),
        ),
        (
            "too many sources",
            resigned("sources", json!(vec!["source/x"; 65])),
            422,
            "validation-failed",
            Some("sources"),
        ),
        (
            "provenance over 4 KiB",
            resigned("provenance", json!("p".repeat(4097))),
            422,
            "validation-failed",
            Some("provenance"),
        ),
        (
            "derived_from not an id",
            resigned("derived_from", json!(["nope"])),
            422,
            "validation-failed",
            Some("derived_from[0]"),
        ),
        (
            "optional field null",
            resigned("provenance", Value::Null),
            422,
            "validation-failed",
            Some("provenance"),
        ),
        (
            "signature missing",
            edited(|w| {
                w.as_object_mut().unwrap().remove("signature");
            }),
            422,
            "validation-failed",
            Some("signature"),
        ),
        (
            "signature malformed",
            edited(|w| w["signature"] = json!("abc")),
            422,
            "validation-failed",
            Some("signature"),
        ),
        (
            "signature wrong",
            edited(|w| w["signature"] = json!("00".repeat(64))),
            422,
            "signature-invalid",
            Some("signature"),
        ),
        (
            "body changed after signing",
            edited(|w| w["value"] = json!(82)),
            422,
            "signature-invalid",
            Some("signature"),
        ),
        (
            "body over 1 MiB",
            vec![b' '; 1024 * 1024 + 1],
            413,
            "payload-too-large",
            None,
        ),
    ];
    for (name, bytes, status, kind, field) in cases {
        check(&server, name, "/v1/assert", bytes, status, kind, field).await;
    }
    check(
        &server,
        "batch not an object",
        "/v1/assert/batch",
        b"[]".to_vec(),
        400,
        "malformed-json",
        None,
    )
    .await;
    check(
        &server,
        "batch unknown field",
        "/v1/assert/batch",
        br#"{"assertions": [], "x": 1}"#.to_vec(),
        400,
        "malformed-json",
        None,
    )
    .await;
    assert_eq!(server.count().await, 0, "nothing was stored");
    let all = server.client.query(&[("subject", "*")]).await.unwrap();
    assert_eq!(all.assertions.len(), 0);
    // The valid original is accepted: the table really was one broken rule at a time.
    assert_eq!(server.client.assert(&valid()).await.unwrap().status, 201);
}
