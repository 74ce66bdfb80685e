//! The routes answered without the router (`stemedb-server`'s `direct.rs`: `GET /v1/query`,
//! `POST /v1/assert`) against the router's own answers. One database, two servers over
//! loopback: the server as it runs (which takes the direct path) and the router served alone
//! (`axum::serve`, every request routed). The same raw requests get the same response from
//! both, byte for byte but for the `date` and the `x-request-id` (each server makes its own
//! when the request sends none, or one it refuses). Whether the direct path is taken changes
//! no answer, so no test here can see it: the benchmarks do (docs/benchmarks.md, "Thirty-fifth
//! session"), and `direct.rs`'s own test holds which requests it takes.
use serde_json::{Value, json};
use stemedb::Db;
use stemedb_server::{AppState, ServerConfig};

use crate::harness::{ROOT_KEY, claim, create_api_key, field_names, post_json};
use crate::http_strict::{raw, send};

const SUBJECT: &str = "drug/aspirin";
const BODY_BYTES_MAX: usize = 4096;

/// Both servers over one database: (the server's address, the router's address).
async fn two_servers(dir: &std::path::Path) -> (String, String) {
    let mut config = ServerConfig {
        cors_origins: vec!["https://app.example.org".into()],
        assertion_body_bytes_max: BODY_BYTES_MAX,
        ..ServerConfig::default()
    };
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

/// The response without the lines that differ by design: the date and the request id.
fn comparable(response: &str) -> String {
    response
        .split("\r\n")
        .filter(|line| {
            let line = line.to_ascii_lowercase();
            !line.starts_with("date:") && !line.starts_with("x-request-id:")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// One request.
struct Case<'a> {
    label: &'a str,
    method: &'a str,
    target: String,
    headers: Vec<String>,
    body: Vec<u8>,
    status: u16,
}

/// One request to both servers: the same response, and the status the case names.
async fn check(addresses: &(String, String), case: &Case<'_>) {
    let headers: Vec<&str> = case.headers.iter().map(String::as_str).collect();
    let request = raw(case.method, &case.target, &headers, &case.body);
    let (direct, _) = send(&addresses.0, &request).await;
    let (routed, _) = send(&addresses.1, &request).await;
    let label = case.label;
    assert_eq!(
        comparable(&direct),
        comparable(&routed),
        "{label}: the direct path and the router answer differently"
    );
    assert_eq!(
        crate::limits::status_of(&direct),
        case.status,
        "{label}: {direct}"
    );
}

fn get<'a>(label: &'a str, target: impl Into<String>, headers: &[&str], status: u16) -> Case<'a> {
    let headers = headers.iter().map(|h| h.to_string()).collect();
    let target = target.into();
    Case {
        label,
        method: "GET",
        target,
        headers,
        body: Vec::new(),
        status,
    }
}

fn post<'a>(label: &'a str, headers: &[&str], body: impl Into<Vec<u8>>, status: u16) -> Case<'a> {
    let headers = headers.iter().map(|h| h.to_string()).collect();
    let (target, body) = ("/v1/assert".to_owned(), body.into());
    Case {
        label,
        method: "POST",
        target,
        headers,
        body,
        status,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_direct_routes_answer_as_the_router_does() {
    let dir = tempfile::tempdir().unwrap();
    let addresses = two_servers(dir.path()).await;
    let url = format!("http://{}", addresses.0);
    let stored = claim(
        1,
        SUBJECT,
        "dose_mg",
        json!(81),
        0.9,
        "2025-01-01T00:00:00Z",
    );
    for record in [
        &stored,
        &claim(
            2,
            SUBJECT,
            "dose_mg",
            json!(325),
            0.9,
            "2025-02-01T00:00:00Z",
        ),
    ] {
        let (status, answer) = post_json(&url, "/v1/assert", record).await;
        assert_eq!(status, 201, "{answer}");
    }
    let reader = format!(
        "x-api-key: {}",
        create_api_key(&url, "reader", "read").await
    );
    let writer = format!(
        "authorization: Bearer {}",
        create_api_key(&url, "writer", "write").await
    );
    let root = format!("x-api-key: {ROOT_KEY}");
    let (key, json_type) = (root.as_str(), "content-type: application/json");
    let group = format!("/v1/query?subject={SUBJECT}&predicate=dose_mg");
    let recency = format!("{group}&lens=recency&winner_only=true");
    let stored = serde_json::to_vec(&stored).unwrap();
    let mut forged: Value = serde_json::from_slice(&stored).unwrap();
    forged["value"] = json!(82);
    let forged = serde_json::to_vec(&forged).unwrap();
    let chunked = [key, json_type, "transfer-encoding: chunked"];
    let oversized = format!(
        "{:x}\r\n{}\r\n0\r\n\r\n",
        BODY_BYTES_MAX + 1,
        " ".repeat(BODY_BYTES_MAX + 1)
    );
    let over = format!("content-length: {}", BODY_BYTES_MAX + 1);
    let cases = vec![
        get("winner only", recency.clone(), &[key], 200),
        get("a kept answer, asked again", recency.clone(), &[key], 200),
        get(
            "whole group",
            format!("{group}&lens=consensus"),
            &[key],
            200,
        ),
        get(
            "subject only",
            format!("/v1/query?subject={SUBJECT}"),
            &[key],
            200,
        ),
        get(
            "subject prefix",
            "/v1/query?subject=drug/*&limit=1",
            &[key],
            200,
        ),
        get(
            "percent-encoded",
            "/v1/query?subject=drug%2Faspirin&predicate=dose%5Fmg",
            &[key],
            200,
        ),
        get("no group", "/v1/query?subject=nothing/here", &[key], 200),
        get(
            "absolute form",
            format!("http://localhost{group}"),
            &[key],
            200,
        ),
        get("a read key", group.clone(), &[&reader], 200),
        get("a bearer key", group.clone(), &[&writer], 200),
        get(
            "the request's own id",
            group.clone(),
            &[key, "x-request-id: probe-1"],
            200,
        ),
        get(
            "an id refused",
            group.clone(),
            &[key, "x-request-id: not an id"],
            200,
        ),
        get(
            "an allowed origin",
            group.clone(),
            &[key, "origin: https://app.example.org"],
            200,
        ),
        get(
            "another origin",
            group.clone(),
            &[key, "origin: https://evil.example"],
            200,
        ),
        get("no query string", "/v1/query", &[key], 400),
        get(
            "an unknown lens",
            format!("{group}&lens=loudest"),
            &[key],
            400,
        ),
        get(
            "an unknown parameter",
            format!("{group}&colour=red"),
            &[key],
            400,
        ),
        get(
            "a repeated parameter",
            format!("{group}&lens=recency&lens=consensus"),
            &[key],
            400,
        ),
        get("a repeated key header", group.clone(), &[key, key], 400),
        get(
            "a body announced over the limit",
            group.clone(),
            &[key, &over],
            413,
        ),
        get("no key", group.clone(), &[], 401),
        get(
            "an unknown key",
            group.clone(),
            &["x-api-key: not-a-key"],
            401,
        ),
        get(
            "a foreign host",
            group.clone(),
            &[key, "host: evil.example"],
            421,
        ),
        post(
            "a stored record again",
            &[key, json_type],
            stored.clone(),
            200,
        ),
        post(
            "a bearer writer",
            &[&writer, json_type],
            stored.clone(),
            200,
        ),
        post("not JSON", &[key, json_type], "{", 400),
        post("a forged signature", &[key, json_type], forged, 422),
        post(
            "text/plain",
            &[key, "content-type: text/plain"],
            stored.clone(),
            415,
        ),
        post("no content type", &[key], stored.clone(), 415),
        post("chunked over the limit", &chunked, oversized, 413),
        post(
            "announced over the limit",
            &[key, json_type, &over],
            Vec::new(),
            413,
        ),
        post("a read key", &[&reader, json_type], stored.clone(), 403),
        post("no key", &[json_type], stored.clone(), 401),
        post(
            "a foreign host",
            &[key, json_type, "host: evil.example"],
            stored,
            421,
        ),
    ];
    for case in &cases {
        check(&addresses, case).await;
    }
    // The request's own id comes back from both.
    let probe = raw("GET", &group, &[key, "x-request-id: probe-2"], b"");
    for address in [&addresses.0, &addresses.1] {
        let (response, _) = send(address, &probe).await;
        assert!(response.contains("x-request-id: probe-2"), "{response}");
    }
    // A new record through each: the same status, headers and fields.
    let fresh = [3, 4].map(|seed| {
        claim(
            seed,
            SUBJECT,
            "dose_mg",
            json!(seed),
            0.5,
            "2025-03-01T00:00:00Z",
        )
    });
    let mut shapes = Vec::new();
    for (address, record) in [&addresses.0, &addresses.1].into_iter().zip(&fresh) {
        let body = serde_json::to_vec(record).unwrap();
        let (response, _) = send(
            address,
            &raw("POST", "/v1/assert", &[key, json_type], &body),
        )
        .await;
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let mut names: Vec<String> = head
            .lines()
            .skip(1)
            .map(|l| l.split(':').next().unwrap().to_owned())
            .collect();
        names.sort();
        let fields = field_names(&serde_json::from_str::<Value>(body).unwrap());
        shapes.push((crate::limits::status_of(&response), names, fields));
    }
    assert_eq!(shapes[0], shapes[1], "a new record");
    assert_eq!(shapes[0].0, 201, "a new record: {shapes:?}");
}
