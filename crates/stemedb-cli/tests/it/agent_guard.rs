//! The per-agent write quota and circuit breaker (issue 4 §4–5), over loopback HTTP: one
//! agent is refused while others write on, the breaker shows at `GET /v1/agents/{id}`, an
//! admin resets it (audited), and a cooldown ends by itself.
use std::time::Duration;

use serde_json::{Value, json};
use stemedb_server::ServerConfig;
use stemedb_server::agent_guard::AgentGuardConfig;

use crate::harness::{TestServer, claim, http};

fn forged(seed: u8, n: u32) -> Value {
    let mut wire = claim(seed, "guard/s", "p", json!(n), 1.0, "2025-01-01T00:00:00Z");
    wire["value"] = json!(n + 1_000); // the signature no longer covers the body
    wire
}

async fn post(
    server: &TestServer,
    path: &str,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = http()
        .post(format!("{}{path}", server.url))
        .json(body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.json().await.unwrap())
}

async fn agent(server: &TestServer, id: &str) -> Value {
    let url = format!("{}/v1/agents/{}", server.url, id.replace('/', "%2F"));
    http().get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_with_too_many_failed_writes_is_refused_until_reset_or_cooldown() {
    let config = ServerConfig {
        agent_guard: AgentGuardConfig {
            failures_max: 3,
            // Long enough for the checks of an open circuit below (two writes among them) on
            // a loaded machine; at 1.5 s they could outlast it.
            cooldown_ms: 5_000,
            ..AgentGuardConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let good = |n: u32| claim(81, "guard/s", "p", json!(n), 1.0, "2025-01-01T00:00:00Z");
    let (status, _, first) = post(&server, "/v1/assert", &good(0)).await;
    assert_eq!(status, 201);
    for n in 0..3 {
        assert_eq!(
            post(&server, "/v1/assert", &forged(81, n)).await.0,
            422,
            "failure {n}"
        );
    }
    assert_eq!(
        agent(&server, "agent/81").await["circuit"]["state"],
        "closed",
        "3 failures: at the limit"
    );
    assert_eq!(
        post(&server, "/v1/assert", &forged(81, 3)).await.0,
        422,
        "the failure past the limit"
    );
    let (status, headers, problem) = post(&server, "/v1/assert", &good(1)).await;
    assert_eq!(status, 429, "{problem}");
    assert_eq!(problem["type"], "urn:stemedb:problem:agent-circuit-open");
    assert_eq!(problem["agent_id"], "agent/81");
    assert!(headers.contains_key("retry-after"));
    // Control records of the agent are refused too; other agents write on.
    let vote = claim(
        81,
        first["id"].as_str().unwrap(),
        "stemedb:vote",
        json!(1),
        1.0,
        "2025-01-01T00:00:00Z",
    );
    assert_eq!(post(&server, "/v1/vote", &vote).await.0, 429);
    assert_eq!(
        post(
            &server,
            "/v1/assert",
            &claim(82, "guard/s", "p", json!(1), 1.0, "2025-01-01T00:00:00Z")
        )
        .await
        .0,
        201
    );
    let shown = agent(&server, "agent/81").await;
    assert_eq!(shown["circuit"]["state"], "open", "{shown}");
    assert_eq!(shown["circuit"]["opened_total"], 1);

    // Reset is admin only, audited, and lets the agent write again.
    let reset = format!("/v1/admin/agents/{}/circuit/reset", "agent%2F81");
    let writer = create_key(&server, "write").await;
    let refused = crate::harness::unkeyed()
        .post(format!("{}{reset}", server.url))
        .header("x-api-key", &writer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let (status, _, reply) = post(&server, &reset, &json!({})).await;
    assert_eq!(
        (status, reply["was_open"].clone()),
        (200, json!(true)),
        "{reply}"
    );
    assert_eq!(post(&server, "/v1/assert", &good(2)).await.0, 201);
    let audit: Value = http()
        .get(format!("{}/v1/admin/audit", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit.to_string().contains("agent.circuit_reset"), "{audit}");

    // Tripped again, it closes by itself after the cooldown.
    for n in 10..14 {
        post(&server, "/v1/assert", &forged(81, n)).await;
    }
    assert_eq!(post(&server, "/v1/assert", &good(3)).await.0, 429);
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    assert_eq!(
        post(&server, "/v1/assert", &good(4)).await.0,
        201,
        "after the cooldown"
    );
}

async fn create_key(server: &TestServer, role: &str) -> String {
    let (status, _, reply) = post(
        server,
        "/v1/api-keys",
        &json!({"name": "guard", "role": role}),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    reply["key"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_over_its_write_quota_gets_429_while_other_agents_write_on() {
    let config = ServerConfig {
        agent_guard: AgentGuardConfig {
            write_rate_per_sec: 1,
            write_burst: 5,
            ..AgentGuardConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let of =
        |seed: u8, n: usize| claim(seed, "quota/s", "p", json!(n), 1.0, "2025-01-01T00:00:00Z");
    // A batch of 6 from one agent (past the burst of 5) is refused for that agent only.
    let mixed: Vec<Value> = (0..6).map(|n| of(91, n)).chain([of(92, 0)]).collect();
    let reply = server.client.assert_batch(&mixed).await.unwrap();
    assert_eq!((reply.accepted, reply.rejected), (1, 6), "{reply:?}");
    assert_eq!(
        reply.results[0].error.as_ref().map(|e| e.kind.as_str()),
        Some("urn:stemedb:problem:agent-quota")
    );
    assert_eq!(reply.results[6].status, 201);
    // The burst itself (5) goes through; one more is refused with the wait.
    let five: Vec<Value> = (10..15).map(|n| of(93, n)).collect();
    assert_eq!(server.client.assert_batch(&five).await.unwrap().accepted, 5);
    let (status, headers, problem) = post(&server, "/v1/assert", &of(93, 15)).await;
    assert_eq!(status, 429, "{problem}");
    assert_eq!(problem["type"], "urn:stemedb:problem:agent-quota");
    assert_eq!(headers["ratelimit-limit"], "1");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        post(&server, "/v1/assert", &of(94, 0)).await.0,
        201,
        "another agent"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        post(&server, "/v1/assert", &of(93, 16)).await.0,
        201,
        "a second later"
    );
}
