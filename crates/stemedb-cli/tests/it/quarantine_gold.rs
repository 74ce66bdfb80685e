//! The gold-standard quarantine rule's tolerance for numbers (issue 15, item 5): a low-trust
//! agent's number within `quarantine_gold_tolerance` (relative) of the gold standard agrees
//! with it and stays active; one further off, or a value of another kind, is held.
use serde_json::{Value, json};
use stemedb_server::ServerConfig;

use crate::harness::TestServer;
use crate::truth::{T0, assert_id, rec, stage};

/// A server with `tolerance`, a curator and a gold standard of 81 for drug/g mg.
async fn server_with_gold(tolerance: f64) -> TestServer {
    let mut config = ServerConfig::default();
    config.db.policy.gold_number_tolerance = tolerance;
    let server = TestServer::start_with(config).await;
    crate::truth::gold_standard_of_81(&server.client, "drug/g").await;
    server
}

async fn check(server: &TestServer, tolerance: f64, value: Value, want: &str) {
    let id = assert_id(
        &server.client,
        &rec(5, "eve", "drug/g", "mg", value.clone(), T0, &[]),
    )
    .await;
    let record = stage(&server.client, &id).await;
    assert_eq!(
        record["lifecycle_stage"], want,
        "tolerance {tolerance}, value {value}: {record}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn numbers_within_the_tolerance_agree_with_the_gold_standard() {
    for (tolerance, cases) in [
        (
            0.001,
            vec![
                (json!(81.0), "active"),
                (json!(81.05), "active"), // 0.06 % off
                (json!(80.95), "active"),
                (json!(81.1), "quarantined"), // 0.12 % off
                (json!(325), "quarantined"),
                (json!("81"), "quarantined"), // text, not the number
            ],
        ),
        (
            0.0,
            vec![(json!(81), "active"), (json!(81.05), "quarantined")],
        ),
    ] {
        let server = server_with_gold(tolerance).await;
        for (value, want) in cases {
            check(&server, tolerance, value, want).await;
        }
    }
}
