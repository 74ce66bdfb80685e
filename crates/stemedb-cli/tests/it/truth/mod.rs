//! Truth maintenance over HTTP: retraction cascades, disputes, time travel, reinstatement,
//! supersession and epochs, votes, trust chains and the layered lens; the helpers every truth
//! test uses. Quarantine, provenance, the skeptic, control-record validation and re-derivation
//! are in `integrity.rs`.
use serde_json::{Value, json};
use stemedb_client::Client;
use stemedb_client::wire::{QueryResponse, Record};

use crate::harness::{TestServer, body, key, signed, signed_unchecked};

mod integrity;

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
pub(crate) fn ids_of(answer: &QueryResponse<Record>) -> Vec<String> {
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

/// trialco's description of `source/TRIAL`, the source every chain's citer cites.
pub(crate) async fn describe_trial(client: &Client) -> String {
    let title = rec(
        1,
        "trialco",
        "source/TRIAL",
        "title",
        json!("Mega trial"),
        T0,
        &[],
    );
    assert_id(client, &title).await
}

/// carol's record citing `source/TRIAL`, stored at `T_LATER`: a citer arriving after whatever
/// happened to the source.
pub(crate) async fn late_citer(client: &Client) -> String {
    let sources = [("sources", json!(["source/TRIAL"]))];
    let late = rec(
        4,
        "carol",
        "drug/aspirin/late",
        "mg",
        json!(1),
        T_LATER,
        &sources,
    );
    assert_id(client, &late).await
}

/// alice's dose of `g/x` at `T_LATER` that supersedes `old`.
pub(crate) fn superseding_dose(old: &str) -> Value {
    let supersedes = [("supersedes", json!(old))];
    rec(2, "alice", "g/x", "dose", json!(20), T_LATER, &supersedes)
}

/// A source, one assertion citing it and a derived_from chain three deep below that.
pub(crate) struct Chain {
    pub(crate) describing: String,
    pub(crate) citing: String,
    pub(crate) derived: Vec<String>,
    pub(crate) unrelated: String,
}

pub(crate) async fn chain(client: &Client) -> Chain {
    let describing = describe_trial(client).await;
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

/// The chain retracted by its author with cascade, its deepest record retracted again by a
/// curator, then the author's retraction retracted in turn (a reinstatement): the answers to
/// the three.
pub(crate) struct Reinstated {
    pub(crate) chain: Chain,
    pub(crate) by_author: Value,
    pub(crate) by_curator: Value,
    pub(crate) reinstatement: Value,
}

pub(crate) async fn reinstated_chain(client: &Client) -> Reinstated {
    let chain = chain(client).await;
    grant(client, "/v1/admin/curators", "curator").await;
    let by_author = post(
        client,
        "/v1/retract",
        &retraction(2, "alice", &chain.citing, true, T_LATER),
    )
    .await;
    let by_curator = post(
        client,
        "/v1/retract",
        &retraction(9, "curator", &chain.derived[2], false, T_LATER),
    )
    .await;
    let reinstate = rec(
        2,
        "alice",
        by_author["id"].as_str().unwrap(),
        "stemedb:retracts",
        json!({"reason": "the data was re-audited"}),
        "2025-07-01T00:00:00Z",
        &[],
    );
    let reinstatement = post(client, "/v1/retract", &reinstate).await;
    Reinstated {
        chain,
        by_author,
        by_curator,
        reinstatement,
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

    let late = late_citer(c).await;
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
    let Reinstated {
        chain,
        by_author,
        by_curator,
        reinstatement: answer,
    } = reinstated_chain(c).await;
    assert_eq!(by_author["retracted_count"], 4);
    assert_eq!(by_curator["retracted_count"], 0, "already retracted");
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
    let new = superseding_dose(&old);
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
