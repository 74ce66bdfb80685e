//! `GET /v1/query` answered without the router (`stemedb-server`'s `direct.rs`) against the
//! router's own answer. One database, two servers over loopback: the server as it runs (which
//! takes the direct path) and the router served alone (`axum::serve`, every request routed).
//! The same raw requests get the same response from both, byte for byte but for the `date`
//! and a generated `x-request-id`.
use serde_json::json;
use stemedb::Db;
use stemedb_server::{AppState, ServerConfig};

use crate::harness::{ROOT_KEY, claim, post_json};
use crate::http_strict::{raw, send};

const SUBJECT: &str = "drug/aspirin";

/// Both servers over one database: (the server's address, the router's address).
async fn two_servers(dir: &std::path::Path) -> (String, String) {
    let config = ServerConfig {
        cors_origins: vec!["https://app.example.org".into()],
        ..ServerConfig::default()
    };
    let mut config = config;
    config.auth.root_api_key = Some(ROOT_KEY.to_owned());
    let db = Db::open(dir, config.db.clone()).unwrap();
    let (state, _) = AppState::open(db, config).unwrap();
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let routed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addresses = (
        server.local_addr().unwrap().to_string(),
        routed.local_addr().unwrap().to_string(),
    );
    let router = stemedb_server::router(state.clone(), true);
    tokio::spawn(stemedb_server::serve(server, state, std::future::pending()));
    tokio::spawn(async move { axum::serve(routed, router).await });
    addresses
}

/// The response without the lines that differ by design: the date, and the request id when
/// the request sent none (each server makes its own).
fn comparable(response: &str, sent_id: bool) -> String {
    response
        .split("\r\n")
        .filter(|line| {
            let line = line.to_ascii_lowercase();
            !line.starts_with("date:") && (sent_id || !line.starts_with("x-request-id:"))
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// One request to both servers: the same response, and the status `status`.
async fn check(
    addresses: &(String, String),
    label: &str,
    target: &str,
    headers: &[&str],
    status: u16,
) {
    let request = raw("GET", target, headers, b"");
    let (direct, _) = send(&addresses.0, &request).await;
    let (routed, _) = send(&addresses.1, &request).await;
    let sent_id = headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("x-request-id:"));
    assert_eq!(
        comparable(&direct, sent_id),
        comparable(&routed, sent_id),
        "{label}: the direct path and the router answer differently"
    );
    let code = crate::limits::status_of(&direct);
    assert_eq!(code, status, "{label}: {direct}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_direct_query_path_answers_as_the_router_does() {
    let dir = tempfile::tempdir().unwrap();
    let addresses = two_servers(dir.path()).await;
    let url = format!("http://{}", addresses.0);
    for (seed, value, at) in [
        (1, 81, "2025-01-01T00:00:00Z"),
        (2, 325, "2025-02-01T00:00:00Z"),
    ] {
        let record = claim(seed, SUBJECT, "dose_mg", json!(value), 0.9, at);
        let (status, answer) = post_json(&url, "/v1/assert", &record).await;
        assert_eq!(status, 201, "{answer}");
    }
    let key = format!("x-api-key: {ROOT_KEY}");
    let key = key.as_str();
    let group = format!("/v1/query?subject={SUBJECT}&predicate=dose_mg");
    let cases: Vec<(&str, String, Vec<&str>, u16)> = vec![
        (
            "winner only",
            format!("{group}&lens=recency&winner_only=true"),
            vec![key],
            200,
        ),
        (
            "whole group",
            format!("{group}&lens=consensus"),
            vec![key],
            200,
        ),
        (
            "kept answer, asked again",
            format!("{group}&lens=recency&winner_only=true"),
            vec![key],
            200,
        ),
        (
            "subject only",
            format!("/v1/query?subject={SUBJECT}"),
            vec![key],
            200,
        ),
        (
            "subject prefix",
            "/v1/query?subject=drug/*&limit=1".into(),
            vec![key],
            200,
        ),
        (
            "percent-encoded",
            "/v1/query?subject=drug%2Faspirin&predicate=dose%5Fmg".into(),
            vec![key],
            200,
        ),
        (
            "no group",
            "/v1/query?subject=nothing/here".into(),
            vec![key],
            200,
        ),
        (
            "the request's own id",
            group.clone(),
            vec![key, "x-request-id: probe-1"],
            200,
        ),
        (
            "an allowed origin",
            group.clone(),
            vec![key, "origin: https://app.example.org"],
            200,
        ),
        (
            "another origin",
            group.clone(),
            vec![key, "origin: https://evil.example"],
            200,
        ),
        ("no query string", "/v1/query".into(), vec![key], 400),
        (
            "an unknown lens",
            format!("{group}&lens=loudest"),
            vec![key],
            400,
        ),
        (
            "an unknown parameter",
            format!("{group}&colour=red"),
            vec![key],
            400,
        ),
        (
            "a repeated parameter",
            format!("{group}&lens=recency&lens=consensus"),
            vec![key],
            400,
        ),
        ("no key", group.clone(), vec![], 401),
        (
            "an unknown key",
            group.clone(),
            vec!["x-api-key: not-a-key"],
            401,
        ),
        (
            "a foreign host",
            group.clone(),
            vec![key, "host: evil.example"],
            421,
        ),
    ];
    for (label, target, headers, status) in &cases {
        check(&addresses, label, target, headers, *status).await;
    }
}
