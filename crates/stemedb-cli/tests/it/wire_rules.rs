//! Issue 10 items 8 and 9 over HTTP: a body with a duplicate object key (at any depth, on every
//! write route) and an identifier that is not NFC or holds an invisible or bidi character are
//! refused with a validation problem naming the field and rule, and nothing is stored.
use serde_json::{Value, json};

use crate::api::{assert_problem, reqwest_like};
use crate::harness::{TestServer, body, key, signed, signed_unchecked};

/// A validly signed wire assertion with `field` set to `value` (signed as is, unvalidated).
fn wire_with(field: &str, value: Value) -> Value {
    let k = key(41);
    let mut b = body(
        &k,
        "agent/wire",
        "drug/aspirin/dosage",
        "recommended_mg",
        json!(81),
    );
    b.insert(field.into(), value);
    signed_unchecked(b, &k)
}

fn bytes_with(field: &str, value: Value) -> Vec<u8> {
    serde_json::to_vec(&wire_with(field, value)).unwrap()
}

/// A validly signed wire whose text then gets a duplicate key spliced in before `signed_text`,
/// so a last-wins parser sees exactly the signed body.
fn duplicated(field: &str, signed_value: Value, spliced: &str, signed_text: &str) -> Vec<u8> {
    splice(&wire_with(field, signed_value), spliced, signed_text)
}

fn splice(wire: &Value, spliced: &str, signed_text: &str) -> Vec<u8> {
    let text = serde_json::to_string(wire).unwrap();
    assert!(text.contains(signed_text), "{text}");
    text.replacen(signed_text, &format!("{spliced}{signed_text}"), 1)
        .into_bytes()
}

/// A signed vote (`-1`) on an id; the target need not exist: the parse refuses first.
fn vote() -> Value {
    let k = key(41);
    let target = "ab".repeat(32);
    signed(
        body(&k, "agent/wire", &target, "stemedb:vote", json!(-1)),
        &k,
    )
}

/// (name, route, body, field, rule): each answered 422 validation-failed with that field and rule.
type Case = (
    &'static str,
    &'static str,
    Vec<u8>,
    &'static str,
    &'static str,
);

async fn check(server: &TestServer, (name, path, bytes, field, rule): Case) {
    let answer = reqwest_like(&server.url)
        .send("POST", path, Some(bytes))
        .await;
    assert_problem(&answer, 422, "validation-failed", name);
    let doc = &answer.2;
    assert_eq!(
        (doc["field"].as_str(), doc["rule"].as_str()),
        (Some(field), Some(rule)),
        "{name}: {doc}"
    );
    assert!(
        !doc["detail"].as_str().unwrap_or_default().is_empty(),
        "{name}"
    );
}

fn cases() -> Vec<Case> {
    let valid = signed(
        body(&key(41), "agent/wire", "drug/x", "p", json!(1)),
        &key(41),
    );
    let batch_dup = format!(
        "{{\"assertions\": [{valid}, {}]}}",
        String::from_utf8(duplicated(
            "value",
            json!({"dose": 325}),
            "\"dose\":81,",
            "\"dose\":325"
        ))
        .unwrap()
    );
    vec![
        (
            "NFD subject",
            "/v1/assert",
            bytes_with("subject", json!("drug/cafe\u{301}")),
            "subject",
            "nfc",
        ),
        (
            "Kelvin sign in agent_id",
            "/v1/assert",
            bytes_with("agent_id", json!("agent/\u{212a}elvin")),
            "agent_id",
            "nfc",
        ),
        (
            "NFD source",
            "/v1/assert",
            bytes_with("sources", json!(["source/Mu\u{308}ller"])),
            "sources[0]",
            "nfc",
        ),
        (
            "zero-width space in subject",
            "/v1/assert",
            bytes_with("subject", json!("drug/asp\u{200b}irin")),
            "subject",
            "invisible_char",
        ),
        (
            "right-to-left override in predicate",
            "/v1/assert",
            bytes_with("predicate", json!("dose\u{202e}_mg")),
            "predicate",
            "invisible_char",
        ),
        (
            "byte order mark in agent_id",
            "/v1/assert",
            bytes_with("agent_id", json!("\u{feff}agent/wire")),
            "agent_id",
            "invisible_char",
        ),
        (
            "left-to-right isolate in source",
            "/v1/assert",
            bytes_with("sources", json!(["source/\u{2066}A"])),
            "sources[0]",
            "invisible_char",
        ),
        (
            "duplicate top-level key",
            "/v1/assert",
            duplicated("value", json!(82), "\"value\":81,", "\"value\":82"),
            "value",
            "duplicate_key",
        ),
        (
            "duplicate key inside value",
            "/v1/assert",
            duplicated(
                "value",
                json!({"dose": 325}),
                "\"dose\":81,",
                "\"dose\":325",
            ),
            "value.dose",
            "duplicate_key",
        ),
        (
            "duplicate key in a batch item",
            "/v1/assert/batch",
            batch_dup.into_bytes(),
            "assertions[1].value.dose",
            "duplicate_key",
        ),
        (
            "duplicate assertions key in a batch",
            "/v1/assert/batch",
            format!("{{\"assertions\": [], \"assertions\": [{valid}]}}").into_bytes(),
            "assertions",
            "duplicate_key",
        ),
        (
            "duplicate key in a vote",
            "/v1/vote",
            splice(&vote(), "\"value\":1,", "\"value\":-1"),
            "value",
            "duplicate_key",
        ),
        // Bodies that are not signed records are read as strictly.
        (
            "duplicate key in a curator grant",
            "/v1/admin/curators",
            br#"{"agent_id": "agent/a", "agent_id": "agent/b"}"#.to_vec(),
            "agent_id",
            "duplicate_key",
        ),
        (
            "duplicate key in an API key request",
            "/v1/api-keys",
            br#"{"role": "read", "role": "admin"}"#.to_vec(),
            "role",
            "duplicate_key",
        ),
        (
            "duplicate key in a query body",
            "/v1/query",
            br#"{"subject": "drug/a", "subject": "drug/b"}"#.to_vec(),
            "subject",
            "duplicate_key",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_keys_and_unsafe_identifiers_are_refused_and_nothing_is_stored() {
    let server = TestServer::start().await;
    for case in cases() {
        check(&server, case).await;
    }
    assert_eq!(server.count().await, 0, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn nfc_and_nfd_of_one_subject_are_not_two_subjects() {
    let server = TestServer::start().await;
    let k = key(42);
    let nfc = signed(
        body(
            &k,
            "agent/zo\u{eb}",
            "word/caf\u{e9}",
            "d\u{e9}f",
            json!("a\u{200b}b"),
        ),
        &k,
    );
    assert_eq!(
        server.client.assert(&nfc).await.unwrap().status,
        201,
        "NFC non-ASCII identifiers; values are free"
    );
    let nfd = serde_json::to_vec(&signed_unchecked(
        body(
            &k,
            "agent/zo\u{eb}",
            "word/cafe\u{301}",
            "d\u{e9}f",
            json!(1),
        ),
        &k,
    ))
    .unwrap();
    check(&server, ("NFD twin", "/v1/assert", nfd, "subject", "nfc")).await;
    // In a batch an identifier refusal is one item's problem; the other items are stored.
    let bad = wire_with("subject", json!("drug/cafe\u{301}"));
    let good = signed(
        body(&k, "agent/zo\u{eb}", "word/caf\u{e9}", "n", json!(2)),
        &k,
    );
    let answer = reqwest_like(&server.url)
        .send(
            "POST",
            "/v1/assert/batch",
            Some(serde_json::to_vec(&json!({"assertions": [bad, good]})).unwrap()),
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.2);
    let results = &answer.2["results"];
    assert_eq!(results[0]["error"]["rule"], "nfc", "{results}");
    assert_eq!(results[1]["status"], 201, "{results}");
    let q = server.client.query(&[("subject", "word/*")]).await.unwrap();
    assert_eq!(q.groups.len(), 2, "{q:?}");
    assert_eq!(server.count().await, 2);
}

/// An audit export whose record line repeats a key is refused by the offline verifier, even
/// when the last copy (what a last-wins reader sees) is the signed one and the closing hash is
/// recomputed over the changed file.
#[tokio::test(flavor = "multi_thread")]
async fn the_audit_verifier_refuses_a_repeated_key() {
    let server = TestServer::start().await;
    let k = key(43);
    let wire = signed(body(&k, "agent/audit", "drug/dup", "p", json!(81)), &k);
    assert_eq!(server.client.assert(&wire).await.unwrap().status, 201);
    let export = server
        .client
        .audit_export(&[("subject", "drug/*")])
        .await
        .unwrap();
    assert!(stemedb::core::audit::verify_export(&export).ok());
    let text = String::from_utf8(export).unwrap();
    assert!(text.contains("\"value\":81"), "{text}");
    let changed = text.replacen("\"value\":81", "\"value\":99,\"value\":81", 1);
    let body = &changed[..changed.trim_end().rfind('\n').unwrap() + 1];
    let forged = format!(
        "{body}{}\n",
        json!({"blake3": blake3::hash(body.as_bytes()).to_hex().to_string()})
    );
    let report = stemedb::core::audit::verify_export(forged.as_bytes());
    assert!(!report.ok(), "a repeated key went unnoticed: {report:?}");
    assert!(
        report.problems.iter().any(|p| p.contains("duplicate_key")),
        "{report:?}"
    );
}
