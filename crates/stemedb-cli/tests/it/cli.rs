//! The `stemedb` binary: help, keygen, assert and query against a child server, the demo, and
//! graceful shutdown on SIGTERM.
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

use crate::child::{BIN, ChildServer};

pub(crate) fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .env("STEMEDB_API_KEY", crate::harness::ROOT_KEY)
        .args(args)
        .output()
        .expect("run stemedb");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_has_help() {
    for command in [
        "serve",
        "keygen",
        "assert",
        "query",
        "demo",
        "load-test",
        "audit",
        "verify",
        "check",
        "rebuild-indexes",
        "backup",
        "restore",
        "admin",
        "retract",
        "reinstate",
        "vote",
        "trust",
        "sign",
        "log",
        "show",
        "blame",
        "diff",
        "skeptic",
        "provenance",
        "import",
        "api-key",
        "completions",
        "mcp",
    ] {
        let (ok, stdout, _) = run(&[command, "--help"]);
        assert!(ok && stdout.contains("Usage: stemedb"), "{command} --help");
    }
}

/// `load-test` against `url`, short: 2 clients for at most a second.
fn load_test_on(url: &str) -> [&str; 7] {
    [
        "load-test",
        "--server",
        url,
        "--clients",
        "2",
        "--duration-secs",
        "1",
    ]
}

/// A load test queries the groups a write run left under its tag (not `--count`), and a run
/// with failed requests says so and exits non-zero instead of printing figures as if fine.
#[tokio::test(flavor = "multi_thread")]
async fn load_test_finds_the_groups_written_and_fails_when_requests_fail() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(&dir.path().join("data"));
    let url = server.url.as_str();
    let load = |extra: &[&str]| run(&[&load_test_on(url)[..], extra].concat());
    let (ok, _, err) = load(&[
        "--mode",
        "batch",
        "--count",
        "300",
        "--batch-size",
        "100",
        "--tag",
        "t",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = load(&["--mode", "query", "--tag", "t", "--lens", "recency"]);
    assert!(
        ok && err.contains("querying the 30 groups written under --tag t"),
        "{err}"
    );
    let (ok, _, err) = load(&["--mode", "query", "--tag", "never-written"]);
    assert!(
        !ok && err.contains("no data under --tag never-written"),
        "{err}"
    );
    // The transport's floor: health requests, no data needed, each one counted.
    let (ok, stdout, err) = load(&["--mode", "health", "--json"]);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_default();
    assert!(
        ok && report["requests_ok"].as_u64().is_some_and(|n| n > 0) && report["errors"] == 0,
        "{stdout}{err}"
    );
    // A read key may query but not write: every write fails (403).
    let read_key = crate::harness::create_api_key(url, "reader", "read").await;
    let (ok, stdout, err) = load(&["--mode", "single", "--count", "20", "--api-key", &read_key]);
    assert!(
        !ok && err.contains("requests failed"),
        "a run whose requests fail exits non-zero: {stdout}{err}"
    );
}

/// `--groups` in a write mode spreads the assertions over the groups (each once before any
/// twice) with agents at random, each agent signing with its one key; `--csv` writes the same
/// data as rows for PostgreSQL's COPY without a server (scripts/bench-pg.sh).
#[tokio::test(flavor = "multi_thread")]
async fn load_test_spreads_groups_and_writes_them_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("data.csv");
    let data = [
        "--count",
        "90",
        "--groups",
        "30",
        "--agents",
        "7",
        "--sources-percent",
        "50",
        "--tag",
        "spread",
    ];
    let (ok, _, err) = run(&[&["load-test", "--csv", csv.to_str().unwrap()][..], &data].concat());
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 90, "one row per assertion");
    assert!(
        rows.iter()
            .all(|r| r.len() == 9 && r[0].len() == 66 && r[8].len() == 130)
    );
    let mut per_group = std::collections::BTreeMap::new();
    for row in &rows {
        *per_group.entry(row[2]).or_insert(0) += 1;
    }
    assert_eq!(per_group.len(), 30, "every group is written");
    assert!(per_group.values().all(|&n| n == 3), "evenly: {per_group:?}");
    let cited = rows.iter().filter(|r| r[7] != "\"{}\"").count();
    assert!(
        (20..=70).contains(&cited),
        "about half cite a source: {cited}"
    );
    let server = ChildServer::start(&dir.path().join("data"));
    let url = server.url.as_str();
    let base = load_test_on(url);
    let (ok, _, err) =
        run(&[&base[..], &["--mode", "batch", "--batch-size", "30"], &data].concat());
    assert!(ok, "every agent signs with its own key: {err}");
    let (ok, _, err) = run(&[&base[..], &["--mode", "query", "--tag", "spread"]].concat());
    assert!(ok && err.contains("querying the 30 groups"), "{err}");
}

#[test]
fn keygen_assert_and_query_work_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(&dir.path().join("data"));
    let key_path = dir.path().join("alice.key");
    let key_arg = key_path.to_str().unwrap();
    let (ok, _, err) = run(&["keygen", "--out", key_arg]);
    assert!(ok, "{err}");
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file is private");
    let (ok, _, _) = run(&["keygen", "--out", key_arg]);
    assert!(!ok, "keygen refuses to overwrite without --force");
    let common = ["--server", server.url.as_str()];
    let (ok, stdout, err) = run(&[
        &["assert"][..],
        &common,
        &[
            "--key",
            key_arg,
            "--agent",
            "agent/alice",
            "--subject",
            "drug/aspirin/dosage",
            "--predicate",
            "recommended_mg",
            "--value",
            "81",
            "--confidence",
            "0.9",
            "--source",
            "source/TRIAL",
        ],
    ]
    .concat());
    assert!(ok && stdout.starts_with("stored: "), "{stdout}{err}");
    let (ok, stdout, _) =
        run(&[&["query"][..], &common, &["--subject", "drug/*", "--json"]].concat());
    assert!(ok);
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["assertions"][0]["value"], 81);
    assert_eq!(answer["assertions"][0]["sources"][0], "source/TRIAL");
    let (ok, table, _) = run(&[
        &["query"][..],
        &common,
        &["--subject", "drug/aspirin/dosage", "--lens", "authority"],
    ]
    .concat());
    assert!(
        ok && table.contains("recommended_mg") && table.contains("agent/alice"),
        "{table}"
    );
    let (ok, _, err) = run(&[
        &["assert"][..],
        &common,
        &[
            "--key",
            key_arg,
            "--agent",
            "a",
            "--subject",
            "s",
            "--predicate",
            "p",
            "--value",
            "not json",
        ],
    ]
    .concat());
    assert!(!ok && err.contains("is not JSON"), "{err}");
}

#[test]
fn the_demo_shows_all_five_moments() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(dir.path());
    let (ok, stdout, err) = run(&["demo", "--server", &server.url]);
    assert!(ok, "{stdout}{err}");
    for expected in [
        "lens = recency: winner 325",
        "lens = authority: winner 81",
        "lens = consensus: winner 160",
        "as_of 2019-12-31T00:00:00Z: winner 81",
        "as_of 2024-12-31T00:00:00Z: winner 160",
        "retracted_count 111",
        "one retraction flagged 111 assertions",
        "all 5 signatures verify",
        "All five moments hold",
    ] {
        assert!(
            stdout.contains(expected),
            "demo output lacks {expected:?}:\n{stdout}"
        );
    }
    let score: f64 = stdout
        .split("conflict_score = ")
        .nth(1)
        .and_then(|s| s.get(..5))
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(score > 0.5, "conflict score {score}");
    let (ok, again, _) = run(&["demo", "--server", &server.url]);
    assert!(
        ok && again.contains("already stored") && again.contains("All five moments hold"),
        "the demo is idempotent: {again}"
    );
    let export = dir.path().join("drug.jsonl");
    let export_arg = export.to_str().unwrap();
    let (ok, stdout, err) = run(&[
        "audit",
        "export",
        "--server",
        &server.url,
        "--subject",
        "drug/*",
        "--out",
        export_arg,
    ]);
    assert!(ok && stdout.contains("8 assertions"), "{stdout}{err}");
    let (ok, stdout, _) = run(&["verify", export_arg]);
    assert!(ok && stdout.contains("invalid 0"), "{stdout}");
    let mut bytes = std::fs::read(&export).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&export, bytes).unwrap();
    let (ok, _, err) = run(&["verify", export_arg]);
    assert!(
        !ok && err.contains("does not verify"),
        "a changed byte fails: {err}"
    );
}

#[test]
fn sigterm_stops_cleanly_and_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(dir.path());
    let (ok, _, err) = run(&["demo", "--server", &server.url]);
    assert!(ok, "{err}");
    assert_eq!(server.terminate(), Some(0), "exit code 0 on SIGTERM");
    let server = ChildServer::start(dir.path());
    let (ok, stdout, _) = run(&[
        "query",
        "--server",
        &server.url,
        "--subject",
        "drug/*",
        "--json",
    ]);
    assert!(ok);
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["assertions"].as_array().unwrap().len(), 8);
}

#[test]
fn admin_status_and_export_state_describe_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(&dir.path().join("data"));
    let (ok, _, err) = run(&["demo", "--server", &server.url]);
    assert!(ok, "{err}");
    let (ok, stdout, err) = run(&["admin", "status", "--server", &server.url, "--json"]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        status["assertion_count"].as_u64().unwrap() >= 124,
        "{status}"
    );
    assert_eq!(status["assertion_count"], status["last_sequence"]);
    assert!(status["commits"]["count"].as_u64().unwrap() >= 1);
    assert!(status["commits"]["mean_ms"].as_f64().unwrap() > 0.0);
    assert!(status["storage_bytes"].as_u64().unwrap() > 0);
    let (ok, table, _) = run(&["admin", "status", "--server", &server.url]);
    assert!(
        ok && table.contains("commit latency") && table.contains("last sequence"),
        "{table}"
    );
    let bundle = dir.path().join("state.json");
    let (ok, _, err) = run(&[
        "admin",
        "export-state",
        "--server",
        &server.url,
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let state: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(state["status"]["last_sequence"], status["last_sequence"]);
    assert!(
        state["metrics"]
            .as_str()
            .unwrap()
            .contains("stemedb_http_requests_total")
    );
}

/// A failing command says what failed in sentences, exit status 1, and no stack backtrace even
/// with `RUST_BACKTRACE=1` (set on the machines it runs on); a cause is said once, even where
/// an error prints its source and the chain holds it again.
#[test]
fn a_cli_error_reads_as_sentences_even_with_rust_backtrace_set() {
    for args in [
        vec!["query", "--server", "http://127.0.0.1:1", "--subject", "s"],
        vec!["check", "--data-dir", "/nonexistent/stemedb-data"],
        vec!["serve", "--data-dir", "/proc/stemedb-cannot-be-here"],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("backtrace"),
            "{args:?} printed a backtrace: {stderr}"
        );
        assert!(
            stderr.lines().count() <= 3,
            "{args:?}: a few lines, not a dump: {stderr}"
        );
        let causes: Vec<&str> = stderr.trim_end().split(": ").collect();
        assert!(
            causes.windows(2).all(|pair| pair[0] != pair[1]),
            "{args:?}: a cause said twice: {stderr}"
        );
        assert_eq!(
            stderr.matches("(os error").count().min(1),
            stderr.matches("(os error").count(),
            "{args:?}: an OS error said twice: {stderr}"
        );
    }
}
