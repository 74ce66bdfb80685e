//! HTTP API behaviour: writes, reads, duplicates, batches, agent binding, restarts, errors.
use serde_json::{Value, json};
use stemedb::{Db, DbConfig};
use stemedb_server::ServerConfig;

use crate::harness::{TestServer, body, claim, key, signed, verify_record};

#[tokio::test(flavor = "multi_thread")]
async fn an_assertion_is_stored_and_read_back_exactly_as_signed() {
    let server = TestServer::start().await;
    let k = key(1);
    let mut b = body(
        &k,
        "agent/alice",
        "drug/aspirin/dosage",
        "recommended_mg",
        json!(81),
    );
    b.insert("confidence".into(), json!(0.9));
    b.insert("sources".into(), json!(["source/CARDIOVASC_MEGA_TRIAL"]));
    let wire = signed(b.clone(), &k);
    let reply = server.client.assert(&wire).await.unwrap();
    assert_eq!(
        (reply.status, reply.sequence, reply.duplicate),
        (201, 1, false)
    );
    let record = crate::harness::served_record(&server.client, &reply.id)
        .await
        .unwrap()
        .expect("stored record");
    for (field, value) in &b {
        assert_eq!(
            &record[field], value,
            "field {field} returned exactly as signed"
        );
    }
    assert!(
        record.get("provenance").is_none(),
        "fields the client left out stay absent"
    );
    assert_eq!(record["lifecycle_stage"], "active");
    assert_eq!(record["sequence"], 1);
    assert!(record["recorded_at"].as_str().unwrap().ends_with('Z'));
    assert!(verify_record(&record), "the record verifies offline");
}

#[tokio::test(flavor = "multi_thread")]
async fn posting_the_same_assertion_twice_is_idempotent() {
    let server = TestServer::start().await;
    let wire = claim(2, "s/x", "p", json!(1), 1.0, "2025-01-01T00:00:00Z");
    let first = server.client.assert(&wire).await.unwrap();
    let second = server.client.assert(&wire).await.unwrap();
    assert_eq!(
        (second.status, second.duplicate, second.sequence, second.id),
        (200, true, first.sequence, first.id)
    );
    assert_eq!(server.count().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_key_for_a_bound_agent_is_refused_with_409() {
    let server = TestServer::start().await;
    let (k1, k2) = (key(3), key(4));
    let first = signed(body(&k1, "agent/shared", "s/a", "p", json!(1)), &k1);
    server.client.assert(&first).await.unwrap();
    let impostor = signed(body(&k2, "agent/shared", "s/a", "p", json!(2)), &k2);
    let err = server.client.assert(&impostor).await.unwrap_err();
    assert!(
        matches!(
            err,
            stemedb_client::ClientError::Problem { status: 409, .. }
        ),
        "{err}"
    );
    assert_eq!(
        err.problem_type(),
        Some("urn:stemedb:problem:agent-key-conflict")
    );
    assert_eq!(server.count().await, 1, "nothing stored for the impostor");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_reports_each_item_and_stores_the_valid_ones_durably() {
    let server = TestServer::start().await;
    let good: Vec<Value> = (0..5)
        .map(|i| claim(5, "s/batch", "p", json!(i), 0.5, "2025-01-01T00:00:00Z"))
        .collect();
    let mut forged = good[0].clone();
    forged["value"] = json!(99);
    let mut items = good.clone();
    items.push(forged);
    items.push(good[1].clone()); // a duplicate inside the same batch
    items.push(json!({"subject": "s"}));
    let reply = server.client.assert_batch(&items).await.unwrap();
    assert_eq!(
        (reply.accepted, reply.duplicates, reply.rejected),
        (5, 1, 2)
    );
    let results = &reply.results;
    let error = |i: usize| results[i].error.as_ref().expect("refused");
    assert_eq!(error(5).kind, "urn:stemedb:problem:signature-invalid");
    assert!(results[6].duplicate);
    assert_eq!(results[6].sequence, results[1].sequence);
    assert_eq!(error(7).field.as_deref(), Some("signature"));
    // Durable before the response: a restart still has all five.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, ServerConfig::default()).await;
    assert_eq!(server.count().await, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_over_the_item_limit_is_refused_whole() {
    let mut config = ServerConfig::default();
    config.db.batch_len_max = 3;
    let server = TestServer::start_with(config).await;
    let items: Vec<Value> = (0..4)
        .map(|i| claim(6, "s/b", "p", json!(i), 1.0, "2025-01-01T00:00:00Z"))
        .collect();
    let err = server.client.assert_batch(&items).await.unwrap_err();
    assert_eq!(
        err.problem_type(),
        Some("urn:stemedb:problem:batch-too-large")
    );
    assert_eq!(server.count().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_a_restart() {
    let server = TestServer::start().await;
    let reply = server
        .client
        .assert(&claim(
            7,
            "s/r",
            "p",
            json!("kept"),
            1.0,
            "2025-01-01T00:00:00Z",
        ))
        .await
        .unwrap();
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, ServerConfig::default()).await;
    let record = server.client.get(&reply.id).await.unwrap().unwrap();
    assert_eq!(record.body.value, "kept");
    let next = server
        .client
        .assert(&claim(
            7,
            "s/r",
            "p",
            json!("next"),
            1.0,
            "2025-01-01T00:00:00Z",
        ))
        .await
        .unwrap();
    assert_eq!(
        next.sequence,
        reply.sequence + 1,
        "sequences continue after a restart"
    );
}

#[test]
fn an_unknown_format_version_or_a_held_directory_fails_to_open_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    let held = Db::open(dir.path(), DbConfig::default())
        .unwrap_err()
        .to_string();
    assert!(held.contains("in use by another"), "{held}");
    drop(db);
    std::fs::write(dir.path().join("FORMAT"), "stemedb-format 99\n").unwrap();
    let err = Db::open(dir.path(), DbConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("format version 99") && err.contains("only version 5"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_routes_and_methods_are_problems() {
    let server = TestServer::start().await;
    let http = reqwest_like(&server.url);
    for (method, path, status, kind) in [
        (
            "GET",
            format!("/v1/assertions/{}", "ab".repeat(32)),
            404,
            "not-found",
        ),
        ("GET", "/v1/assertions/xyz".to_owned(), 400, "invalid-query"),
        ("GET", "/v1/nothing".to_owned(), 404, "no-route"),
        ("DELETE", "/v1/assert".to_owned(), 405, "method-not-allowed"),
    ] {
        let answer = http.call(method, &path).await;
        assert_problem(&answer, status, kind, &format!("{method} {path}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_openapi_and_offline_docs_are_served() {
    let server = TestServer::start().await;
    let health = server.client.health().await.unwrap();
    assert_eq!(health.status, "ok");
    assert!(health.version.is_some() && health.uptime_seconds.is_some());
    let http = reqwest_like(&server.url);
    let (status, _, doc) = http.call("GET", "/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/v1/assert",
        "/v1/assert/batch",
        "/v1/assertions/{id}",
        "/v1/query",
        "/v1/health",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lists {path}");
    }
    let (status, html) = http.text("/docs/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("swagger") && !html.contains("cdn"),
        "docs page is self-contained"
    );
    let (status, js) = http.text("/docs/swagger-initializer.js").await;
    assert!(
        status == 200 && js.contains("/openapi.json"),
        "docs page reads /openapi.json"
    );
}

/// Checks that a raw answer is the problem+json document of `kind` with `status`.
pub fn assert_problem(answer: &(u16, String, Value), status: u16, kind: &str, context: &str) {
    let (got, content_type, doc) = answer;
    assert_eq!(*got, status, "{context}: {doc}");
    assert_eq!(content_type, "application/problem+json", "{context}");
    assert_eq!(
        doc["type"],
        format!("urn:stemedb:problem:{kind}"),
        "{context}: {doc}"
    );
}

/// A minimal raw HTTP helper for status codes and headers the typed client hides.
pub struct Raw {
    base: String,
    http: reqwest::Client,
}

pub fn reqwest_like(base: &str) -> Raw {
    Raw {
        base: base.to_owned(),
        http: crate::harness::http(),
    }
}

impl Raw {
    pub async fn call(&self, method: &str, path: &str) -> (u16, String, Value) {
        self.send(method, path, None).await
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, String, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(b) = body {
            request = request.header("content-type", "application/json").body(b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            content_type,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn text(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_batch_byte_limit_and_the_request_timeout_are_settings() {
    let config = ServerConfig {
        batch_body_bytes_max: 2_000,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let items: Vec<Value> = (0..10)
        .map(|i| claim(8, "s/limit", "p", json!(i), 1.0, "2025-01-01T00:00:00Z"))
        .collect();
    let err = server.client.assert_batch(&items).await.unwrap_err();
    assert_eq!(
        err.problem_type(),
        Some("urn:stemedb:problem:payload-too-large")
    );
    assert_eq!(server.count().await, 0);
    let one = server.client.assert_batch(&items[..1]).await.unwrap();
    assert_eq!(one.accepted, 1, "a batch under the byte limit is accepted");

    // A 1 ms budget cannot cover verifying and fsyncing 200 assertions: the client gets a
    // 503 timeout problem. (The work itself is not cancelled; a retry is idempotent.)
    let config = ServerConfig {
        request_timeout_ms: 1,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let items: Vec<Value> = (0..200)
        .map(|i| claim(9, "s/slow", "p", json!(i), 1.0, "2025-01-01T00:00:00Z"))
        .collect();
    let err = server.client.assert_batch(&items).await.unwrap_err();
    assert_eq!(
        err.problem_type(),
        Some("urn:stemedb:problem:timeout"),
        "{err}"
    );
}

/// Single writes arriving together have their signatures checked as one batch
/// (`verify_batch.rs`); a forged one among them must fail alone, and every valid one be
/// stored durably, whatever batch each lands in.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_single_writes_are_each_judged_by_their_own_signature() {
    let server = TestServer::start().await;
    let writes: Vec<(Value, bool)> = (0..64u8)
        .map(|i| {
            let mut wire = claim(
                10 + i % 6,
                &format!("s/concurrent/{i}"),
                "p",
                json!(i),
                0.5,
                "2025-01-01T00:00:00Z",
            );
            let forged = i % 5 == 3;
            if forged {
                wire["value"] = json!(1000 + u32::from(i));
            }
            (wire, !forged)
        })
        .collect();
    let tasks: Vec<_> = writes
        .iter()
        .map(|(wire, _)| {
            let (client, wire) = (server.client.clone(), wire.clone());
            tokio::spawn(async move { client.assert(&wire).await })
        })
        .collect();
    let mut stored = 0;
    for (task, (wire, valid)) in tasks.into_iter().zip(&writes) {
        let answer = task.await.unwrap();
        let subject = &wire["subject"];
        match (answer, valid) {
            (Ok(ok), true) => {
                assert!(!ok.duplicate && ok.sequence > 0, "{subject}: {ok:?}");
                stored += 1;
            }
            (Err(err), false) => assert_eq!(
                err.problem_type(),
                Some("urn:stemedb:problem:signature-invalid"),
                "{subject}: {err}"
            ),
            (answer, valid) => panic!("{subject} (valid: {valid}) answered {answer:?}"),
        }
    }
    assert_eq!(stored, 51, "13 of the 64 were forged");
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, ServerConfig::default()).await;
    assert_eq!(
        server.count().await,
        51,
        "every acknowledged write survives a restart"
    );
}

/// A single write over 16 KiB is parsed and checked on a blocking thread (`api.rs`,
/// `INLINE_BODY_BYTES_MAX`), a control record too: each path answers as the fast one does.
#[tokio::test(flavor = "multi_thread")]
async fn large_bodies_and_forged_ones_are_judged_off_the_fast_path_alike() {
    let server = TestServer::start().await;
    let big = "x".repeat(20_000);
    let good = claim(40, "s/large", "p", json!(big), 0.5, "2025-01-01T00:00:00Z");
    let mut forged = claim(
        40,
        "s/large/2",
        "p",
        json!(big),
        0.5,
        "2025-01-01T00:00:00Z",
    );
    forged["subject"] = json!("s/large/3");
    let stored = server.client.assert(&good).await.unwrap();
    assert!(!stored.duplicate && stored.sequence > 0, "{stored:?}");
    let again = server.client.assert(&good).await.unwrap();
    assert!(again.duplicate, "a resent large body is found stored");
    let err = server.client.assert(&forged).await.unwrap_err();
    assert_eq!(
        err.problem_type(),
        Some("urn:stemedb:problem:signature-invalid"),
        "{err}"
    );
    assert_eq!(server.count().await, 1);
}
