//! Truth maintenance over HTTP: retraction cascades, disputes, time travel, reinstatement,
//! supersession and epochs, votes, trust chains, the layered lens, quarantine, provenance,
//! the skeptic and control-record validation.
use serde_json::{Value, json};
use stemedb_client::Client;
use stemedb_client::wire::{QueryResponse, Record};
use stemedb_server::ServerConfig;

use crate::harness::{TestServer, body, key, signed, signed_unchecked};

/// A signed record by `agent` (key from `seed`) with extra body fields.
pub fn rec(
    seed: u8,
    agent: &str,
    subject: &str,
    predicate: &str,
    value: Value,
    timestamp: &str,
    extra: &[(&str, Value)],
) -> Value {
    let k = key(seed);
    let mut b = body(&k, agent, subject, predicate, value);
    b.insert("timestamp".into(), json!(timestamp));
    for (field, v) in extra {
        b.insert((*field).into(), v.clone());
    }
    signed_unchecked(b, &k)
}

/// Posts `wire` to `path`, expecting success; returns the answer.
pub async fn post(client: &Client, path: &str, wire: &Value) -> Value {
    match client.post_json(path, wire).await {
        Ok((status, body)) => {
            assert!(status == 201 || status == 200, "{path}: {status} {body}");
            body
        }
        Err(e) => panic!("{path}: {e:?}"),
    }
}

pub async fn assert_id(client: &Client, wire: &Value) -> String {
    post(client, "/v1/assert", wire).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The record as served, for checks of its stage and envelope fields.
pub async fn stage(client: &Client, id: &str) -> Value {
    crate::harness::served_record(client, id)
        .await
        .unwrap()
        .expect("stored")
}

/// Grants the curator role to `curator` (seed 9), stores alice's 81 for `subject` mg and marks
/// it the gold standard.
pub async fn gold_standard_of_81(client: &Client, subject: &str) {
    grant(client, "/v1/admin/curators", "curator").await;
    let gold = assert_id(client, &rec(2, "alice", subject, "mg", json!(81), T0, &[])).await;
    let mark = rec(
        9,
        "curator",
        &gold,
        "stemedb:gold-standard",
        json!(true),
        T0,
        &[],
    );
    post(client, "/v1/gold-standard", &mark).await;
}

pub async fn grant(client: &Client, role_path: &str, agent: &str) {
    let (status, _) = client
        .post_json(role_path, &json!({ "agent_id": agent }))
        .await
        .unwrap();
    assert_eq!(status, 201);
}

/// Ids of the records a query's groups hold, all groups together.
fn ids_of(answer: &QueryResponse<Record>) -> Vec<String> {
    answer.assertions.iter().map(|r| r.id.clone()).collect()
}

pub(crate) fn retraction(seed: u8, agent: &str, target: &str, cascade: bool, ts: &str) -> Value {
    rec(
        seed,
        agent,
        target,
        "stemedb:retracts",
        json!({"reason": "trial data fabricated", "cascade": cascade}),
        ts,
        &[],
    )
}

pub(crate) const T0: &str = "2025-01-01T00:00:00Z";
pub(crate) const T_LATER: &str = "2025-06-01T00:00:00Z";

/// A source, one assertion citing it and a derived_from chain three deep below that.
pub(crate) struct Chain {
    pub(crate) describing: String,
    pub(crate) citing: String,
    pub(crate) derived: Vec<String>,
    pub(crate) unrelated: String,
}

pub(crate) async fn chain(client: &Client) -> Chain {
    let describing = assert_id(
        client,
        &rec(
            1,
            "trialco",
            "source/TRIAL",
            "title",
            json!("Mega trial"),
            T0,
            &[],
        ),
    )
    .await;
    let citing = assert_id(
        client,
        &rec(
            2,
            "alice",
            "drug/aspirin/dosage",
            "recommended_mg",
            json!(81),
            T0,
            &[("sources", json!(["source/TRIAL"]))],
        ),
    )
    .await;
    let mut derived = Vec::new();
    let mut parent = citing.clone();
    for depth in 1..=3 {
        let id = assert_id(
            client,
            &rec(
                3,
                "bob",
                &format!("drug/aspirin/derived{depth}"),
                "mg",
                json!(depth),
                T0,
                &[("derived_from", json!([parent]))],
            ),
        )
        .await;
        derived.push(id.clone());
        parent = id;
    }
    let unrelated = assert_id(
        client,
        &rec(
            2,
            "alice",
            "drug/statin/dosage",
            "recommended_mg",
            json!(20),
            T0,
            &[],
        ),
    )
    .await;
    Chain {
        describing,
        citing,
        derived,
        unrelated,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_retraction_cascades_through_sources_and_derived_from_chains() {
    let server = TestServer::start().await;
    let c = &server.client;
    let chain = chain(c).await;
    grant(c, "/v1/admin/curators", "curator").await;
    let answer = post(
        c,
        "/v1/retract",
        &retraction(9, "curator", "source/TRIAL", true, T_LATER),
    )
    .await;
    assert_eq!(answer["disposition"], "retraction");
    assert_eq!(answer["retracted_count"], 5, "{answer}");
    let retraction_id = answer["id"].as_str().unwrap();
    for id in [&chain.describing, &chain.citing]
        .into_iter()
        .chain(&chain.derived)
    {
        let record = stage(c, id).await;
        assert_eq!(record["lifecycle_stage"], "retracted", "{record}");
        assert_eq!(record["retracted_by"], retraction_id);
        assert_eq!(record["retraction_reason"], "trial data fabricated");
    }
    assert_eq!(
        stage(c, &chain.unrelated).await["lifecycle_stage"],
        "active"
    );

    let lens = c.query(&[("subject", "drug/*")]).await.unwrap();
    assert_eq!(
        ids_of(&lens),
        vec![chain.unrelated.clone()],
        "retracted records leave lenses"
    );
    let all = c
        .query(&[("subject", "drug/*"), ("include_retracted", "true")])
        .await
        .unwrap();
    assert_eq!(ids_of(&all).len(), 5, "include_retracted brings them back");

    let late = assert_id(
        c,
        &rec(
            4,
            "carol",
            "drug/aspirin/late",
            "mg",
            json!(1),
            T_LATER,
            &[("sources", json!(["source/TRIAL"]))],
        ),
    )
    .await;
    let late_child = assert_id(
        c,
        &rec(
            4,
            "carol",
            "drug/aspirin/late_child",
            "mg",
            json!(2),
            T_LATER,
            &[("derived_from", json!([chain.derived[2]]))],
        ),
    )
    .await;
    for id in [late, late_child] {
        assert_eq!(
            stage(c, &id).await["lifecycle_stage"],
            "retracted",
            "a record resting on a retracted source or ancestor arrives retracted"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retraction_by_neither_author_nor_curator_is_only_a_dispute() {
    let server = TestServer::start().await;
    let c = &server.client;
    let chain = chain(c).await;
    let answer = post(
        c,
        "/v1/retract",
        &retraction(7, "mallory", &chain.citing, true, T_LATER),
    )
    .await;
    assert_eq!(
        (
            &answer["effective"],
            &answer["disposition"],
            &answer["retracted_count"]
        ),
        (&json!(false), &json!("dispute"), &json!(0))
    );
    let record = stage(c, &chain.citing).await;
    assert_eq!(record["lifecycle_stage"], "active");
    assert_eq!(
        record["votes"],
        json!({"up": 0, "down": 1}),
        "a dispute counts as a down-vote"
    );
    let subject_dispute = post(
        c,
        "/v1/retract",
        &retraction(7, "mallory", "source/TRIAL", true, T_LATER),
    )
    .await;
    assert_eq!(subject_dispute["disposition"], "dispute");
    for id in chain.derived.iter().chain([&chain.describing]) {
        assert_eq!(stage(c, id).await["lifecycle_stage"], "active");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_before_a_retraction_see_the_assertions_active() {
    let server = TestServer::start().await;
    let c = &server.client;
    let chain = chain(c).await;
    let before = stage(c, &chain.unrelated).await;
    let known_at = before["recorded_at"].as_str().unwrap().to_owned();
    let at_sequence = before["sequence"].to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    post(
        c,
        "/v1/retract",
        &retraction(2, "alice", &chain.citing, true, T_LATER),
    )
    .await;
    let subject = [
        ("subject", "drug/aspirin/dosage"),
        ("predicate", "recommended_mg"),
    ];
    let now = c.query(&subject).await.unwrap();
    assert!(now.groups.is_empty(), "retracted now: {now:?}");
    for (name, value) in [
        ("as_of", "2025-03-01T00:00:00Z"),
        ("known_at", known_at.as_str()),
        ("at_sequence", at_sequence.as_str()),
    ] {
        let mut params = subject.to_vec();
        params.push((name, value));
        let then = c.query(&params).await.unwrap();
        let winner = &then.groups[0].winner;
        assert_eq!(winner.id, chain.citing, "{name}: {then:?}");
        assert_eq!(winner.lifecycle_stage, "active", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retracting_a_retraction_reinstates_what_it_retracted() {
    let server = TestServer::start().await;
    let c = &server.client;
    let chain = chain(c).await;
    grant(c, "/v1/admin/curators", "curator").await;
    let by_author = post(
        c,
        "/v1/retract",
        &retraction(2, "alice", &chain.citing, true, T_LATER),
    )
    .await;
    assert_eq!(by_author["retracted_count"], 4);
    let by_curator = post(
        c,
        "/v1/retract",
        &retraction(9, "curator", &chain.derived[2], false, T_LATER),
    )
    .await;
    assert_eq!(by_curator["retracted_count"], 0, "already retracted");
    let reinstate = rec(
        2,
        "alice",
        by_author["id"].as_str().unwrap(),
        "stemedb:retracts",
        json!({"reason": "the data was re-audited"}),
        "2025-07-01T00:00:00Z",
        &[],
    );
    let answer = post(c, "/v1/retract", &reinstate).await;
    assert_eq!(answer["disposition"], "reinstatement");
    assert_eq!(answer["reinstated_count"], 3, "{answer}");
    for id in [&chain.citing, &chain.derived[0], &chain.derived[1]] {
        assert_eq!(stage(c, id).await["lifecycle_stage"], "active");
    }
    let still = stage(c, &chain.derived[2]).await;
    assert_eq!(
        (&still["lifecycle_stage"], &still["retracted_by"]),
        (&json!("retracted"), &by_curator["id"]),
        "the curator's own retraction still stands"
    );
    assert_eq!(
        stage(c, by_author["id"].as_str().unwrap()).await["lifecycle_stage"],
        "retracted",
        "the reinstated retraction is itself retracted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn supersedes_from_the_same_agent_or_a_curator_hides_the_older_assertion() {
    let server = TestServer::start().await;
    let c = &server.client;
    let old = assert_id(c, &rec(2, "alice", "g/x", "dose", json!(10), T0, &[])).await;
    let other = rec(
        5,
        "eve",
        "g/x",
        "dose",
        json!(30),
        T0,
        &[("supersedes", json!(old))],
    );
    post(c, "/v1/assert", &other).await;
    assert_eq!(
        stage(c, &old).await["lifecycle_stage"],
        "active",
        "a stranger cannot supersede"
    );
    let new = rec(
        2,
        "alice",
        "g/x",
        "dose",
        json!(20),
        T_LATER,
        &[("supersedes", json!(old))],
    );
    let new_id = assert_id(c, &new).await;
    let record = stage(c, &old).await;
    assert_eq!(
        (&record["lifecycle_stage"], &record["superseded_by"]),
        (&json!("superseded"), &json!(new_id))
    );
    let lens = c
        .query(&[("subject", "g/x"), ("lens", "consensus")])
        .await
        .unwrap();
    assert!(!ids_of(&lens).contains(&old));
    let all = c
        .query(&[("subject", "g/x"), ("include_superseded", "true")])
        .await
        .unwrap();
    assert!(ids_of(&all).contains(&old));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_epoch_supersedes_everything_valid_before_it_under_a_prefix() {
    let server = TestServer::start().await;
    let c = &server.client;
    let k = key(2);
    let items: Vec<Value> = (0..1_200)
        .map(|i| {
            let mut b = body(
                &k,
                "alice",
                &format!("guideline/bp/item{i}"),
                "target",
                json!(i),
            );
            b.insert("timestamp".into(), json!(T0));
            signed(b, &k)
        })
        .collect();
    let batch = c.assert_batch(&items).await.unwrap();
    assert_eq!(batch.accepted, 1_200);
    let after = assert_id(
        c,
        &rec(
            2,
            "alice",
            "guideline/bp/new",
            "target",
            json!(1),
            T_LATER,
            &[],
        ),
    )
    .await;
    let outside = assert_id(
        c,
        &rec(2, "alice", "guideline/other/a", "target", json!(1), T0, &[]),
    )
    .await;
    let epoch = rec(
        9,
        "curator",
        "guideline/bp/",
        "stemedb:epoch",
        json!({"before": "2025-03-01T00:00:00Z", "reason": "2025 guideline"}),
        "2025-03-01T00:00:00Z",
        &[],
    );
    let refused = post(c, "/v1/epochs", &epoch).await;
    assert_eq!(
        (&refused["effective"], &refused["changed_count"]),
        (&json!(false), &json!(0)),
        "only curators"
    );
    grant(c, "/v1/admin/curators", "curator").await;
    let epoch = rec(
        9,
        "curator",
        "guideline/bp/",
        "stemedb:epoch",
        json!({"before": "2025-03-01T00:00:00Z", "reason": "2025 guideline, take 2"}),
        "2025-03-01T00:00:00Z",
        &[],
    );
    let answer = post(c, "/v1/epochs", &epoch).await;
    assert_eq!(answer["changed_count"], 1_200, "{answer}");
    let visible =
        crate::harness::all_pages(c, &[("subject", "guideline/*"), ("limit", "1000")]).await;
    let ids: Vec<String> = visible.iter().flat_map(ids_of).collect();
    assert_eq!(
        ids.len(),
        2,
        "only the post-epoch and out-of-prefix records remain; control records are not data"
    );
    assert!(ids.contains(&after) && ids.contains(&outside));
    let late_old = assert_id(
        c,
        &rec(2, "alice", "guideline/bp/late", "target", json!(5), T0, &[]),
    )
    .await;
    let record = stage(c, &late_old).await;
    assert_eq!(
        (&record["lifecycle_stage"], &record["superseded_by"]),
        (&json!("superseded"), &answer["id"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn votes_change_the_consensus_winner_and_a_later_vote_replaces_an_earlier_one() {
    let server = TestServer::start().await;
    let c = &server.client;
    let red_a = assert_id(
        c,
        &rec(2, "alice", "paint/door", "colour", json!("red"), T0, &[]),
    )
    .await;
    assert_id(
        c,
        &rec(3, "bob", "paint/door", "colour", json!("red"), T0, &[]),
    )
    .await;
    let blue = assert_id(
        c,
        &rec(4, "carol", "paint/door", "colour", json!("blue"), T0, &[]),
    )
    .await;
    let group = [
        ("subject", "paint/door"),
        ("predicate", "colour"),
        ("lens", "consensus"),
    ];
    let before = c.query(&group).await.unwrap();
    assert_eq!(before.groups[0].winner.body.value, "red");
    grant(c, "/v1/admin/trust-roots", "reviewer").await;
    let vote = |target: &str, v: i64, ts: &str| {
        rec(8, "reviewer", target, "stemedb:vote", json!(v), ts, &[])
    };
    post(c, "/v1/vote", &vote(&blue, -1, T0)).await;
    post(c, "/v1/vote", &vote(&blue, 1, T_LATER)).await;
    post(c, "/v1/vote", &vote(&red_a, -1, T_LATER)).await;
    assert_eq!(
        stage(c, &blue).await["votes"],
        json!({"up": 1, "down": 0}),
        "the later vote replaced the earlier"
    );
    let after = c.query(&group).await.unwrap();
    assert_eq!(after.groups[0].winner.body.value, "blue", "{after:?}");
    let mut then = group.to_vec();
    then.push(("as_of", "2025-03-01T00:00:00Z"));
    let earlier = c.query(&then).await.unwrap();
    assert_eq!(
        earlier.groups[0].winner.body.value, "red",
        "votes are time-travel aware"
    );
}

async fn trust_chain(c: &Client) -> Vec<String> {
    grant(c, "/v1/admin/trust-roots", "root").await;
    let hops = [
        ("root", 10u8, "ann", 1.0),
        ("ann", 11, "ben", 1.0),
        ("ben", 12, "cat", 0.9),
    ];
    let mut ids = Vec::new();
    for (truster, seed, trustee, weight) in hops {
        let wire = rec(
            seed,
            truster,
            &format!("agent/{trustee}"),
            "stemedb:trusts",
            json!(weight),
            T0,
            &[],
        );
        ids.push(
            post(c, "/v1/trust", &wire).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_hop_trust_chain_is_reported_for_the_authority_winner() {
    let server = TestServer::start().await;
    let c = &server.client;
    assert_id(
        c,
        &rec(
            13,
            "cat",
            "drug/x",
            "mg",
            json!(5),
            T0,
            &[("confidence", json!(0.9))],
        ),
    )
    .await;
    assert_id(c, &rec(14, "dan", "drug/x", "mg", json!(50), T0, &[])).await;
    let group = [
        ("subject", "drug/x"),
        ("predicate", "mg"),
        ("lens", "authority"),
    ];
    let untrusted = c.query(&group).await.unwrap();
    assert_eq!(
        untrusted.groups[0].winner.body.value, 50,
        "equal default trust: confidence decides"
    );
    let before_chain = untrusted.groups[0].winner.sequence.to_string();
    trust_chain(c).await;
    let answer = c.query(&group).await.unwrap();
    let g = &answer.groups[0];
    assert_eq!(g.winner.body.value, 5, "{answer:?}");
    assert_eq!(g.trust_chain_depth, Some(Some(3)));
    let path = ["root", "ann", "ben", "cat"].map(str::to_owned);
    assert_eq!(g.trust_path.as_deref(), Some(&path[..]));
    let expected = 0.9f64.powi(3) * 0.9;
    let trust = g.trust.expect("the authority lens reports trust");
    assert!((trust - expected).abs() < 1e-12, "{g:?}");
    let agent = c.get_json("/v1/agents/cat", &[]).await.unwrap();
    assert_eq!(
        (&agent["trust_chain_depth"], &agent["record_count"]),
        (&json!(3), &json!(1))
    );
    assert_eq!(agent["public_key"], json!(key(13).public_key().to_hex()));
    let mut then = group.to_vec();
    then.push(("at_sequence", before_chain.as_str()));
    let past = c.query(&then).await.unwrap();
    assert_eq!(
        past.groups[0].winner.body.value, 50,
        "trust is read as of the query's time"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_layered_lens_takes_gold_then_authority_then_consensus() {
    let server = TestServer::start().await;
    let c = &server.client;
    let low = assert_id(c, &rec(2, "alice", "drug/y", "mg", json!(10), T0, &[])).await;
    assert_id(c, &rec(3, "bob", "drug/y", "mg", json!(20), T0, &[])).await;
    assert_id(c, &rec(4, "carol", "drug/y", "mg", json!(20), T0, &[])).await;
    assert_id(c, &rec(13, "cat", "drug/y", "mg", json!(30), T0, &[])).await;
    let group = [
        ("subject", "drug/y"),
        ("predicate", "mg"),
        ("lens", "layered"),
    ];
    let decided = |a: &QueryResponse<Record>| {
        (
            json!(a.groups[0].decided_by),
            a.groups[0].winner.body.value.clone(),
        )
    };
    assert_eq!(
        decided(&c.query(&group).await.unwrap()),
        (json!("consensus"), json!(20))
    );
    trust_chain(c).await;
    assert_eq!(
        decided(&c.query(&group).await.unwrap()),
        (json!("authority"), json!(30))
    );
    grant(c, "/v1/admin/curators", "curator").await;
    post(
        c,
        "/v1/gold-standard",
        &rec(
            9,
            "curator",
            &low,
            "stemedb:gold-standard",
            json!(true),
            T0,
            &[],
        ),
    )
    .await;
    let answer = c.query(&group).await.unwrap();
    assert_eq!(
        decided(&answer),
        (json!("gold_standard"), json!(10)),
        "{answer:?}"
    );
    assert!(answer.groups[0].explanation.contains("gold-standard layer"));
}

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
    let chain = chain(c).await;
    grant(c, "/v1/admin/curators", "curator").await;
    let by_author = post(
        c,
        "/v1/retract",
        &retraction(2, "alice", &chain.citing, true, T_LATER),
    )
    .await;
    post(
        c,
        "/v1/retract",
        &retraction(9, "curator", &chain.derived[2], false, T_LATER),
    )
    .await;
    let reinstate = rec(
        2,
        "alice",
        by_author["id"].as_str().unwrap(),
        "stemedb:retracts",
        json!({"reason": "re-audited"}),
        "2025-07-01T00:00:00Z",
        &[],
    );
    post(c, "/v1/retract", &reinstate).await;
    let old = assert_id(c, &rec(2, "alice", "g/x", "dose", json!(10), T0, &[])).await;
    let new = assert_id(
        c,
        &rec(
            2,
            "alice",
            "g/x",
            "dose",
            json!(20),
            T_LATER,
            &[("supersedes", json!(old))],
        ),
    )
    .await;
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
