//! What the web console stands on, through a real server: `GET /v1/whoami` names the key's
//! role, `GET /v1/overview` lists the most disputed groups in order and the recent
//! retractions and refuses bad bounds, and the console's assets come with a strict
//! Content-Security-Policy. The console itself is tested in Chromium
//! (crates/stemedb-server/console/run-tests.sh).
use serde_json::{Value, json};
use stemedb_server::ServerConfig;

use crate::harness::{TestServer, claim, create_api_key, unkeyed};
use crate::truth::{T_LATER, chain, post, rec, retraction};

async fn overview(server: &TestServer, query: &[(&str, &str)]) -> Value {
    server.client.get_json("/v1/overview", query).await.unwrap()
}

/// Seeds groups with 3, 2 and 1 distinct values among three agents, and one retraction.
async fn seed(server: &TestServer) -> (String, u64) {
    let groups: [(&str, [i64; 3]); 3] = [
        ("c/one", [1, 2, 3]),
        ("c/two", [1, 1, 2]),
        ("c/none", [5, 5, 5]),
    ];
    for (subject, values) in groups {
        for (seed, value) in (1u8..).zip(values) {
            let wire = claim(
                seed,
                subject,
                "p",
                json!(value),
                0.9,
                "2025-01-01T00:00:00Z",
            );
            server.client.assert(&wire).await.unwrap();
        }
    }
    let own = rec(
        7,
        "agent/7",
        "c/gone",
        "p",
        json!(1),
        "2025-01-01T00:00:00Z",
        &[],
    );
    server.client.assert(&own).await.unwrap();
    let answer = post(
        &server.client,
        "/v1/retract",
        &retraction(7, "agent/7", "c/gone", false, T_LATER),
    )
    .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    (id, answer["sequence"].as_u64().unwrap())
}

#[tokio::test]
async fn overview_lists_disputed_groups_in_order_and_recent_retractions() {
    let server = TestServer::start_with(ServerConfig {
        reliability_refresh_ms: 100,
        ..ServerConfig::default()
    })
    .await;
    let (retraction_id, last) = seed(&server).await;
    let mut answer = overview(&server, &[]).await;
    // The disputed list comes from the reliability pass, which runs only on the cores' idle
    // time while other tests keep them busy: up to 60 s.
    for _ in 0..1200 {
        if answer["disputed_sequence"].as_u64().unwrap() >= last {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        answer = overview(&server, &[]).await;
    }
    assert_eq!(answer["last_sequence"], last, "{answer}");
    assert_eq!(answer["clustered"], false);
    let disputed: Vec<(&str, u64)> = answer["disputed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["subject"].as_str().unwrap(),
                g["dissenting"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(disputed, [("c/one", 2), ("c/two", 1)], "{answer}");
    let retractions = answer["retractions"].as_array().unwrap();
    assert_eq!(retractions.len(), 1, "{answer}");
    assert_eq!(retractions[0]["id"], retraction_id.as_str());
    assert_eq!(retractions[0]["subject"], "c/gone");
    // Only the newest record read: the retraction is the last one, so it is still found.
    let one = overview(&server, &[("scan", "1"), ("disputed", "1")]).await;
    assert_eq!(one["retractions_scanned"], 1);
    assert_eq!(one["retractions"].as_array().unwrap().len(), 1);
    assert_eq!(one["disputed"].as_array().unwrap().len(), 1);
    // One record after it: a scan of one no longer reaches it, a scan of two does.
    let later = claim(1, "c/later", "p", json!(1), 0.9, "2025-01-01T00:00:00Z");
    server.client.assert(&later).await.unwrap();
    let scans = [("1", 0usize), ("2", 1)];
    for (scan, expected) in scans {
        let answer = overview(&server, &[("scan", scan)]).await;
        let found = answer["retractions"].as_array().unwrap().len();
        assert_eq!(found, expected, "scan {scan}: {answer}");
    }
    server.stop().await;
}

/// Each bound out of range, and each unknown parameter, is a 400 problem naming it.
#[tokio::test]
async fn overview_and_agent_records_refuse_bounds_out_of_range() {
    let server = TestServer::start().await;
    let overview = [
        ("scan", "0"),
        ("scan", "100001"),
        ("disputed", "51"),
        ("retractions", "101"),
        ("retractions", "x"),
        ("other", "1"),
    ];
    for (name, value) in overview {
        check_refused(&server, &format!("/v1/overview?{name}={value}"), name).await;
    }
    let records = [
        ("limit", "0"),
        ("limit", "1001"),
        ("before", "-1"),
        ("after", "1"),
    ];
    for (name, value) in records {
        check_refused(
            &server,
            &format!("/v1/agents/a/records?{name}={value}"),
            name,
        )
        .await;
    }
    server.stop().await;
}

/// `path` is answered with a 400 problem naming `name`.
async fn check_refused(server: &TestServer, path: &str, name: &str) {
    let url = format!("{}{path}", server.url);
    let response = crate::harness::http().get(url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400, "{path}");
    let problem: Value = response.json().await.unwrap();
    assert!(problem.to_string().contains(name), "{path}: {problem}");
}

/// An agent's records come newest first, a page at a time, control records included, and
/// the pages join up to exactly what it signed.
#[tokio::test]
async fn an_agents_records_come_newest_first_page_by_page() {
    let server = TestServer::start().await;
    let (retraction_id, _) = seed(&server).await;
    let mut seen = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut query = vec![("limit", "1".to_owned())];
        if let Some(b) = before {
            query.push(("before", b.to_string()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page: Value = server
            .client
            .get_json("/v1/agents/agent%2F7/records", &query)
            .await
            .unwrap();
        for r in page["records"].as_array().unwrap() {
            seen.push((
                r["sequence"].as_u64().unwrap(),
                r["predicate"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_before"].as_u64() {
            Some(b) => before = Some(b),
            None => break,
        }
        assert!(seen.len() < 10, "the pages do not end: {seen:?}");
    }
    let predicates: Vec<&str> = seen.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(predicates, ["stemedb:retracts", "p"], "{seen:?}");
    assert!(seen[0].0 > seen[1].0, "newest first: {seen:?}");
    let first: Value = server
        .client
        .get_json("/v1/agents/agent%2F7/records", &[])
        .await
        .unwrap();
    assert_eq!(first["records"][0]["id"], retraction_id.as_str());
    assert_eq!(first["records"][1]["lifecycle_stage"], "retracted");
    assert_eq!(first["next_before"], Value::Null);
    let nobody: Value = server
        .client
        .get_json("/v1/agents/nobody/records", &[])
        .await
        .unwrap();
    assert_eq!(nobody["records"], json!([]));
    server.stop().await;
}

/// A definer's cascading retraction of its source reaches the source's record, the claim
/// citing it and the chain derived from that claim, page by page; a reinstatement shows
/// them active again; an id that is no retraction, no record or no id is refused.
#[tokio::test]
async fn a_retraction_lists_what_it_reached_page_by_page() {
    let server = TestServer::start().await;
    let c = &server.client;
    let chain = chain(c).await;
    let retracted = post(
        c,
        "/v1/retract",
        &retraction(1, "trialco", "source/TRIAL", true, T_LATER),
    )
    .await;
    let id = retracted["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/retractions/{id}");
    let (reached, stages) = reach_pages(c, &path).await;
    let mut expected = vec![chain.describing.clone(), chain.citing.clone()];
    expected.extend(chain.derived.iter().cloned());
    assert_eq!(reached, expected);
    assert!(stages.iter().all(|s| s == "retracted"), "{stages:?}");
    // Reinstated (a retraction of the retraction): the same reach, every record active again.
    let undo = retraction(1, "trialco", &id, false, "2025-07-01T00:00:00Z");
    post(c, "/v1/retract", &undo).await;
    let (again, stages) = reach_pages(c, &path).await;
    assert_eq!(again, expected);
    assert!(stages.iter().all(|s| s == "active"), "{stages:?}");
    let whole: Value = c.get_json(&path, &[]).await.unwrap();
    assert_eq!(whole["retraction"]["lifecycle_stage"], "retracted");
    assert_eq!(whole["next_after"], Value::Null);
    for (target, status) in [
        (chain.unrelated.as_str(), 400),
        (&"0".repeat(64), 404),
        ("zz", 400),
    ] {
        let url = format!("{}/v1/retractions/{target}", server.url);
        let response = crate::harness::http().get(url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{target}");
    }
    server.stop().await;
}

/// Every page of a retraction's reach, one record a page: the ids and their stages.
async fn reach_pages(c: &stemedb_client::Client, path: &str) -> (Vec<String>, Vec<String>) {
    let (mut ids, mut stages) = (Vec::new(), Vec::new());
    let mut after = "0".to_owned();
    for _ in 0..20 {
        let page: Value = c
            .get_json(path, &[("limit", "1"), ("after", &after)])
            .await
            .unwrap();
        for r in page["reached"].as_array().unwrap() {
            ids.push(r["id"].as_str().unwrap().to_owned());
            stages.push(r["lifecycle_stage"].as_str().unwrap().to_owned());
        }
        match page["next_after"].as_u64() {
            Some(next) => after = next.to_string(),
            None => return (ids, stages),
        }
    }
    panic!("the pages do not end: {ids:?}");
}

#[tokio::test]
async fn whoami_names_the_role_of_each_key() {
    let server = TestServer::start().await;
    for role in ["read", "write", "admin"] {
        let secret = create_api_key(&server.url, &format!("k-{role}"), role).await;
        let me: Value = unkeyed()
            .get(format!("{}/v1/whoami", server.url))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["role"], role, "{me}");
        assert_eq!(me["name"], format!("k-{role}"));
        assert!(
            !me.to_string().contains(&secret),
            "the secret is not echoed"
        );
    }
    let anonymous = unkeyed()
        .get(format!("{}/v1/whoami", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    server.stop().await;
}

#[tokio::test]
async fn console_assets_are_served_with_a_strict_policy() {
    let server = TestServer::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, kind) in [
        ("/console/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/app.css", "text/css"),
    ] {
        let response = client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        let policy = header("content-security-policy");
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
    for path in ["/", "/console"] {
        let response = client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 307, "{path}");
        assert_eq!(response.headers()["location"], "/console/");
    }
    server.stop().await;
}
