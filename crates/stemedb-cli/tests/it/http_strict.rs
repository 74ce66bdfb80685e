//! HTTP strictness (issue 10, items 7 and 8): JSON routes need `application/json`, ambiguous
//! framing and duplicate credentials are refused, an announced body over the limit is refused
//! at once, 5xx details hold no internals, unknown paths get a problem. `Host` and CORS:
//! `http_origin.rs`.
//! Raw TCP where the behaviour lives below HTTP clients (they would fix the request up).
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stemedb_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{ROOT_KEY, TestServer, claim};
use crate::limits::{read_response, status_of};

/// A server with `--auth disabled`: every request is admin, as in local development.
pub(crate) async fn open_server(config: ServerConfig) -> TestServer {
    let mut config = config;
    config.auth.enabled = false;
    TestServer::start_with(config).await
}

pub(crate) fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// A raw request: `method path`, extra header lines, and a body (content-length added
/// unless `headers` frames the body itself).
pub(crate) fn raw(method: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        head.push_str("host: localhost\r\n");
    }
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    let framed = headers.iter().any(|h| {
        let h = h.to_ascii_lowercase();
        h.starts_with("content-length:") || h.starts_with("transfer-encoding:")
    });
    if !framed && !body.is_empty() {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub(crate) async fn send(address: &str, request: &[u8]) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let response = read_response(&mut stream).await;
    (response, stream)
}

/// One case: sends `request`, checks the status and (when given) the problem type; returns
/// the response text.
pub(crate) async fn check(
    address: &str,
    name: &str,
    request: &[u8],
    status: u16,
    kind: Option<&str>,
) -> String {
    let (response, _) = send(address, request).await;
    assert_eq!(status_of(&response), status, "{name}: {response}");
    if let Some(kind) = kind {
        assert!(
            response.contains(&format!("urn:stemedb:problem:{kind}")),
            "{name}: expected {kind}: {response}"
        );
        assert!(
            response
                .to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{name}: a problem document: {response}"
        );
    }
    response
}

/// The value of header `name` in a raw response, if any.
pub(crate) fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

pub(crate) async fn key_count(server: &TestServer) -> usize {
    let keys = crate::harness::http()
        .get(format!("{}/v1/api-keys", server.url))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    keys["keys"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_taking_a_json_body_requires_application_json() {
    let server = TestServer::start().await;
    let http = crate::harness::http();
    let openapi: Value = http
        .get(format!("{}/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut routes = Vec::new();
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation["responses"].get("421").is_some(),
                "{method} {path} documents 421"
            );
            if operation.get("requestBody").is_some() {
                assert!(
                    operation["responses"].get("415").is_some(),
                    "{method} {path} documents 415"
                );
                routes.push((method.to_uppercase(), path.replace("{id}", &"0".repeat(64))));
            }
        }
    }
    assert!(routes.len() >= 14, "{routes:?}");
    for (method, path) in &routes {
        for (content_type, refused) in [
            (Some("text/plain"), true),
            (Some("application/x-www-form-urlencoded"), true),
            (Some("multipart/form-data; boundary=x"), true),
            (Some("application/jsonx"), true),
            (None, true),
            (Some("application/json"), false),
            (Some("Application/JSON; charset=utf-8"), false),
        ] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = http
                .request(method.clone(), format!("{}{path}", server.url))
                .body("{}");
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let what = format!("{method} {path} with {content_type:?}: {status} {text}");
            if refused {
                assert_eq!(status, 415, "{what}");
                assert!(
                    text.contains("urn:stemedb:problem:unsupported-media-type"),
                    "{what}"
                );
            } else {
                assert_ne!(status, 415, "{what}");
            }
        }
    }
    // The cross-site attack of the issue: a text/plain POST that creates an admin key.
    let open = open_server(ServerConfig::default()).await;
    let attack = raw(
        "POST",
        "/v1/api-keys",
        &["content-type: text/plain"],
        br#"{"name": "pwned", "role": "admin"}"#,
    );
    check(
        &addr(&open),
        "text/plain POST",
        &attack,
        415,
        Some("unsupported-media-type"),
    )
    .await;
    assert_eq!(key_count(&open).await, 0, "no key was created");
}

/// Reads until the server closes the connection; the status of every response, and the text.
async fn statuses_until_close(stream: &mut TcpStream) -> (Vec<u16>, String) {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was not closed");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let statuses = text
        .split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|r| r.get(..3)?.parse().ok())
        .collect();
    (statuses, text)
}

/// Reads until the server closes the connection; true if it did within 5 s.
async fn closes(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn content_length_with_transfer_encoding_is_refused_and_the_connection_closed() {
    let server = TestServer::start().await;
    let address = addr(&server);
    let body = claim(81, "strict/te", "p", json!(1), 1.0, "2025-01-01T00:00:00Z").to_string();
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let key = format!("x-api-key: {ROOT_KEY}");
    let length = format!("content-length: {}", chunked.len());
    for (name, headers) in [
        (
            "CL then TE",
            vec![
                key.as_str(),
                "content-type: application/json",
                length.as_str(),
                "transfer-encoding: chunked",
            ],
        ),
        (
            "TE then CL",
            vec![
                key.as_str(),
                "content-type: application/json",
                "transfer-encoding: chunked",
                length.as_str(),
            ],
        ),
        (
            "TE then CL 0",
            vec![
                key.as_str(),
                "content-type: application/json",
                "Transfer-Encoding: chunked",
                "Content-Length: 0",
            ],
        ),
    ] {
        let request = raw("POST", "/v1/assert", &headers, chunked.as_bytes());
        let (response, mut stream) = send(&address, &request).await;
        assert_eq!(status_of(&response), 400, "{name}: {response}");
        assert!(
            response.contains("urn:stemedb:problem:ambiguous-framing"),
            "{name}: {response}"
        );
        assert!(
            closes(&mut stream).await,
            "{name}: the connection is closed"
        );
    }
    // Pipelined behind a good request on one connection: the good one is served.
    let first = raw("GET", "/v1/health", &[], b"");
    let second = raw(
        "POST",
        "/v1/assert",
        &[
            key.as_str(),
            "content-type: application/json",
            length.as_str(),
            "transfer-encoding: chunked",
        ],
        chunked.as_bytes(),
    );
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.write_all(&[first, second].concat()).await.unwrap();
    let (statuses, text) = statuses_until_close(&mut stream).await;
    assert_eq!(statuses, [200, 400], "pipelined: {text}");
    // Chunked alone, and chunked requests kept alive, are served.
    let only_te = raw(
        "POST",
        "/v1/assert",
        &[
            key.as_str(),
            "content-type: application/json",
            "transfer-encoding: chunked",
        ],
        chunked.as_bytes(),
    );
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(
            &[
                only_te,
                raw("GET", "/v1/health", &["connection: close"], b""),
            ]
            .concat(),
        )
        .await
        .unwrap();
    let (statuses, text) = statuses_until_close(&mut stream).await;
    assert_eq!(statuses, [201, 200], "chunked, then kept alive: {text}");
    assert_eq!(
        server.count().await,
        1,
        "only the chunked request without Content-Length stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_announced_body_over_the_limit_is_refused_at_once_without_100_continue() {
    let config = ServerConfig {
        assertion_body_bytes_max: 4096,
        batch_body_bytes_max: 8192,
        request_timeout_ms: 20_000,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let address = addr(&server);
    let key = format!("x-api-key: {ROOT_KEY}");
    for (path, length, expect, status) in [
        ("/v1/assert", 4097u64, false, 413),
        ("/v1/assert", 4097, true, 413),
        ("/v1/assert", 1 << 40, false, 413),
        ("/v1/query", 4097, true, 413),
        ("/v1/api-keys", 4097, true, 413),
        ("/v1/assert/batch", 8193, true, 413),
        ("/v1/assert/batch", 8192, true, 100),
    ] {
        let length_line = format!("content-length: {length}");
        let mut headers = vec![
            key.as_str(),
            "content-type: application/json",
            length_line.as_str(),
        ];
        if expect {
            headers.push("expect: 100-continue");
        }
        // Only the head is sent: the answer must not wait for a body.
        let request = raw("POST", path, &headers, b"");
        let started = Instant::now();
        let (response, mut stream) = send(&address, &request).await;
        let name = format!("{path} announcing {length} bytes (expect: {expect})");
        assert_eq!(status_of(&response), status, "{name}: {response}");
        if status == 413 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{name}: at once"
            );
            assert!(
                response.contains("urn:stemedb:problem:payload-too-large"),
                "{name}: {response}"
            );
            assert!(
                closes(&mut stream).await,
                "{name}: closed, the body is not read"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_credential_headers_are_refused_even_when_they_agree() {
    let server = TestServer::start().await;
    let address = addr(&server);
    let root = format!("x-api-key: {ROOT_KEY}");
    let bearer = format!("authorization: Bearer {ROOT_KEY}");
    let wrong = format!("x-api-key: sdb_{}", "ab".repeat(32));
    let wrong_bearer = format!("authorization: Bearer sdb_{}", "ab".repeat(32));
    let cases: Vec<(&str, Vec<&str>, u16, Option<&str>)> = vec![
        ("one X-API-Key", vec![&root], 200, None),
        (
            "X-API-Key and Bearer agreeing",
            vec![&root, &bearer],
            200,
            None,
        ),
        (
            "two X-API-Key, same",
            vec![&root, &root],
            400,
            Some("duplicate-header"),
        ),
        (
            "two X-API-Key, root first",
            vec![&root, &wrong],
            400,
            Some("duplicate-header"),
        ),
        (
            "two X-API-Key, root last",
            vec![&wrong, &root],
            400,
            Some("duplicate-header"),
        ),
        (
            "two Authorization",
            vec![&bearer, &wrong_bearer],
            400,
            Some("duplicate-header"),
        ),
        (
            "two Authorization, same",
            vec![&bearer, &bearer],
            400,
            Some("duplicate-header"),
        ),
    ];
    for (name, headers, status, kind) in cases {
        check(
            &address,
            name,
            &raw("GET", "/v1/api-keys", &headers, b""),
            status,
            kind,
        )
        .await;
        // An open route checks a sent key too.
        check(
            &address,
            name,
            &raw("GET", "/v1/health", &headers, b""),
            status,
            kind,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_names_the_request_id_not_paths_or_engine_messages() {
    let server = TestServer::start().await;
    // The key file cannot be written: its temporary path is a directory.
    std::fs::create_dir(server.dir.path().join("api-keys.json.tmp")).unwrap();
    let response = crate::harness::http()
        .post(format!("{}/v1/api-keys", server.url))
        .header("content-type", "application/json")
        .header("x-request-id", "strict-req-1")
        .body(r#"{"name": "k", "role": "read"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let problem: Value = response.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    let dir = server.dir.path().to_string_lossy().into_owned();
    for secret in [
        dir.as_str(),
        "api-keys",
        "os error",
        "Is a directory",
        "/tmp",
    ] {
        assert!(
            !detail.contains(secret),
            "detail shows {secret:?}: {problem}"
        );
    }
    assert!(
        detail.contains("strict-req-1"),
        "detail names the request id: {problem}"
    );
    assert_eq!(problem["type"], "urn:stemedb:problem:internal");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_answer_a_404_problem() {
    let server = TestServer::start().await;
    let address = addr(&server);
    let key = format!("x-api-key: {ROOT_KEY}");
    for path in [
        "/docs/../x",
        "/docs/../../etc/passwd",
        "/docs/nope.js",
        "/v1/../v1/health",
        "/nowhere",
        "/v1/assertions/",
    ] {
        check(
            &address,
            path,
            &raw("GET", path, &[&key], b""),
            404,
            Some("no-route"),
        )
        .await;
    }
    check(
        &address,
        "/docs/",
        &raw("GET", "/docs/", &[], b""),
        200,
        None,
    )
    .await;
}
