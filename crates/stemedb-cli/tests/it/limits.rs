//! Every request limit at its value and just past it (issue 4 §6): body bytes, JSON nesting,
//! array lengths, request-head bytes, slow clients (head and body), and the connection cap.
//! Raw TCP where the limit lives below HTTP, so that the test controls every byte and pause.
use std::time::Duration;

use serde_json::{Value, json};
use stemedb_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{ROOT_KEY, TestServer, claim};

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Reads one HTTP response (head and a content-length body) from `stream`; "" if closed first.
pub(crate) async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + length {
                return text;
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&buf).into_owned(),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "no response within 10 s; got {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
}

pub(crate) fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A POST of `body` to `path` with the root key, as raw bytes.
fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nx-api-key: {ROOT_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A POST of `body` to `path` with the root key, sent in two chunks with no length announced:
/// only the route's body limit can refuse it, not the edge's look at `content-length`.
fn post_chunked(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nx-api-key: {ROOT_KEY}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let (first, second) = body.split_at(body.len() / 2);
    for chunk in [first, second] {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

async fn send(server: &TestServer, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr(server)).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_response(&mut stream).await
}

/// One limit case: what is sent, the status expected, and the problem type when refused.
async fn check(server: &TestServer, name: &str, request: Vec<u8>, status: u16, kind: Option<&str>) {
    let response = send(server, &request).await;
    assert_eq!(status_of(&response), status, "{name}: {response}");
    if let Some(kind) = kind {
        assert!(
            response.contains(&format!("urn:stemedb:problem:{kind}")),
            "{name}: expected {kind}: {response}"
        );
    }
}

/// A signed assertion padded with trailing spaces to exactly `len` bytes.
fn padded(seed: u8, len: usize) -> Vec<u8> {
    let mut bytes = claim(
        seed,
        "limits/body",
        "p",
        json!(seed),
        1.0,
        "2025-01-01T00:00:00Z",
    )
    .to_string()
    .into_bytes();
    assert!(bytes.len() <= len);
    bytes.resize(len, b' ');
    bytes
}

/// A signed assertion whose value nests `levels` arrays (the body itself is one more level).
fn nested(seed: u8, levels: usize) -> Vec<u8> {
    let mut value = json!(1);
    for _ in 0..levels {
        value = Value::Array(vec![value]);
    }
    claim(
        seed,
        "limits/depth",
        "p",
        value,
        1.0,
        "2025-01-01T00:00:00Z",
    )
    .to_string()
    .into_bytes()
}

fn with_sources(seed: u8, count: usize) -> Vec<u8> {
    let k = crate::harness::key(seed);
    let mut b = crate::harness::body(
        &k,
        &format!("agent/{seed}"),
        "limits/sources",
        "p",
        json!(1),
    );
    let sources: Vec<String> = (0..count).map(|i| format!("source/s{i}")).collect();
    b.insert("sources".into(), json!(sources));
    crate::harness::signed_unchecked(b, &k)
        .to_string()
        .into_bytes()
}

fn batch(count: usize) -> Vec<u8> {
    let items: Vec<Value> = (0..count)
        .map(|i| {
            claim(
                70,
                "limits/batch",
                "p",
                json!(i),
                1.0,
                "2025-01-01T00:00:00Z",
            )
        })
        .collect();
    json!({"assertions": items}).to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn body_depth_and_array_limits_hold_at_the_limit_and_refuse_just_past_it() {
    let config = ServerConfig {
        assertion_body_bytes_max: 4096,
        json_depth_max: 8,
        db: stemedb::DbConfig {
            batch_len_max: 3,
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        (
            "body of exactly 4096 bytes",
            post("/v1/assert", &padded(61, 4096)),
            201,
            None,
        ),
        (
            "body of 4097 bytes",
            post("/v1/assert", &padded(62, 4097)),
            413,
            Some("payload-too-large"),
        ),
        (
            "chunked body of 4097 bytes",
            post_chunked("/v1/assert", &padded(69, 4097)),
            413,
            Some("payload-too-large"),
        ),
        (
            "chunked body of 4097 bytes to an admin route",
            post_chunked("/v1/api-keys", &padded(70, 4097)),
            413,
            Some("payload-too-large"),
        ),
        (
            "chunked body of 4097 bytes to a role grant",
            post_chunked("/v1/admin/curators", &padded(71, 4097)),
            413,
            Some("payload-too-large"),
        ),
        (
            "JSON 8 levels deep",
            post("/v1/assert", &nested(63, 7)),
            201,
            None,
        ),
        (
            "JSON 9 levels deep",
            post("/v1/assert", &nested(64, 8)),
            400,
            Some("json-too-deep"),
        ),
        (
            "brackets inside strings do not count",
            post(
                "/v1/assert",
                &claim(
                    65,
                    "limits/str",
                    "p",
                    json!("[[[[[[[[[[[["),
                    1.0,
                    "2025-01-01T00:00:00Z",
                )
                .to_string()
                .into_bytes(),
            ),
            201,
            None,
        ),
        (
            "batch of 3 (the limit)",
            post("/v1/assert/batch", &batch(3)),
            200,
            None,
        ),
        (
            "a batch past the assertion limit, within its own (chunked)",
            post_chunked("/v1/assert/batch", &{
                let mut body = batch(3);
                body.resize(5000, b' ');
                body
            }),
            200,
            None,
        ),
        (
            "batch of 4",
            post("/v1/assert/batch", &batch(4)),
            413,
            Some("batch-too-large"),
        ),
        (
            "64 sources (the limit)",
            post("/v1/assert", &with_sources(66, 64)),
            201,
            None,
        ),
        (
            "65 sources",
            post("/v1/assert", &with_sources(67, 65)),
            422,
            Some("validation-failed"),
        ),
    ];
    for (name, request, status, kind) in cases {
        check(&server, name, request, status, kind).await;
    }
}

/// A GET of `/v1/health` whose head is exactly `len` bytes, padded by one header.
fn head_of(len: usize) -> Vec<u8> {
    let fixed = "GET /v1/health HTTP/1.1\r\nhost: localhost\r\nx-pad: \r\n\r\n".len();
    format!(
        "GET /v1/health HTTP/1.1\r\nhost: localhost\r\nx-pad: {}\r\n\r\n",
        "a".repeat(len - fixed)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_head_at_the_byte_limit_is_served_and_one_past_it_gets_431() {
    let config = ServerConfig {
        header_bytes_max: 8192,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    check(&server, "head of 8192 bytes", head_of(8192), 200, None).await;
    check(&server, "head of 8193 bytes", head_of(8193), 431, None).await;
    check(&server, "head of 20000 bytes", head_of(20_000), 431, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_within_the_timeouts_are_served_and_past_them_are_cut_off() {
    let config = ServerConfig {
        // Wide enough that the write sent within it (signature check, commit, fsync) fits on
        // a loaded machine: the first version, at 600 ms, left 400 ms for it.
        header_read_timeout_ms: 1_500,
        request_timeout_ms: 1_500,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let head = b"GET /v1/health HTTP/1.1\r\nhost: localhost\r\n\r\n";
    let halves = |pause_ms: u64, request: Vec<u8>| {
        let address = addr(&server);
        async move {
            let mut stream = TcpStream::connect(address).await.unwrap();
            let (first, rest) = request.split_at(request.len() - 10);
            stream.write_all(first).await.unwrap();
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            // Past the limit the server may have closed already: a failed write is an answer.
            let _ = stream.write_all(rest).await;
            read_response(&mut stream).await
        }
    };
    let within = halves(200, head.to_vec()).await;
    assert_eq!(status_of(&within), 200, "a head sent in 200 ms: {within}");
    let past = halves(4_000, head.to_vec()).await;
    assert!(
        past.is_empty(),
        "a head that takes 4 s gets no answer, the connection is closed: {past:?}"
    );
    let body = padded(68, 600);
    let within = halves(200, post("/v1/assert", &body)).await;
    assert_eq!(status_of(&within), 201, "a body sent in 200 ms: {within}");
    let late = halves(4_000, post("/v1/assert", &padded(69, 600))).await;
    assert_eq!(status_of(&late), 503, "a body that takes 4 s: {late}");
    assert!(late.contains("urn:stemedb:problem:timeout"), "{late}");
    assert_eq!(
        server.count().await,
        1,
        "only the body sent in time was stored"
    );
}

/// Opens a connection and has one request answered on it, so that it counts as open.
async fn open_connection(server: &TestServer) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr(server)).await.unwrap();
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut stream).await;
    (stream, response)
}

/// Connections are served on the connection workers' threads (`stemedb-conn-N`): each wait
/// for a connection's next request is a voluntary context switch of its worker's thread, so
/// 100 requests on one connection add about 100. Counted per thread that was there before and
/// after (other tests' servers in this process come and go, and leave their workers idle if
/// connections never reach them).
#[tokio::test(flavor = "multi_thread")]
async fn requests_are_served_on_the_connection_workers_threads() {
    let config = ServerConfig {
        connection_workers: 2,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let http = crate::harness::http();
    let before = worker_switches();
    for _ in 0..100 {
        let response = http
            .get(format!("{}/v1/health", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let after = worker_switches();
    let added: u64 = after
        .iter()
        .filter_map(|(thread, n)| Some(n.saturating_sub(*before.get(thread)?)))
        .sum();
    assert!(added >= 50, "the workers' threads switched {added} times");
}

/// Voluntary context switches of each connection worker's thread in this process, by id.
fn worker_switches() -> std::collections::HashMap<String, u64> {
    let mut switches = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("stemedb-conn-") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let count = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse().ok());
        if let Some(count) = count {
            switches.insert(task.file_name().to_string_lossy().into_owned(), count);
        }
    }
    switches
}

/// Out of file descriptors, the accept loop pauses and goes on: with the server's limit set
/// just above what it holds, the clients past it wait in the kernel's queue while accepting
/// fails, and once they close, a new client is served (the loop did not end on the failures).
#[tokio::test(flavor = "multi_thread")]
async fn out_of_descriptors_the_server_pauses_accepting_and_then_serves_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::child::ChildServer::start(dir.path());
    let pid = server.child.id();
    let fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    // The store opens files of its own after the server listens: let it settle first (a
    // store that cannot open a file stops the server).
    let mut settled = fds();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = fds();
        if now == settled {
            break;
        }
        settled = now;
    }
    let limit = settled + 8;
    let limited = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("this test needs prlimit (util-linux) to lower the server's descriptor limit");
    assert!(limited.success(), "prlimit --pid {pid} failed");
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    let mut waiting = TcpStream::connect(&address).await.unwrap();
    let request = "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    waiting.write_all(request.as_bytes()).await.unwrap();
    let early = tokio::time::timeout(Duration::from_secs(1), read_response(&mut waiting)).await;
    assert!(
        early.is_err(),
        "not served while out of descriptors: {early:?}"
    );
    drop(held);
    let response = tokio::time::timeout(Duration::from_secs(10), read_response(&mut waiting))
        .await
        .expect("served once the descriptors came back");
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(server.terminate(), Some(0));
}

/// With connections on the shared runtime (0 workers) and on three connection workers.
#[tokio::test(flavor = "multi_thread")]
async fn the_connection_cap_serves_its_limit_and_answers_one_more_with_503() {
    for workers in [0, 3] {
        check_connection_cap(workers).await;
    }
}

async fn check_connection_cap(connection_workers: usize) {
    let config = ServerConfig {
        connections_max: 4,
        connection_workers,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let mut held = Vec::new();
    for i in 0..4 {
        let (stream, response) = open_connection(&server).await;
        assert_eq!(
            status_of(&response),
            200,
            "{connection_workers} workers, connection {i}: {response}"
        );
        held.push(stream);
    }
    let (_, refused) = open_connection(&server).await;
    assert_eq!(
        status_of(&refused),
        503,
        "{connection_workers} workers, the fifth connection: {refused}"
    );
    assert!(
        refused.contains("urn:stemedb:problem:too-many-connections"),
        "{refused}"
    );
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    // A closed connection frees its place.
    drop(held.pop());
    let mut served = String::new();
    for _ in 0..50 {
        served = open_connection(&server).await.1;
        if status_of(&served) == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status_of(&served), 200, "after one closed: {served}");
}

#[test]
fn settings_outside_their_range_are_refused_by_name() {
    for (config, name) in [
        (
            ServerConfig {
                json_depth_max: 129,
                ..ServerConfig::default()
            },
            "json_depth_max",
        ),
        (
            ServerConfig {
                json_depth_max: 0,
                ..ServerConfig::default()
            },
            "json_depth_max",
        ),
        (
            ServerConfig {
                connections_max: 0,
                ..ServerConfig::default()
            },
            "connections_max",
        ),
        (
            ServerConfig {
                connection_workers: 257,
                ..ServerConfig::default()
            },
            "connection_workers",
        ),
        (
            ServerConfig {
                header_bytes_max: 4096,
                ..ServerConfig::default()
            },
            "header_bytes_max",
        ),
        (
            ServerConfig {
                agent_guard: stemedb_server::agent_guard::AgentGuardConfig {
                    write_rate_per_sec: 100,
                    write_burst: 100,
                    ..Default::default()
                },
                ..ServerConfig::default()
            },
            "agent_write_burst",
        ),
        (
            ServerConfig {
                agent_guard: stemedb_server::agent_guard::AgentGuardConfig {
                    tracked_agents_max: 0,
                    ..Default::default()
                },
                ..ServerConfig::default()
            },
            "agent_tracked_max",
        ),
    ] {
        let error = config.check().unwrap_err();
        assert!(error.contains(name), "{name}: {error}");
    }
    assert!(ServerConfig::default().check().is_ok());
}

/// A journal bound below the storage engine's minimum is refused by name at configuration
/// time (the engine would panic on it), and the default passes.
#[test]
fn a_journal_bound_below_the_engine_minimum_is_refused_by_name() {
    let small = stemedb::DbConfig {
        journal_bytes_max: 1024 * 1024,
        ..stemedb::DbConfig::default()
    };
    let error = small.check().unwrap_err().to_string();
    assert!(error.contains("journal_bytes_max"), "{error}");
    assert!(stemedb::DbConfig::default().check().is_ok());
}
