//! Custodial signing at the router: unsigned bodies (the pilot document's curl shapes) from a
//! key bound to agents are signed by the server, marked `custodial`, verify offline, and keep
//! their agent's key across restarts; unsigned bodies without a binding are refused.
use serde_json::{Value, json};
use stemedb_server::{MasterKey, ServerConfig};

use crate::harness::{ROOT_KEY, TestServer, verify_record};

async fn post(url: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
    let response = crate::harness::unkeyed()
        .post(format!("{url}{path}"))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn write_key(url: &str, agents: Value) -> String {
    let body = json!({"name": "custodial", "role": "write", "agent_ids": agents});
    let (status, reply) = post(url, "/v1/api-keys", ROOT_KEY, body).await;
    assert_eq!(status, 201, "{reply}");
    reply["key"].as_str().unwrap().to_owned()
}

/// The record as served (custodial records are checked field by field and verified).
async fn record(server: &TestServer, id: &str) -> Value {
    crate::harness::served_record(&server.client, id)
        .await
        .unwrap()
        .expect("stored")
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_writes_from_a_bound_key_are_signed_by_the_server_and_verify() {
    let config = ServerConfig {
        master_key: Some(MasterKey("11".repeat(32))),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config.clone()).await;
    let url = server.url.clone();
    let key = write_key(&url, json!(["fda-clinical-trial", "anecdotal-reports"])).await;

    // The pilot document's curl bodies, as written there.
    let pilot = json!({"concept_path": "drug/aspirin/safety", "predicate": "adverse_event_rate",
        "value": 0.002, "confidence": 0.95, "agent_id": "fda-clinical-trial",
        "sources": ["source/CARDIOVASC_MEGA_TRIAL"]});
    let (status, first) = post(&url, "/v1/assert", &key, pilot).await;
    assert_eq!(status, 201, "{first}");
    let contradiction = json!({"concept_path": "drug/aspirin/safety", "predicate": "adverse_event_rate",
        "value": 0.12, "confidence": 0.7, "agent_id": "anecdotal-reports"});
    let (status, second) = post(&url, "/v1/assert", &key, contradiction).await;
    assert_eq!(status, 201, "{second}");
    let stored = record(&server, first["id"].as_str().unwrap()).await;
    assert_eq!(stored["custodial"], true);
    assert_eq!(stored["subject"], "drug/aspirin/safety");
    assert!(
        verify_record(&stored),
        "a custodial record verifies like any other: {stored}"
    );

    // Votes and trust in their unsigned forms.
    let id = first["id"].as_str().unwrap();
    let vote = json!({"subject": id, "vote": 1, "agent_id": "anecdotal-reports"});
    let (status, reply) = post(&url, "/v1/vote", &key, vote).await;
    assert_eq!(status, 201, "vote: {reply}");
    let trust = json!({"subject": "agent/anecdotal-reports", "weight": 0.5, "agent_id": "fda-clinical-trial"});
    let (status, reply) = post(&url, "/v1/trust", &key, trust).await;
    assert_eq!(status, 201, "trust: {reply}");

    // The pilot's retraction form, by a curator agent the key signs for.
    let curator = write_key(&url, json!(["curator/fda"])).await;
    let (status, _) = post(
        &url,
        "/v1/admin/curators",
        ROOT_KEY,
        json!({"agent_id": "curator/fda"}),
    )
    .await;
    assert_eq!(status, 201);
    let retraction = json!({"concept_path": "source/CARDIOVASC_MEGA_TRIAL",
        "reason": "study_retracted_fabricated_data", "cascade": true});
    let (status, reply) = post(&url, "/v1/retract", &curator, retraction).await;
    assert_eq!(status, 201, "retract: {reply}");
    assert!(reply["retracted_count"].as_u64().unwrap() >= 1, "{reply}");
    let retracted = record(&server, id).await;
    assert_eq!(retracted["lifecycle_stage"], "retracted");

    // The agent keeps its key across a restart (sealed under the master key on disk).
    let public_key = stored["public_key"].clone();
    let dir = server.stop().await;
    let keys = std::fs::read_to_string(dir.path().join("agent-keys.json")).unwrap();
    assert!(
        keys.contains("ciphertext") && !keys.contains("seed"),
        "sealed: {keys}"
    );
    let server = TestServer::start_in(dir, config).await;
    let again = json!({"subject": "drug/aspirin/safety", "predicate": "adverse_event_rate",
        "value": 0.003, "agent_id": "fda-clinical-trial"});
    let (status, reply) = post(&server.url, "/v1/assert", &key, again).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(
        record(&server, reply["id"].as_str().unwrap()).await["public_key"],
        public_key
    );
    let dir = server.stop().await;

    // Another master key does not open the agent keys: the server refuses to start.
    let db = stemedb::Db::open(dir.path(), stemedb::DbConfig::default()).unwrap();
    let wrong = ServerConfig {
        master_key: Some(MasterKey("22".repeat(32))),
        ..ServerConfig::default()
    };
    let refused = stemedb_server::AppState::open(db, wrong)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        refused.contains("agent-keys.json") && refused.contains("master key"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_writes_without_a_binding_are_refused_with_a_clear_error() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let body = json!({"subject": "s/1", "predicate": "p", "value": 1, "agent_id": "agent/a"});
    let unbound = write_key(&url, json!([])).await;
    let (status, reply) = post(&url, "/v1/assert", &unbound, body.clone()).await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["type"], "urn:stemedb:problem:unsigned");
    assert!(
        reply["detail"]
            .as_str()
            .unwrap()
            .contains("custodial signing"),
        "{reply}"
    );
    let other = write_key(&url, json!(["agent/b"])).await;
    let (status, reply) = post(&url, "/v1/assert", &other, body.clone()).await;
    assert_eq!(status, 403, "{reply}");
    assert!(
        reply["detail"].as_str().unwrap().contains("agent/a"),
        "{reply}"
    );
    let (status, reply) = post(
        &url,
        "/v1/retract",
        &unbound,
        json!({"concept_path": "s/1", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(server.count().await, 0, "nothing stored");
}

/// A curator's desk holding a custodial key reviews quarantine like any signer: an unsigned
/// review takes its target and decision from the route (was refused `review_matches_route`,
/// as if the body were wrong).
#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_review_from_a_bound_key_is_signed_and_decides() {
    let config = ServerConfig {
        master_key: Some(MasterKey("22".repeat(32))),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let url = server.url.clone();
    let c = &server.client;
    crate::truth::grant(c, "/v1/admin/curators", "desk").await;
    let key = write_key(&url, json!(["desk"])).await;
    let t0 = "2025-01-01T00:00:00Z";
    let gold = crate::truth::assert_id(
        c,
        &crate::truth::rec(2, "alice", "drug/z", "mg", json!(81), t0, &[]),
    )
    .await;
    let mark = json!({"subject": gold, "value": true, "agent_id": "desk"});
    let (status, reply) = post(&url, "/v1/gold-standard", &key, mark).await;
    assert_eq!(status, 201, "{reply}");
    let held = crate::truth::assert_id(
        c,
        &crate::truth::rec(5, "eve", "drug/z", "mg", json!(325), t0, &[]),
    )
    .await;
    assert_eq!(
        record(&server, &held).await["lifecycle_stage"],
        "quarantined"
    );
    let path = format!("/v1/quarantine/{held}/approve");
    let (status, reply) = post(&url, &path, &key, json!({"agent_id": "desk"})).await;
    assert_eq!(
        (status, &reply["changed_count"]),
        (201, &json!(1)),
        "{reply}"
    );
    let review = record(&server, reply["id"].as_str().unwrap()).await;
    assert_eq!(
        (&review["custodial"], &review["subject"]),
        (&json!(true), &json!(held))
    );
    assert_eq!(record(&server, &held).await["lifecycle_stage"], "active");
    // A body naming another decision than its route is refused, signed or not.
    let (status, reply) = post(
        &url,
        &path.replace("approve", "reject"),
        &key,
        json!({"agent_id": "desk", "value": {"decision": "approve"}}),
    )
    .await;
    assert_eq!(
        (status, &reply["rule"]),
        (422, &json!("review_matches_route")),
        "{reply}"
    );
}
