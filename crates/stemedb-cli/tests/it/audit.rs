//! Audit export and offline verification: an export carries every record its assertions depend
//! on, verifies with nothing but the file, and any single changed byte is detected.
use serde_json::{Value, json};
use stemedb::core::SplitMix64;
use stemedb::core::audit::verify_export;
use stemedb_client::Client;

use crate::harness::TestServer;
use crate::truth::{assert_id, describe_trial, grant, post, rec};

const T0: &str = "2025-01-01T00:00:00Z";

/// Trust chain root → ann → ben → cat; cat cites a described source; dan derives from cat's
/// claim; a reviewer votes; finally a curator retracts the source with cascade.
async fn scenario(c: &Client) -> (String, String, String) {
    grant(c, "/v1/admin/trust-roots", "root").await;
    grant(c, "/v1/admin/curators", "curator").await;
    for (truster, seed, trustee) in [
        ("root", 10u8, "ann"),
        ("ann", 11, "ben"),
        ("ben", 12, "cat"),
    ] {
        let wire = rec(
            seed,
            truster,
            &format!("agent/{trustee}"),
            "stemedb:trusts",
            json!(0.9),
            T0,
            &[],
        );
        post(c, "/v1/trust", &wire).await;
    }
    describe_trial(c).await;
    let cat = assert_id(
        c,
        &rec(
            13,
            "cat",
            "drug/aspirin",
            "mg",
            json!(81),
            T0,
            &[("sources", json!(["source/TRIAL"]))],
        ),
    )
    .await;
    let dan = assert_id(
        c,
        &rec(
            14,
            "dan",
            "drug/aspirin/derived",
            "mg",
            json!(82),
            T0,
            &[("derived_from", json!([cat]))],
        ),
    )
    .await;
    post(
        c,
        "/v1/vote",
        &rec(15, "reviewer", &cat, "stemedb:vote", json!(1), T0, &[]),
    )
    .await;
    let retraction = rec(
        9,
        "curator",
        "source/TRIAL",
        "stemedb:retracts",
        json!({"reason": "fabricated", "cascade": true}),
        "2025-06-01T00:00:00Z",
        &[],
    );
    let retraction_id = post(c, "/v1/retract", &retraction).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (cat, dan, retraction_id)
}

fn lines(export: &[u8]) -> Vec<Value> {
    export
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_carries_every_dependency_and_verifies_offline() {
    let server = TestServer::start().await;
    let c = &server.client;
    let (cat, dan, retraction) = scenario(c).await;
    let export = c.audit_export(&[("subject", "drug/*")]).await.unwrap();
    let report = verify_export(&export);
    assert!(report.ok(), "{report:?}");
    // cat and dan, then what they rest on: a retraction, a vote, the source's title and the
    // three trust statements of cat's chain.
    assert_eq!(
        (report.assertions, report.records, report.invalid),
        (2, 8, 0),
        "{report:?}"
    );
    let lines = lines(&export);
    let record = |id: &str| {
        lines
            .iter()
            .find(|l| l["record"]["id"] == json!(id))
            .unwrap()
            .clone()
    };
    let cat_line = record(&cat);
    assert_eq!(cat_line["kind"], "assertion");
    assert_eq!(cat_line["record"]["lifecycle_stage"], "retracted");
    assert_eq!(cat_line["record"]["retracted_by"], json!(retraction));
    let predicates: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["record"]["predicate"].as_str())
        .collect();
    for needed in ["stemedb:retracts", "stemedb:vote", "title"] {
        assert!(predicates.contains(&needed), "{needed} in {predicates:?}");
    }
    assert_eq!(
        predicates
            .iter()
            .filter(|p| **p == "stemedb:trusts")
            .count(),
        3,
        "each hop of cat's chain"
    );
    assert!(
        record(&dan)["depends_on"]
            .as_array()
            .unwrap()
            .contains(&json!(cat))
    );

    let before = c
        .audit_export(&[("subject", "drug/*"), ("as_of", "2025-03-01T00:00:00Z")])
        .await
        .unwrap();
    let before_lines = self::lines(&before);
    let cat_then = before_lines
        .iter()
        .find(|l| l["record"]["id"] == json!(cat))
        .unwrap();
    assert_eq!(
        cat_then["record"]["lifecycle_stage"], "active",
        "as_of before the retraction"
    );
    assert!(verify_export(&before).ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_changed_byte_anywhere_in_an_export_fails_verification() {
    let server = TestServer::start().await;
    let c = &server.client;
    scenario(c).await;
    let export = c.audit_export(&[("subject", "drug/*")]).await.unwrap();
    assert!(verify_export(&export).ok());
    let seed = crate::harness::env_number("STEMEDB_AUDIT_SEED").unwrap_or(0x5eed_a0d1);
    println!("audit flip seed {seed} (replay with STEMEDB_AUDIT_SEED={seed})");
    let mut rng = SplitMix64::new(seed);
    let mut copy = export.clone();
    for position in 0..export.len() {
        let mask = (rng.next_u64() % 255 + 1) as u8;
        copy[position] ^= mask;
        let report = verify_export(&copy);
        assert!(
            !report.ok(),
            "seed {seed}: byte {position} ^ {mask:#04x} went unnoticed"
        );
        copy[position] = export[position];
    }
    println!("{} positions changed, each detected", export.len());
}

/// A retraction that was later reinstated is in an export as a dependency, and its envelope
/// names the reinstatement (`retracted_by`): the export must hold that record too, or a clean
/// export fails verification ("references …, which the file does not hold").
#[tokio::test(flavor = "multi_thread")]
async fn an_export_holds_the_reinstatement_of_a_retraction_it_carries() {
    let server = TestServer::start().await;
    let c = &server.client;
    let claim = assert_id(c, &rec(21, "eve", "drug/statin", "mg", json!(20), T0, &[])).await;
    let retract = |target: &str, ts: &str| {
        rec(
            21,
            "eve",
            target,
            "stemedb:retracts",
            json!({"reason": "typo", "cascade": false}),
            ts,
            &[],
        )
    };
    let retraction = post(c, "/v1/retract", &retract(&claim, "2025-02-01T00:00:00Z")).await;
    let retraction_id = retraction["id"].as_str().unwrap().to_owned();
    post(
        c,
        "/v1/retract",
        &retract(&retraction_id, "2025-03-01T00:00:00Z"),
    )
    .await;
    let export = c.audit_export(&[("subject", "drug/*")]).await.unwrap();
    let report = verify_export(&export);
    assert!(report.ok(), "{:?}", report.problems);
    let held: Vec<String> = lines(&export)
        .iter()
        .filter_map(|l| l["record"]["id"].as_str().map(str::to_owned))
        .collect();
    assert!(held.contains(&retraction_id), "the retraction is held");
}
