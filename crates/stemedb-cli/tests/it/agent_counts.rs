//! `GET /v1/agents/{id}`'s `record_count`: exact after every write, for agents whose names
//! share a prefix, and after a restart, while each request counts only the records written
//! since the one before it (`AgentCounts` in the store).
use std::collections::HashMap;

use serde_json::json;
use stemedb_client::Client;
use stemedb_server::ServerConfig;

use crate::harness::TestServer;
use crate::truth::{T0, assert_id, rec};

/// Asserts that every agent in `expected` has that many records.
async fn check(c: &Client, expected: &HashMap<&str, u64>) {
    for (agent, records) in expected {
        let answer = c
            .get_json(&format!("/v1/agents/{agent}"), &[])
            .await
            .unwrap();
        assert_eq!(answer["record_count"], json!(records), "{agent}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn record_counts_follow_every_write_and_a_restart() {
    let server = TestServer::start().await;
    // (agent, key seed, records written in this step): each step writes, then asks for every
    // written agent's count twice, so that the later answers come from a kept count plus the
    // records since.
    let steps = [
        ("cat", 20, 3),
        ("cat2", 21, 2),
        ("cat", 20, 4),
        ("cat2", 21, 1),
    ];
    let mut expected = HashMap::new();
    for (step, (agent, seed, records)) in steps.into_iter().enumerate() {
        for i in 0..records {
            let subject = format!("count/{step}/{i}");
            let wire = rec(seed, agent, &subject, "p", json!(i), T0, &[]);
            assert_id(&server.client, &wire).await;
        }
        *expected.entry(agent).or_default() += records;
        check(&server.client, &expected).await;
        check(&server.client, &expected).await;
    }
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, ServerConfig::default()).await;
    check(&server.client, &expected).await;
}
