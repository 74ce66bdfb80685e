//! Queries over HTTP: response shape, lenses, time travel, prefixes, paging, errors.
use serde_json::{Value, json};

use crate::api::reqwest_like;
use crate::harness::{TestServer, all_pages, claim};

async fn seed_dosage(server: &TestServer) {
    for (seed, value, confidence, timestamp) in [
        (11, 81, 0.99, "2019-06-01T00:00:00Z"),
        (12, 160, 0.9, "2021-03-01T00:00:00Z"),
        (13, 160, 0.9, "2022-05-01T00:00:00Z"),
        (14, 325, 0.5, "2025-09-01T00:00:00Z"),
    ] {
        let wire = claim(
            seed,
            "drug/aspirin/dosage",
            "recommended_mg",
            json!(value),
            confidence,
            timestamp,
        );
        server.client.assert(&wire).await.unwrap();
    }
    server
        .client
        .assert(&claim(
            11,
            "drug/ibuprofen/dosage",
            "recommended_mg",
            json!(400),
            0.9,
            "2020-01-01T00:00:00Z",
        ))
        .await
        .unwrap();
}

/// The answer as served: these tests check the documented JSON shape itself.
async fn query(server: &TestServer, params: &[(&str, &str)]) -> Value {
    server.client.get_json("/v1/query", params).await.unwrap()
}

fn winner(answer: &Value) -> Value {
    answer["groups"][0]["winner"]["value"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_response_groups_rank_and_flatten_as_documented() {
    let server = TestServer::start().await;
    seed_dosage(&server).await;
    let answer = query(
        &server,
        &[
            ("subject", "drug/aspirin/dosage"),
            ("predicate", "recommended_mg"),
            ("lens", "authority"),
        ],
    )
    .await;
    assert_eq!(answer["lens"], "authority");
    let group = &answer["groups"][0];
    assert_eq!(
        (group["subject"].as_str(), group["predicate"].as_str()),
        (Some("drug/aspirin/dosage"), Some("recommended_mg"))
    );
    assert_eq!(group["winner"], group["assertions"][0]);
    assert_eq!(
        answer["assertions"], group["assertions"],
        "top-level list is the groups' lists in order"
    );
    assert_eq!(group["assertions"].as_array().unwrap().len(), 4);
    assert!(group["conflict_score"].as_f64().unwrap() > 0.0);
    assert!(group["explanation"].as_str().unwrap().contains("authority"));
    assert!(answer["next_cursor"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn lenses_and_time_travel_change_the_answer() {
    let server = TestServer::start().await;
    seed_dosage(&server).await;
    let q = |lens: &'static str, as_of: Option<&'static str>| {
        let mut p = vec![
            ("subject", "drug/aspirin/dosage"),
            ("predicate", "recommended_mg"),
            ("lens", lens),
        ];
        if let Some(t) = as_of {
            p.push(("as_of", t));
        }
        p
    };
    for (lens, as_of, expected) in [
        ("recency", None, json!(325)),
        ("authority", None, json!(81)),
        ("consensus", None, json!(160)),
        ("conflict", None, json!(81)),
        ("recency", Some("2020-01-01T00:00:00Z"), json!(81)),
        ("recency", Some("2024-01-01T00:00:00Z"), json!(160)),
    ] {
        assert_eq!(
            winner(&query(&server, &q(lens, as_of)).await),
            expected,
            "{lens} as_of {as_of:?}"
        );
    }
    // Nothing was true before the first claim.
    let empty = query(&server, &q("recency", Some("2000-01-01T00:00:00Z"))).await;
    assert_eq!(empty["groups"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn known_at_and_at_sequence_show_what_the_database_knew() {
    let server = TestServer::start().await;
    server
        .client
        .assert(&claim(
            21,
            "s/k",
            "p",
            json!("old"),
            1.0,
            "2020-01-01T00:00:00Z",
        ))
        .await
        .unwrap();
    let between = server
        .client
        .query(&[("subject", "s/k")])
        .await
        .unwrap()
        .assertions[0]
        .recorded_at
        .clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    server
        .client
        .assert(&claim(
            22,
            "s/k",
            "p",
            json!("new"),
            1.0,
            "2021-01-01T00:00:00Z",
        ))
        .await
        .unwrap();
    // Recency, not the default evidence lens: a reliability table made between the two writes
    // (the server refreshes it in the background) knows agent 21's claim and not 22's, and
    // then rightly prefers "old" (seen once in a full test run on a busy machine).
    let latest = query(&server, &[("subject", "s/k"), ("lens", "recency")]).await;
    assert_eq!(winner(&latest), json!("new"));
    let by_time = query(
        &server,
        &[("subject", "s/k"), ("known_at", between.as_str())],
    )
    .await;
    assert_eq!(winner(&by_time), json!("old"));
    let by_seq = query(&server, &[("subject", "s/k"), ("at_sequence", "1")]).await;
    assert_eq!(winner(&by_seq), json!("old"));
    assert_eq!(by_seq["assertions"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn prefixes_aliases_and_post_bodies_select_the_same_groups() {
    let server = TestServer::start().await;
    seed_dosage(&server).await;
    let prefix = query(&server, &[("subject", "drug/*")]).await;
    let subjects: Vec<&str> = prefix["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["drug/aspirin/dosage", "drug/ibuprofen/dosage"]);
    let alias = query(&server, &[("concept_path", "drug/*")]).await;
    assert_eq!(alias["assertions"], prefix["assertions"]);
    let raw = reqwest_like(&server.url);
    let (status, _, posted) = raw
        .send(
            "POST",
            "/v1/query",
            Some(br#"{"subject": "drug/*", "limit": 10}"#.to_vec()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(posted["assertions"], prefix["assertions"]);
    // An exact subject does not match longer subjects that merely start with it.
    let exact = query(&server, &[("subject", "drug/aspirin")]).await;
    assert_eq!(exact["groups"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_follow_the_cursor_without_gaps_or_repeats() {
    let server = TestServer::start().await;
    for i in 0..7 {
        server
            .client
            .assert(&claim(
                31,
                &format!("page/s{i}"),
                "p",
                json!(i),
                1.0,
                "2025-01-01T00:00:00Z",
            ))
            .await
            .unwrap();
    }
    let pages = all_pages(&server.client, &[("subject", "page/*"), ("limit", "3")]).await;
    assert!(pages.len() >= 3, "7 groups at 3 a page take 3 pages");
    let seen: Vec<String> = pages
        .iter()
        .flat_map(|p| &p.groups)
        .map(|g| g.subject.clone())
        .collect();
    let expected: Vec<String> = (0..7).map(|i| format!("page/s{i}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_queries_name_the_parameter() {
    let server = TestServer::start().await;
    let raw = reqwest_like(&server.url);
    for (query, field) in [
        ("", "subject"),
        ("subject=s&lens=loudest", "lens"),
        ("subject=s&as_of=yesterday", "as_of"),
        ("subject=s&limit=0", "limit"),
        ("subject=s&limit=many", "limit"),
        ("subject=s&colour=red", "query"),
        ("subject=drug*", "subject"),
        ("subject=s/*&cursor=zz", "cursor"),
    ] {
        let (status, content_type, doc) = raw.call("GET", &format!("/v1/query?{query}")).await;
        assert_eq!(
            (status, content_type.as_str()),
            (400, "application/problem+json"),
            "{query}"
        );
        assert_eq!(doc["type"], "urn:stemedb:problem:invalid-query", "{query}");
        assert_eq!(doc["field"], field, "{query}: {doc}");
    }
}

/// A query with `min_sequence` beyond what the node applied: `(status, problem type, the
/// Retry-After header, groups answered)`.
async fn check_min_sequence(
    server: &TestServer,
    min_sequence: u64,
    want: (u16, &str, &str, usize),
) {
    let response = crate::harness::unkeyed()
        .get(format!("{}/v1/query", server.url))
        .header("X-API-Key", crate::harness::ROOT_KEY)
        .query(&[
            ("subject", "drug/*"),
            ("min_sequence", &min_sequence.to_string()),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let doc: Value = response.json().await.unwrap();
    let kind = doc["type"].as_str().unwrap_or("").to_owned();
    let groups = doc["groups"].as_array().map_or(0, Vec::len);
    assert_eq!(
        (status, kind.as_str(), retry_after.as_str(), groups),
        want,
        "min_sequence {min_sequence}: {doc}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn min_sequence_waits_for_the_write_and_then_refuses_by_name() {
    let config = stemedb_server::ServerConfig {
        // The write awaited below (signature check, commit, fsync) must land within it on a
        // loaded machine; at 300 ms it had 250.
        min_sequence_wait_ms: 3_000,
        ..Default::default()
    };
    let server = TestServer::start_with(config).await;
    seed_dosage(&server).await;
    let not_yet = (503, "urn:stemedb:problem:not-yet-applied", "1", 0);
    check_min_sequence(&server, 5, (200, "", "", 2)).await;
    check_min_sequence(&server, 1, (200, "", "", 2)).await;
    check_min_sequence(&server, 6, not_yet).await;
    // A read that asks for the next sequence is answered once a write gives it.
    let waiting = {
        let client = server.client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let wire = claim(
                15,
                "drug/naproxen/dosage",
                "recommended_mg",
                json!(220),
                0.9,
                "2021-01-01T00:00:00Z",
            );
            client.assert(&wire).await.unwrap().sequence
        })
    };
    check_min_sequence(&server, 6, (200, "", "", 3)).await;
    assert_eq!(waiting.await.unwrap(), 6);
}

/// An agent that changes its mind counts once: its latest claim in a group (valid time, then
/// sequence) takes part in every lens and its older ones are left out, as if superseded;
/// `include_superseded` brings them back, and an `as_of` before the change sees the agent's
/// latest claim as of then (docs/lenses.md §One claim per agent).
#[tokio::test(flavor = "multi_thread")]
async fn an_agents_newer_claim_replaces_its_older_ones_in_every_lens() {
    let server = TestServer::start().await;
    let subject = "drug/mind/dosage";
    for (seed, value, timestamp) in [
        (21, 5, "2024-01-01T00:00:00Z"),
        (21, 5, "2024-01-02T00:00:00Z"),
        (22, 7, "2024-02-01T00:00:00Z"),
        (23, 5, "2024-02-01T00:00:00Z"),
        (21, 7, "2024-04-01T00:00:00Z"),
    ] {
        let wire = claim(seed, subject, "mg", json!(value), 0.9, timestamp);
        server.client.assert(&wire).await.unwrap();
    }
    let ask = async |extra: &[(&str, &str)]| {
        let mut params = vec![("subject", subject), ("predicate", "mg")];
        params.extend_from_slice(extra);
        query(&server, &params).await
    };
    let check = |answer: &Value, lens: &str, value: i64, total: u64| {
        assert_eq!(winner(answer), json!(value), "{lens}: {answer}");
        assert_eq!(
            answer["groups"][0]["assertions_total"],
            json!(total),
            "{lens}: {answer}"
        );
    };
    for lens in ["recency", "authority", "consensus", "layered"] {
        let answer = ask(&[("lens", lens)]).await;
        let (value, total) = if lens == "authority" || lens == "layered" {
            // Equal weights: the tie goes to the id, whatever it is; one claim per agent.
            (winner(&answer).as_i64().unwrap(), 3)
        } else {
            (7, 3)
        };
        check(&answer, lens, value, total);
    }
    // All five counted: agent 21's two 5s and agent 23's outweigh 7 twice.
    let everything = ask(&[("lens", "consensus"), ("include_superseded", "true")]).await;
    check(&everything, "consensus, include_superseded", 5, 5);
    // Before agent 21 changed its mind, its latest claim was 5.
    let before = ask(&[("lens", "consensus"), ("as_of", "2024-03-01T00:00:00Z")]).await;
    check(&before, "consensus as of March", 5, 3);
    // Valid time decides before arrival: agent 24's backdated later post does not replace its
    // claim for June; agent 25's two claims for one time go to the later sequence.
    for (seed, value, timestamp) in [
        (24, 9, "2024-06-01T00:00:00Z"),
        (24, 3, "2024-05-01T00:00:00Z"),
        (25, 3, "2024-05-01T00:00:00Z"),
        (25, 9, "2024-05-01T00:00:00Z"),
    ] {
        let wire = claim(
            seed,
            "drug/order/dosage",
            "mg",
            json!(value),
            0.9,
            timestamp,
        );
        server.client.assert(&wire).await.unwrap();
    }
    let params = [("subject", "drug/order/dosage"), ("lens", "consensus")];
    let answer = query(&server, &params).await;
    let values: Vec<&Value> = answer["groups"][0]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["value"])
        .collect();
    assert_eq!(values, [&json!(9), &json!(9)], "{answer}");
}

/// The skeptic looks at the past as a query does: with `as_of` only the claims valid by then,
/// with `at_sequence` only the records logged by then; a bad bound is refused by name.
#[tokio::test(flavor = "multi_thread")]
async fn the_skeptic_reads_the_group_as_of_a_valid_time_or_a_sequence() {
    let server = TestServer::start().await;
    seed_dosage(&server).await;
    let skeptic = async |extra: &[(&str, &str)]| {
        let mut params = vec![
            ("subject", "drug/aspirin/dosage"),
            ("predicate", "recommended_mg"),
        ];
        params.extend_from_slice(extra);
        server.client.get_json("/v1/skeptic", &params).await
    };
    let values = |report: &Value| -> Vec<i64> {
        let mut values: Vec<i64> = report["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_i64().unwrap())
            .collect();
        values.sort_unstable();
        values
    };
    for (extra, want) in [
        (vec![], vec![81, 160, 325]),
        (vec![("as_of", "2020-01-01T00:00:00Z")], vec![81]),
        (vec![("as_of", "2022-01-01T00:00:00Z")], vec![81, 160]),
        (vec![("at_sequence", "1")], vec![81]),
        (vec![("at_sequence", "3")], vec![81, 160]),
    ] {
        let report = skeptic(&extra).await.unwrap();
        assert_eq!(values(&report), want, "{extra:?}: {report}");
    }
    let refused = skeptic(&[("at_sequence", "soon")]).await.unwrap_err();
    assert!(
        refused.to_string().contains("at_sequence"),
        "names the parameter: {refused}"
    );
}
