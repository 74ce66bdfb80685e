//! Injected faults: a failing fsync makes the writer fail-stop — the write in flight and every
//! later one get 503, reads go on, and everything acknowledged before survives a restart.
use serde_json::json;
use stemedb_client::ClientError;
use stemedb_server::ServerConfig;

use crate::harness::{TestServer, claim};

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_fsync_stops_acknowledging_and_keeps_what_was_acknowledged() {
    let mut config = ServerConfig::default();
    config.db.fail_fsync_after_commits = Some(3);
    let server = TestServer::start_with(config).await;
    let c = &server.client;
    let wire = |i: i64| {
        claim(
            1,
            &format!("fault/s{i}"),
            "p",
            json!(i),
            1.0,
            "2025-01-01T00:00:00Z",
        )
    };
    let mut acknowledged = Vec::new();
    for i in 0..3 {
        acknowledged.push(c.assert(&wire(i)).await.unwrap().id);
    }
    for i in 3..5 {
        match c.assert(&wire(i)).await {
            Err(ClientError::Problem { status, kind, .. }) => {
                assert_eq!(
                    (status, kind.as_str()),
                    (503, "urn:stemedb:problem:storage-unavailable"),
                    "write {i}"
                );
            }
            other => panic!("write {i} after the fsync failure: {other:?}"),
        }
    }
    for id in &acknowledged {
        assert!(c.get(id).await.unwrap().is_some(), "reads go on");
    }
    assert!(c.health().await.is_ok());
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, ServerConfig::default()).await;
    for id in &acknowledged {
        let record = crate::harness::served_record(&server.client, id)
            .await
            .unwrap();
        assert!(
            record.is_some_and(|r| crate::harness::verify_record(&r)),
            "acknowledged {id} survives"
        );
    }
    let again = server.client.assert(&wire(3)).await.unwrap();
    assert!(
        again.status == 201 || again.duplicate,
        "the refused write can be sent again"
    );
    assert!(server.count().await >= 4);
}
