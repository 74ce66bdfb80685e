//! Observability: `/metrics` parses as Prometheus text and carries every documented metric;
//! every request gets an id in `x-request-id` (the caller's, when it sent a sane one), and a
//! log line as `--request-log` says.
use std::collections::HashMap;

use serde_json::json;

use crate::harness::{TestServer, claim};

/// One sample: metric name, labels, value.
pub(crate) type Sample = (String, HashMap<String, String>, f64);

/// Parses the text exposition format; panics (failing the test) on any malformed line.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), HashMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair
                            .split_once("=\"")
                            .unwrap_or_else(|| panic!("bad label: {line}"));
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        samples.push((name, labels, value));
    }
    samples
}

pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .reduce(|a, b| a + b)
}

pub(crate) async fn scrape(url: &str) -> Vec<Sample> {
    let response = crate::harness::http()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    parse(&response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_and_carry_every_documented_name() {
    let server = TestServer::start().await;
    let c = &server.client;
    let before = scrape(&server.url).await;
    let accepted_before = value(
        &before,
        "stemedb_assertions_ingested_total",
        &[("result", "accepted")],
    )
    .unwrap_or(0.0);
    for i in 0..3 {
        c.assert(&claim(1, "m/x", "p", json!(i), 1.0, "2025-01-01T00:00:00Z"))
            .await
            .unwrap();
    }
    let mut bad = claim(1, "m/x", "p", json!(9), 1.0, "2025-01-01T00:00:00Z");
    bad["confidence"] = json!(2);
    assert!(c.assert(&bad).await.is_err());
    for lens in ["recency", "authority", "consensus", "conflict", "layered"] {
        c.query(&[("subject", "m/x"), ("predicate", "p"), ("lens", lens)])
            .await
            .unwrap();
    }
    // Asked twice, a winner is ranked, then given as kept (`answers.rs`).
    for _ in 0..2 {
        let winner = [("subject", "m/x"), ("predicate", "p"), ("lens", "recency")];
        c.query(&[winner.as_slice(), &[("winner_only", "true")]].concat())
            .await
            .unwrap();
    }
    let mut after = scrape(&server.url).await;
    // The reliability table's gauges appear with the first background pass over records, which
    // runs on the cores' idle time: wait for it (any server of this process may set them).
    for _ in 0..600 {
        if after
            .iter()
            .any(|(n, _, _)| n == "stemedb_reliability_compute_seconds_count")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = scrape(&server.url).await;
    }
    for name in [
        "stemedb_assertions_total",
        "stemedb_assertions_ingested_total",
        "stemedb_queries_total",
        "stemedb_query_latency_seconds_bucket",
        "stemedb_query_latency_seconds_count",
        "stemedb_http_requests_total",
        "stemedb_http_request_duration_seconds_bucket",
        "stemedb_commit_batch_size_bucket",
        "stemedb_signature_batch_size_bucket",
        "stemedb_commit_latency_seconds_bucket",
        "stemedb_fsync_latency_seconds_bucket",
        "stemedb_storage_bytes",
        "stemedb_rate_limit_rejections_total",
        "stemedb_connections_open",
        "stemedb_connections_refused_total",
        "stemedb_errors_total",
        "stemedb_storage_damage_total",
        "stemedb_journal_bytes",
        "stemedb_open_duration_seconds",
        "stemedb_agent_circuits_open",
        "stemedb_last_backup_timestamp_seconds",
        "stemedb_reliability_sequence",
        "stemedb_reliability_compute_seconds_count",
    ] {
        assert!(after.iter().any(|(n, _, _)| n == name), "{name} is exposed");
    }
    let open = value(&after, "stemedb_connections_open", &[]).unwrap();
    assert!(
        open >= 1.0,
        "the scrape's own connection is counted open: {open}"
    );
    let accepted = value(
        &after,
        "stemedb_assertions_ingested_total",
        &[("result", "accepted")],
    )
    .unwrap();
    assert!(accepted >= accepted_before + 3.0, "3 accepted counted");
    assert!(
        value(
            &after,
            "stemedb_assertions_ingested_total",
            &[("result", "rejected")]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(value(&after, "stemedb_assertions_total", &[]), Some(3.0));
    for lens in ["recency", "layered"] {
        assert!(
            value(&after, "stemedb_queries_total", &[("lens", lens)]).unwrap() >= 1.0,
            "{lens}"
        );
    }
    // The recorder is the process's: other tests' servers count too, so only a rise is sure.
    for outcome in ["ranked", "kept"] {
        let answers = |scraped| {
            let labels = [("outcome", outcome)];
            value(scraped, "stemedb_winner_answers_total", &labels).unwrap_or(0.0)
        };
        assert!(
            answers(&after) >= answers(&before) + 1.0,
            "winner answers {outcome}"
        );
    }
    let created = value(
        &after,
        "stemedb_http_requests_total",
        &[
            ("method", "POST"),
            ("route", "/v1/assert"),
            ("status", "201"),
        ],
    );
    assert!(
        created.unwrap() >= 3.0,
        "requests by method, route and status"
    );
    assert!(
        value(
            &after,
            "stemedb_errors_total",
            &[("kind", "validation-failed")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(value(&after, "stemedb_storage_bytes", &[]).unwrap() > 0.0);
    assert!(
        value(&after, "stemedb_journal_bytes", &[]).unwrap() > 0.0,
        "the writes are in the journal"
    );
    assert!(value(&after, "stemedb_open_duration_seconds", &[]).unwrap() > 0.0);
    let routes: Vec<&String> = after
        .iter()
        .filter_map(|(_, l, _)| l.get("route"))
        .collect();
    assert!(
        routes
            .iter()
            .all(|r| r.starts_with('/') || *r == "unmatched"),
        "route labels are templates: {routes:?}"
    );
}

/// Any client may send a method of its own spelling; a label per spelling would add series
/// (kept for the life of the process) without bound.
#[tokio::test(flavor = "multi_thread")]
async fn extension_methods_are_counted_under_one_label() {
    let server = TestServer::start().await;
    let sent = ["FOOBAR", "XMETHOD1", "XMETHOD2"];
    let other = |samples: &[Sample]| {
        value(
            samples,
            "stemedb_http_requests_total",
            &[("method", "other"), ("route", "/v1/health")],
        )
        .unwrap_or(0.0)
    };
    let before = other(&scrape(&server.url).await);
    for method in sent {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let status = crate::harness::http()
            .request(method, format!("{}/v1/health", server.url))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 405);
    }
    let after = scrape(&server.url).await;
    assert!(other(&after) >= before + 3.0, "counted as other");
    const STANDARD: [&str; 10] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "other",
    ];
    for (name, labels, _) in &after {
        if let Some(method) = labels.get("method") {
            assert!(
                STANDARD.contains(&method.as_str()),
                "{name}: method {method}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_a_request_id() {
    let server = TestServer::start().await;
    let http = crate::harness::http();
    let mine = http
        .get(format!("{}/v1/health", server.url))
        .header("x-request-id", "trace-abc_1.2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        mine.headers()["x-request-id"],
        "trace-abc_1.2",
        "the caller's id is echoed"
    );
    let mut seen = std::collections::HashSet::new();
    for path in ["/v1/health", "/v1/nowhere", "/v1/health"] {
        let response = http
            .get(format!("{}{path}", server.url))
            .header("x-request-id", "bad id with spaces")
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{path}: a new id, {id}"
        );
        assert!(seen.insert(id), "ids are unique");
    }
}

/// Starts the real server with `--request-log MODE` (or its default), sends one request that
/// succeeds, one answered 404 and one answered 503 (a query for a sequence the node never
/// applies, after `--min-sequence-wait-ms`), stops it, and checks which of their ids its log
/// names, and at which level: `levels` gives each one's (`None`: no line).
async fn check_request_log(mode: Option<&str>, levels: [Option<&str>; 3]) {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let mut command = Command::new(crate::child::BIN);
    command
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--min-sequence-wait-ms",
            "100",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("STEMEDB_ROOT_API_KEY", crate::harness::ROOT_KEY)
        .env_remove("STEMEDB_REQUEST_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap());
    if let Some(mode) = mode {
        command.args(["--request-log", mode]);
    }
    let mut child = command.spawn().unwrap();
    let url = crate::child::read_listening_line(&mut child);
    let server = crate::child::ChildServer { child, url };
    let tag = mode.unwrap_or("default");
    let requests = [
        ("/v1/health", "ok", 200),
        ("/v1/nowhere", "miss", 404),
        ("/v1/query?subject=drug/*&min_sequence=99", "fail", 503),
    ];
    for (path, id, expected) in requests {
        let response = crate::harness::http()
            .get(format!("{}{path}", server.url))
            .header("x-request-id", format!("{id}-{tag}"))
            .header("x-api-key", crate::harness::ROOT_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{tag} {path}");
    }
    assert_eq!(server.terminate(), Some(0), "{tag}: a clean stop");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("stopped cleanly"),
        "{tag}: the log was captured:\n{log}"
    );
    for ((_, id, _), level) in requests.iter().zip(levels) {
        let needle = format!("request_id={id}-{tag} ");
        let line = log.lines().find(|line| line.contains(&needle));
        let logged = line.map(|line| {
            ["INFO", "WARN", "ERROR"]
                .into_iter()
                .find(|level| line.contains(&format!(" {level} ")))
                .unwrap_or("no level")
        });
        assert_eq!(logged, level, "{tag}: the line for {id}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_logged_as_the_setting_says() {
    let (info, warn) = (Some("INFO"), Some("WARN"));
    check_request_log(None, [None, info, warn]).await;
    check_request_log(Some("errors"), [None, info, warn]).await;
    check_request_log(Some("all"), [info, info, warn]).await;
    check_request_log(Some("off"), [None, None, None]).await;
}
