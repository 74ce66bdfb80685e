//! Truth maintenance's checks over HTTP: quarantine until a curator decides, provenance with
//! checked signatures, the skeptic, control records refused by name when malformed, and truth
//! state derived again from the log giving the same answers. The helpers are `super`'s.
use serde_json::{Value, json};
use stemedb_client::Client;
use stemedb_server::ServerConfig;

use super::{
    T0, assert_id, chain, gold_standard_of_81, ids_of, post, rec, reinstated_chain, stage,
    superseding_dose,
};
use crate::harness::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn quarantine_holds_suspect_assertions_until_a_curator_decides() {
    let mut config = ServerConfig::default();
    config.db.policy.new_subjects_burst_max = 3;
    let server = TestServer::start_with(config).await;
    let c = &server.client;
    gold_standard_of_81(c, "drug/z").await;
    let contra = [
        rec(5, "eve", "drug/z", "mg", json!(325), T0, &[]),
        rec(5, "eve", "drug/z", "mg", json!(650), T0, &[]),
    ];
    let mut held = Vec::new();
    for wire in &contra {
        let id = assert_id(c, wire).await;
        let record = stage(c, &id).await;
        assert_eq!(
            (&record["lifecycle_stage"], &record["quarantine_rule"]),
            (&json!("quarantined"), &json!("low_trust_contradicts_gold"))
        );
        held.push(id);
    }
    let agreeing = assert_id(c, &rec(5, "eve", "drug/z", "mg", json!(81), T0, &[])).await;
    assert_eq!(
        stage(c, &agreeing).await["lifecycle_stage"],
        "active",
        "agreeing is fine"
    );
    let lens = c
        .query(&[("subject", "drug/z"), ("include_retracted", "true")])
        .await
        .unwrap();
    assert!(
        held.iter().all(|id| !ids_of(&lens).contains(id)),
        "quarantined records stay out of lenses"
    );
    let listed = c.get_json("/v1/quarantine", &[]).await.unwrap();
    let listed_ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["record"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed_ids,
        held.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(quarantine_backlog(c).await, 2, "both wait for a decision");

    let review = |id: &str, decision: &str, seed: u8, agent: &str| {
        rec(
            seed,
            agent,
            id,
            "stemedb:review",
            json!({"decision": decision}),
            T0,
            &[],
        )
    };
    let stranger = post(
        c,
        &format!("/v1/quarantine/{}/approve", held[0]),
        &review(&held[0], "approve", 5, "eve"),
    )
    .await;
    assert_eq!(
        (&stranger["effective"], &stranger["changed_count"]),
        (&json!(false), &json!(0))
    );
    let approved = post(
        c,
        &format!("/v1/quarantine/{}/approve", held[0]),
        &review(&held[0], "approve", 9, "curator"),
    )
    .await;
    assert_eq!(approved["changed_count"], 1);
    assert_eq!(stage(c, &held[0]).await["lifecycle_stage"], "active");
    post(
        c,
        &format!("/v1/quarantine/{}/reject", held[1]),
        &review(&held[1], "reject", 9, "curator"),
    )
    .await;
    assert_eq!(
        stage(c, &held[1]).await["lifecycle_stage"],
        "rejected",
        "rejected records are kept"
    );
    assert_eq!(
        quarantine_backlog(c).await,
        0,
        "decided records leave the backlog"
    );
    let (status, problem) = match c
        .post_json(
            &format!("/v1/quarantine/{}/reject", held[1]),
            &review(&held[1], "approve", 9, "curator"),
        )
        .await
    {
        Err(stemedb_client::ClientError::Problem {
            status, problem, ..
        }) => (status, problem),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (status, problem.field.as_deref()),
        (422, Some("value.decision"))
    );
    assert!(
        c.get_json("/v1/quarantine", &[]).await.unwrap()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let mut burst = Vec::new();
    for i in 0..4 {
        let id = assert_id(
            c,
            &rec(6, "spammer", &format!("spam/s{i}"), "p", json!(i), T0, &[]),
        )
        .await;
        burst.push(stage(c, &id).await);
    }
    let stages: Vec<&Value> = burst.iter().map(|r| &r["lifecycle_stage"]).collect();
    assert_eq!(
        stages,
        [
            &json!("active"),
            &json!("active"),
            &json!("active"),
            &json!("quarantined")
        ]
    );
    assert_eq!(burst[3]["quarantine_rule"], "new_subject_burst");
}

#[tokio::test(flavor = "multi_thread")]
async fn provenance_walks_sources_and_derived_from_with_checked_signatures() {
    let server = TestServer::start().await;
    let c = &server.client;
    let chain = chain(c).await;
    let tree = c
        .get_json(
            &format!("/v1/assertions/{}/provenance", chain.derived[2]),
            &[],
        )
        .await
        .unwrap();
    let mut node = &tree;
    for expected in chain.derived.iter().rev().chain([&chain.citing]) {
        assert_eq!(node["assertion"]["id"], json!(expected));
        assert_eq!(node["signature_valid"], true);
        if expected != &chain.citing {
            node = &node["derived_from"][0];
        }
    }
    let source = &node["sources"][0];
    assert_eq!(source["subject"], "source/TRIAL");
    assert_eq!(
        source["assertions"][0]["assertion"]["id"],
        json!(chain.describing)
    );
    assert_eq!(source["assertions"][0]["signature_valid"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_skeptic_reports_clusters_outliers_and_whether_a_group_is_disputed() {
    let server = TestServer::start().await;
    let c = &server.client;
    for (seed, agent, mg) in [(2, "alice", 81), (3, "bob", 81), (4, "carol", 325)] {
        assert_id(
            c,
            &rec(seed, agent, "drug/aspirin", "mg", json!(mg), T0, &[]),
        )
        .await;
    }
    let report = c
        .get_json(
            "/v1/skeptic",
            &[("subject", "drug/aspirin"), ("predicate", "mg")],
        )
        .await
        .unwrap();
    assert_eq!(report["disputed"], true, "{report}");
    assert_eq!(report["weighted_median"], 81);
    let clusters = report["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 2);
    assert_eq!(clusters[0]["agents"], json!(["alice", "bob"]));
    assert_eq!(clusters[1]["agents"], json!(["carol"]));
    assert_eq!(report["outliers"].as_array().unwrap().len(), 1);
    assert_eq!(report["outliers"][0]["value"], 325);
    let calm = c
        .get_json(
            "/v1/skeptic",
            &[("subject", "drug/aspirin"), ("predicate", "none")],
        )
        .await;
    assert!(matches!(
        calm,
        Err(stemedb_client::ClientError::Problem { status: 404, .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_control_records_are_refused_by_name() {
    let server = TestServer::start().await;
    let c = &server.client;
    let target = assert_id(c, &rec(2, "alice", "s/a", "p", json!(1), T0, &[])).await;
    let unknown = "0".repeat(64);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "/v1/vote",
            rec(3, "bob", &target, "stemedb:vote", json!(2), T0, &[]),
            "value",
            "vote",
        ),
        (
            "/v1/vote",
            rec(3, "bob", &unknown, "stemedb:vote", json!(1), T0, &[]),
            "subject",
            "target_exists",
        ),
        (
            "/v1/vote",
            rec(3, "bob", "s/a", "stemedb:vote", json!(1), T0, &[]),
            "subject",
            "assertion_id",
        ),
        (
            "/v1/retract",
            rec(
                3,
                "bob",
                &target,
                "stemedb:retracts",
                json!({"cascade": true}),
                T0,
                &[],
            ),
            "value.reason",
            "reason",
        ),
        (
            "/v1/retract",
            rec(3, "bob", &target, "stemedb:vote", json!(1), T0, &[]),
            "predicate",
            "endpoint_predicate",
        ),
        (
            "/v1/trust",
            rec(3, "bob", "alice", "stemedb:trusts", json!(0.5), T0, &[]),
            "subject",
            "trust_subject",
        ),
        (
            "/v1/trust",
            rec(
                3,
                "bob",
                "agent/alice",
                "stemedb:trusts",
                json!(1.5),
                T0,
                &[],
            ),
            "value",
            "trust_weight",
        ),
        (
            "/v1/assert",
            rec(3, "bob", "s/a", "stemedb:invented", json!(1), T0, &[]),
            "predicate",
            "reserved_predicate",
        ),
        (
            "/v1/epochs",
            rec(
                3,
                "bob",
                "g/x",
                "stemedb:epoch",
                json!({"before": T0, "reason": "r"}),
                T0,
                &[],
            ),
            "subject",
            "epoch_prefix",
        ),
    ];
    for (path, wire, field, rule) in cases {
        match c.post_json(path, &wire).await {
            Err(stemedb_client::ClientError::Problem {
                status, problem, ..
            }) => {
                assert_eq!(
                    (status, problem.field.as_deref(), problem.rule.as_deref()),
                    (422, Some(field), Some(rule)),
                    "{path} {problem:?}"
                );
            }
            other => panic!("{path} {field}: expected a 422, got {other:?}"),
        }
    }
    // Announced over the limit: refused at once, before the body is read (the server then
    // closes the connection, so a client still sending a large body may see a broken pipe
    // instead: only the head is sent here, as in `http_strict.rs`).
    let length = format!(
        "content-length: {}",
        ServerConfig::default().assertion_body_bytes_max + 1
    );
    let key = format!("x-api-key: {}", crate::harness::ROOT_KEY);
    let address = crate::http_strict::addr(&server);
    for path in ["/v1/retract", "/v1/vote", "/v1/trust", "/v1/epochs"] {
        let headers = [
            key.as_str(),
            "content-type: application/json",
            length.as_str(),
        ];
        let request = crate::http_strict::raw("POST", path, &headers, b"");
        let (response, _) = crate::http_strict::send(&address, &request).await;
        assert_eq!(
            crate::limits::status_of(&response),
            413,
            "{path}: {response}"
        );
        assert!(
            response.contains("urn:stemedb:problem:payload-too-large"),
            "{path}: {response}"
        );
    }
    assert_eq!(server.count().await, 1, "nothing refused was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn truth_state_derived_again_from_the_log_gives_the_same_answers() {
    let server = TestServer::start().await;
    let c = &server.client;
    let chain = reinstated_chain(c).await.chain;
    let old = assert_id(c, &rec(2, "alice", "g/x", "dose", json!(10), T0, &[])).await;
    let new = assert_id(c, &superseding_dose(&old)).await;
    let last_vote = post(
        c,
        "/v1/vote",
        &rec(5, "eve", &new, "stemedb:vote", json!(-1), T0, &[]),
    )
    .await;
    let last = last_vote["sequence"].as_u64().unwrap().to_string();
    let mut ids = vec![
        chain.describing.clone(),
        chain.citing.clone(),
        chain.unrelated.clone(),
        old,
        new,
    ];
    ids.extend(chain.derived.iter().cloned());
    // At the latest state, and with only `as_of`, the evidence lens reads the newest
    // reliability table, which a restart makes again; at a sequence it computes the table of
    // its bound, exactly.
    let queries: [&[(&str, &str)]; 3] = [
        &[
            ("subject", "*"),
            ("include_retracted", "true"),
            ("include_superseded", "true"),
            ("lens", "recency"),
        ],
        &[("subject", "*"), ("lens", "consensus")],
        &[
            ("subject", "*"),
            ("as_of", "2025-03-01T00:00:00Z"),
            ("at_sequence", &last),
            ("lens", "evidence"),
        ],
    ];
    let mut before = Vec::new();
    for id in &ids {
        before.push(stage(c, id).await);
    }
    for q in queries {
        before.push(serde_json::to_value(c.query(q).await.unwrap()).unwrap());
    }
    let dir = server.stop().await;
    let mut config = ServerConfig::default();
    config.db.rederive_truth = true;
    let server = TestServer::start_in(dir, config).await;
    let c = &server.client;
    let mut after = Vec::new();
    for id in &ids {
        after.push(stage(c, id).await);
    }
    for q in queries {
        after.push(serde_json::to_value(c.query(q).await.unwrap()).unwrap());
    }
    assert_eq!(
        before, after,
        "stages, votes and lens answers survive a full re-derivation"
    );
    assert_eq!(
        after[6]["lifecycle_stage"], "active",
        "the reinstated chain is active"
    );
}

/// `stemedb_quarantine_backlog` as a scrape shows it (a scrape sets and renders its own
/// server's gauges under one lock, though the recorder is the process's: `observe.rs`).
async fn quarantine_backlog(c: &Client) -> u64 {
    let text = String::from_utf8(c.get_bytes("/metrics", &[]).await.unwrap()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("stemedb_quarantine_backlog "))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(u64::MAX, |v| v as u64)
}
