//! Who may retract by subject (issue 10, item 2): an agent reaches only its own assertions
//! about a subject; the subject's definer also takes the citers along; a curator everything.
use serde_json::json;
use stemedb_client::Client;

use crate::harness::TestServer;
use crate::truth::{T_LATER, T0, assert_id, chain, late_citer, post, rec, retraction, stage};

/// Asserts the lifecycle stage of each named record.
async fn check_stages(c: &Client, case: &str, expected: &[(&str, &String, &str)]) {
    for (label, id, want) in expected {
        let record = stage(c, id).await;
        assert_eq!(
            record["lifecycle_stage"], *want,
            "{case}: {label} should be {want}: {record}"
        );
    }
}

/// Who may retract by subject: an agent reaches only its own assertions about the subject; the
/// agent that defined a source (asserted about it before anyone cited it) also takes the
/// citers along; everything else is a dispute. A newcomer cannot retract others' assertions.
#[tokio::test(flavor = "multi_thread")]
async fn a_subject_retraction_reaches_only_what_its_signer_has_authority_over() {
    // A newcomer posts one assertion about the source, then retracts the source with cascade.
    let server = TestServer::start().await;
    let c = &server.client;
    let chain = chain(c).await;
    let own = assert_id(
        c,
        &rec(7, "mallory", "source/TRIAL", "title", json!("x"), T0, &[]),
    )
    .await;
    let answer = post(
        c,
        "/v1/retract",
        &retraction(7, "mallory", "source/TRIAL", true, T_LATER),
    )
    .await;
    assert_eq!(answer["retracted_count"], 1, "only its own: {answer}");
    let late = late_citer(c).await;
    let mut expected = vec![
        ("the newcomer's own", &own, "retracted"),
        ("the definer's description", &chain.describing, "active"),
        ("a citer", &chain.citing, "active"),
        ("a later citer", &late, "active"),
    ];
    expected.extend(chain.derived.iter().map(|id| ("a derived", id, "active")));
    check_stages(c, "newcomer on a source", &expected).await;

    // A newcomer retracting a data subject that others assert about.
    let mine = assert_id(
        c,
        &rec(
            7,
            "mallory",
            "drug/aspirin/dosage",
            "recommended_mg",
            json!(5000),
            T0,
            &[],
        ),
    )
    .await;
    let answer = post(
        c,
        "/v1/retract",
        &retraction(7, "mallory", "drug/aspirin/dosage", true, T_LATER),
    )
    .await;
    assert_eq!(answer["retracted_count"], 1, "{answer}");
    check_stages(
        c,
        "newcomer on a data subject",
        &[
            ("the newcomer's own", &mine, "retracted"),
            ("another agent's", &chain.citing, "active"),
        ],
    )
    .await;

    // An agent that describes a source only after others cited it is not its definer.
    let cited_first = assert_id(
        c,
        &rec(
            2,
            "alice",
            "drug/x",
            "mg",
            json!(1),
            T0,
            &[("sources", json!(["source/NEW"]))],
        ),
    )
    .await;
    let late_definer = assert_id(
        c,
        &rec(7, "mallory", "source/NEW", "title", json!("mine"), T0, &[]),
    )
    .await;
    post(
        c,
        "/v1/retract",
        &retraction(7, "mallory", "source/NEW", true, T_LATER),
    )
    .await;
    check_stages(
        c,
        "describing after the first citation",
        &[
            ("its own", &late_definer, "retracted"),
            ("the earlier citer", &cited_first, "active"),
        ],
    )
    .await;

    // The source's definer (first to describe it, before any citation) takes the citers along.
    let answer = post(
        c,
        "/v1/retract",
        &retraction(1, "trialco", "source/TRIAL", true, T_LATER),
    )
    .await;
    assert_eq!(answer["disposition"], "retraction", "{answer}");
    let mut expected = vec![
        ("its description", &chain.describing, "retracted"),
        ("a citer", &chain.citing, "retracted"),
        ("a later citer", &late, "retracted"),
        ("the newcomer's description", &own, "retracted"),
    ];
    expected.extend(
        chain
            .derived
            .iter()
            .map(|id| ("a derived", id, "retracted")),
    );
    check_stages(c, "the definer", &expected).await;
}
