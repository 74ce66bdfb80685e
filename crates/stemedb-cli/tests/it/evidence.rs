//! The evidence lens through a real server: the default lens answers from the reliability
//! table the server makes in the background, `GET /v1/agents/{id}` says why an agent counts
//! as it does, and a read in the past computes the table of its time, the same every time.
use serde_json::{Value, json};
use stemedb_server::ServerConfig;

use crate::harness::{TestServer, claim};

/// Four agents (1–4) who say `a` on ten groups, one (9) who says `b` on all of them, then a
/// contested group: agent 1 says `a`, and later agent 9 and a newcomer (10) say `b`.
async fn seed(server: &TestServer) -> (u64, u64) {
    let c = &server.client;
    let mut last = 0;
    for g in 0..10 {
        for seed in [1u8, 2, 3, 4] {
            let wire = claim(
                seed,
                &format!("ev/g{g}"),
                "kind",
                json!("a"),
                0.8,
                "2025-01-01T00:00:00Z",
            );
            c.assert(&wire).await.unwrap();
        }
        let lie = claim(
            9,
            &format!("ev/g{g}"),
            "kind",
            json!("b"),
            1.0,
            "2025-01-02T00:00:00Z",
        );
        last = c.assert(&lie).await.unwrap().sequence;
    }
    let first = claim(1, "ev/x", "kind", json!("a"), 0.8, "2025-01-01T00:00:00Z");
    let before_liars = c.assert(&first).await.unwrap().sequence;
    for seed in [9u8, 10] {
        let wire = claim(
            seed,
            "ev/x",
            "kind",
            json!("b"),
            1.0,
            "2025-01-03T00:00:00Z",
        );
        last = last.max(c.assert(&wire).await.unwrap().sequence);
    }
    (before_liars, last)
}

async fn agent(server: &TestServer, seed: u8) -> Value {
    let path = format!("/v1/agents/agent%2F{seed}");
    server.client.get_json(&path, &[]).await.unwrap()
}

/// Waits for the background refresh to weigh every record up to `sequence`. Its pass runs
/// only on the cores' idle time (`PassPriority::Idle`), and other tests keep the cores busy,
/// so the wait is long.
async fn wait_for_table(server: &TestServer, sequence: u64) {
    for _ in 0..1200 {
        let covered = agent(server, 1).await["reliability"]["table_sequence"]
            .as_u64()
            .unwrap();
        if covered >= sequence {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the reliability table did not reach sequence {sequence} in 60 s");
}

async fn winner(server: &TestServer, extra: &[(&str, &str)]) -> (Value, String) {
    let mut params = vec![("subject", "ev/x"), ("predicate", "kind")];
    params.extend_from_slice(extra);
    let answer = server.client.query(&params).await.unwrap();
    let group = &answer.groups[0];
    (group.winner.body.value.clone(), group.explanation.clone())
}

#[tokio::test]
async fn the_default_lens_weighs_each_agent_by_its_record_and_says_why() {
    let server = TestServer::start().await;
    let (before_liars, last) = seed(&server).await;
    wait_for_table(&server, last).await;

    // Recency follows the late liars; the default (evidence) follows the agent who was right.
    assert_eq!(winner(&server, &[("lens", "recency")]).await.0, json!("b"));
    let (value, why) = winner(&server, &[]).await;
    assert_eq!(value, json!("a"), "{why}");
    assert!(why.starts_with("evidence: "), "{why}");
    assert!(
        why.contains(&format!("reliability table at sequence {last}")),
        "{why}"
    );

    let (honest, liar, newcomer) = (
        agent(&server, 1).await,
        agent(&server, 9).await,
        agent(&server, 10).await,
    );
    let accuracy = |a: &Value| a["reliability"]["accuracy"].as_f64().unwrap();
    assert!(accuracy(&honest) > 0.7, "{honest}");
    assert!(accuracy(&liar) < 0.4, "{liar}");
    assert_eq!(liar["reliability"]["claims"], 11);
    assert_eq!(liar["reliability"]["agreed"], 0);
    assert_eq!(honest["reliability"]["agreed"], 11);
    assert!(
        (accuracy(&newcomer) - 0.6).abs() < 0.2,
        "one claim stays near the prior: {newcomer}"
    );

    // In the past, the table of that time: made exactly, the same answer twice.
    let at = before_liars.to_string();
    let past = winner(&server, &[("at_sequence", &at)]).await;
    assert_eq!(past.0, json!("a"));
    assert!(
        past.1
            .contains(&format!("reliability table at sequence {before_liars}")),
        "{}",
        past.1
    );
    assert_eq!(winner(&server, &[("at_sequence", &at)]).await, past);
}

#[test]
fn a_refresh_interval_or_idle_pass_limit_under_100_ms_is_refused() {
    type Set = fn(&mut ServerConfig, u64);
    // (name, the setting)
    #[rustfmt::skip]
    let cases: [(&str, Set); 2] = [
        ("reliability_refresh_ms", |c, ms| c.reliability_refresh_ms = ms),
        ("reliability_idle_pass_ms_max", |c, ms| c.reliability_idle_pass_ms_max = ms),
    ];
    for (name, set) in cases {
        check_refused_under_100_ms(name, set);
    }
}

fn check_refused_under_100_ms(name: &str, set: fn(&mut ServerConfig, u64)) {
    let mut config = ServerConfig::default();
    set(&mut config, 99);
    let refused = config.check().unwrap_err();
    assert!(
        refused.contains(&format!("{name} must be at least 100")),
        "{name}: {refused}"
    );
    set(&mut config, 100);
    assert!(config.check().is_ok(), "{name}: 100 is taken");
}

/// The server keeps each new table in its data directory, so the next start answers with it
/// (`reliability_file.rs` tests the reading back).
#[tokio::test]
async fn the_server_keeps_its_newest_table_for_the_next_start() {
    let server = TestServer::start().await;
    let (_, last) = seed(&server).await;
    wait_for_table(&server, last).await;
    let dir = server.stop().await;
    // Open once the stopped server's last pass has let go of the store (it keeps the table
    // before it does).
    let db = crate::harness::open_retrying(
        dir.path(),
        ServerConfig::default().db,
        std::sync::Arc::new(stemedb::SystemClock),
    );
    assert_eq!(
        db.reliability_at_open(),
        &stemedb::ReliabilityAtOpen::Loaded { sequence: last }
    );
}
