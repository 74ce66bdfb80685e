//! One rule for references inside a batch (issue 15, item 7): a vote, gold mark, review or
//! retraction may name an assertion that comes earlier in the same batch, as `supersedes`
//! may; it is refused (`target_exists`) when that assertion is not stored, whether it never
//! was, comes later in the batch, or was itself refused.
use serde_json::{Value, json};
use stemedb_client::Client;

use crate::harness::TestServer;
use crate::truth::{T0, gold_standard_of_81, rec, stage};

/// Posts one batch; each item's (status, rule, id).
async fn batch(client: &Client, items: &[Value]) -> Vec<(u16, Option<String>, Option<String>)> {
    let answer = client.assert_batch(items).await.unwrap();
    answer
        .results
        .into_iter()
        .map(|r| (r.status, r.error.and_then(|e| e.rule), r.id))
        .collect()
}

/// The id a wire record will have: the hash of its canonical body.
fn id_of(wire: &Value) -> String {
    let parsed = stemedb::core::SignedAssertion::from_wire(wire.clone(), &Default::default());
    parsed.unwrap().id.to_hex()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_control_record_may_name_an_earlier_item_of_its_batch() {
    let server = TestServer::start().await;
    let c = &server.client;
    gold_standard_of_81(c, "drug/seed").await; // makes "curator" a curator
    let claim = rec(2, "alice", "drug/b", "mg", json!(100), T0, &[]);
    let target = id_of(&claim);
    let vote = rec(3, "bob", &target, "stemedb:vote", json!(1), T0, &[]);
    let gold = rec(
        9,
        "curator",
        &target,
        "stemedb:gold-standard",
        json!(true),
        T0,
        &[],
    );
    let retract = crate::truth::retraction(2, "alice", &target, false, T0);
    let answers = batch(c, &[claim, vote, gold, retract]).await;
    for (i, (status, rule, _)) in answers.iter().enumerate() {
        assert_eq!((*status, rule), (201, &None), "item {i}: {answers:?}");
    }
    let record = stage(c, &target).await;
    assert_eq!(record["lifecycle_stage"], "retracted", "{record}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_control_record_whose_target_is_not_stored_is_refused_by_name() {
    let server = TestServer::start().await;
    let c = &server.client;
    // alice binds key 2; the same agent under key 4 is refused, and so is a vote naming it.
    crate::truth::assert_id(c, &rec(2, "alice", "drug/a", "mg", json!(1), T0, &[])).await;
    let impostor = rec(4, "alice", "drug/b", "mg", json!(2), T0, &[]);
    let later = rec(2, "alice", "drug/c", "mg", json!(3), T0, &[]);
    let votes = |target: &Value| rec(3, "bob", &id_of(target), "stemedb:vote", json!(1), T0, &[]);
    let items = [
        impostor.clone(),
        votes(&impostor), // its target was refused (a key conflict)
        votes(&later),    // its target comes after it
        later.clone(),
    ];
    let answers = batch(c, &items).await;
    let rules: Vec<(u16, Option<&str>)> = answers
        .iter()
        .map(|(status, rule, _)| (*status, rule.as_deref()))
        .collect();
    assert_eq!(
        rules,
        vec![
            (409, None), // agent_key_conflict: a 409 with the bound key, no rule
            (422, Some("target_exists")),
            (422, Some("target_exists")),
            (201, None),
        ],
        "{answers:?}"
    );
}
