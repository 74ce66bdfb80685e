//! One large (subject, predicate) group: each lens answers a bounded page of its ranking with
//! the group's size and a cursor to the rest, and a request past its deadline stops its work
//! (issue 10, item 4; docs/api.md §Large groups).
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stemedb::{Db, DbConfig, DbError, LensKind, Query};

use crate::harness::{TestServer, body, signed};

const SUBJECT: &str = "drug/big/dosage";
const PREDICATE: &str = "mg";

/// `n` assertions in one group, each by its own agent (a lens counts one claim per agent),
/// every value distinct.
fn group_items(n: usize, first_value: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut seed = [40u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let k = stemedb::core::SecretKey::from_seed(&seed);
            let mut b = body(
                &k,
                &format!("agent/big-{i}"),
                SUBJECT,
                PREDICATE,
                json!(first_value + i),
            );
            b.insert("confidence".into(), json!(0.5 + (i % 7) as f64 / 20.0));
            signed(b, &k)
        })
        .collect()
}

async fn load(server: &TestServer, n: usize, first_value: usize) {
    for chunk in group_items(n, first_value).chunks(500) {
        let answer = server.client.assert_batch(chunk).await.unwrap();
        assert_eq!(answer.rejected, 0, "{answer:?}");
    }
}

async fn page(server: &TestServer, lens: &str, extra: &[(&str, &str)]) -> Value {
    let mut params = vec![
        ("subject", SUBJECT),
        ("predicate", PREDICATE),
        ("lens", lens),
    ];
    params.extend_from_slice(extra);
    // As served: the paging tests read the documented JSON shape itself.
    server.client.get_json("/v1/query", &params).await.unwrap()
}

fn ids(group: &Value) -> Vec<String> {
    group["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Under `lens`, the group of `total` answers `default_len` assertions by default, and pages of
/// `step` joined by their cursors give exactly the whole ranking, each with the same winner.
async fn check(server: &TestServer, lens: &str, total: usize, default_len: usize, step: usize) {
    let first = page(server, lens, &[]).await;
    let group = &first["groups"][0];
    assert_eq!(group["assertions_total"], total, "{lens}: the group's size");
    assert_eq!(ids(group).len(), default_len, "{lens}: the default page");
    assert_eq!(first["assertions"].as_array().unwrap().len(), default_len);
    assert!(group["assertions_cursor"].is_string(), "{lens}: a cursor");
    let whole = page(server, lens, &[("assertions_limit", "1000")]).await;
    let whole = &whole["groups"][0];
    assert!(whole["assertions_cursor"].is_null(), "{lens}: one page");
    let want = ids(whole);
    assert_eq!(want.len(), total);
    assert_eq!(
        want[..default_len],
        ids(group)[..],
        "{lens}: the first page"
    );
    let step_text = step.to_string();
    let mut got: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut extra = vec![("assertions_limit", step_text.as_str())];
        if let Some(c) = &cursor {
            extra.push(("assertions_cursor", c.as_str()));
        }
        let answer = page(server, lens, &extra).await;
        let g = &answer["groups"][0];
        assert_eq!(
            g["winner"], whole["winner"],
            "{lens}: every page names the winner"
        );
        assert_eq!(g["conflict_score"], whole["conflict_score"]);
        assert_eq!(g["assertions_offset"], got.len(), "{lens}: the offset");
        let batch = ids(g);
        assert!(
            batch.len() <= step,
            "{lens}: a page holds at most its limit"
        );
        got.extend(batch);
        cursor = g["assertions_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(got, want, "{lens}: the pages are the ranking");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_group_answers_a_bounded_page_with_a_cursor_to_the_rest() {
    let server = TestServer::start().await;
    load(&server, 250, 100).await;
    for lens in LensKind::ALL {
        check(&server, lens.as_str(), 250, 100, 70).await;
    }
    // A cursor reads the snapshot it was cut from: later writes do not shift its pages.
    let first = page(&server, "recency", &[("assertions_limit", "200")]).await;
    let cursor = first["groups"][0]["assertions_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    load(&server, 30, 5_000).await;
    let rest = page(
        &server,
        "recency",
        &[
            ("assertions_limit", "200"),
            ("assertions_cursor", cursor.as_str()),
        ],
    )
    .await;
    assert_eq!(rest["groups"][0]["assertions_total"], 250);
    assert_eq!(ids(&rest["groups"][0]).len(), 50);
    server.stop().await;
}

/// `winner_only=true`: every lens answers the same winner, score, explanation and counts as the
/// full answer, with empty lists and the cursor to the rest of the group (issue 13).
#[tokio::test(flavor = "multi_thread")]
async fn winner_only_answers_the_full_answers_winner_without_the_lists() {
    let server = TestServer::start().await;
    load(&server, 40, 100).await;
    for lens in LensKind::ALL {
        let lens = lens.as_str();
        let full = page(&server, lens, &[]).await;
        let just = page(&server, lens, &[("winner_only", "true")]).await;
        let (full_group, group) = (&full["groups"][0], &just["groups"][0]);
        crate::harness::assert_winner_only_group(group, full_group, lens);
        assert_eq!(just["assertions"], json!([]), "{lens}: no top-level list");
        let cursor = group["assertions_cursor"].as_str().unwrap();
        let rest = page(&server, lens, &[("assertions_cursor", cursor)]).await;
        let mut all = vec![group["winner"]["id"].as_str().unwrap().to_owned()];
        all.extend(ids(&rest["groups"][0]));
        assert_eq!(
            all,
            ids(full_group),
            "{lens}: winner then the rest, in rank order"
        );
    }
    server.stop().await;
}

/// (name, parameters added or replaced, the field the problem names).
type Refusal<'a> = (&'static str, Vec<(&'static str, &'a str)>, &'static str);

#[tokio::test(flavor = "multi_thread")]
async fn bad_assertion_limits_and_cursors_are_refused_by_name() {
    let server = TestServer::start().await;
    load(&server, 30, 100).await;
    let first = page(&server, "recency", &[("assertions_limit", "10")]).await;
    let cursor = first["groups"][0]["assertions_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same cursor in the format of a server before one claim per agent (tag `G`).
    assert!(cursor.starts_with("48"), "an H cursor: {cursor}");
    let before_the_rule = format!("47{}", &cursor[2..]);
    let table: [Refusal<'_>; 10] = [
        ("zero", vec![("assertions_limit", "0")], "assertions_limit"),
        (
            "from a server before one claim per agent",
            vec![("assertions_cursor", before_the_rule.as_str())],
            "assertions_cursor",
        ),
        (
            "above max",
            vec![("assertions_limit", "1001")],
            "assertions_limit",
        ),
        (
            "garbage",
            vec![("assertions_cursor", "zz")],
            "assertions_cursor",
        ),
        (
            "another lens",
            vec![
                ("assertions_cursor", cursor.as_str()),
                ("lens", "authority"),
            ],
            "assertions_cursor",
        ),
        (
            "with a group cursor",
            vec![("assertions_cursor", cursor.as_str()), ("cursor", "00")],
            "assertions_cursor",
        ),
        (
            "another subject",
            vec![
                ("assertions_cursor", cursor.as_str()),
                ("subject", "drug/other"),
            ],
            "assertions_cursor",
        ),
        (
            "winner_only with a page size",
            vec![("winner_only", "true"), ("assertions_limit", "5")],
            "assertions_limit",
        ),
        (
            "winner_only with a group cursor",
            vec![
                ("winner_only", "true"),
                ("assertions_cursor", cursor.as_str()),
            ],
            "assertions_cursor",
        ),
        (
            "winner_only not a bool",
            vec![("winner_only", "yes")],
            "winner_only",
        ),
    ];
    for (name, extra, field) in table {
        let mut params: Vec<(&str, &str)> = vec![("predicate", PREDICATE), ("lens", "recency")];
        if !extra.iter().any(|(k, _)| *k == "subject") {
            params.push(("subject", SUBJECT));
        }
        for (k, v) in &extra {
            params.retain(|(p, _)| p != k);
            params.push((k, v));
        }
        let err = server.client.query(&params).await.unwrap_err();
        let stemedb_client::ClientError::Problem {
            status, problem, ..
        } = err
        else {
            panic!("{name}: not a problem: {err}");
        };
        assert_eq!(status, 400, "{name}: {problem:?}");
        assert_eq!(problem.field.as_deref(), Some(field), "{name}: {problem:?}");
    }
    server.stop().await;
}

/// A Db with `n` assertions in one group.
fn db_with_group(n: usize) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    for result in db.ingest_batch(group_items(n, 100)).unwrap() {
        result.unwrap();
    }
    (dir, db)
}

fn past_deadline<T: std::fmt::Debug>(what: &str, result: Result<T, DbError>) {
    match result {
        Err(DbError::DeadlineExceeded { .. }) => {}
        other => panic!("{what}: expected DeadlineExceeded, got {other:?}"),
    }
}

#[test]
fn work_past_its_deadline_stops_with_a_typed_error() {
    let (_dir, db) = db_with_group(600);
    let passed = Some(Instant::now());
    let later = Some(Instant::now() + Duration::from_secs(600));
    for lens in LensKind::ALL {
        let mut query = Query::new(SUBJECT);
        query.predicate = Some(PREDICATE.into());
        query.lens = lens;
        query.deadline = passed;
        past_deadline(lens.as_str(), db.query(&query));
        query.deadline = later;
        assert_eq!(db.query(&query).unwrap().groups[0].assertions_total, 600);
    }
    past_deadline(
        "skeptic",
        db.skeptic_until(SUBJECT, PREDICATE, stemedb::ReadAt::default(), passed),
    );
    assert!(
        db.skeptic_until(SUBJECT, PREDICATE, stemedb::ReadAt::default(), later)
            .unwrap()
            .is_some()
    );
    past_deadline("audit", db.audit_export_until(SUBJECT, None, passed));
    let (_, summary) = db.audit_export_until(SUBJECT, None, later).unwrap();
    assert_eq!(summary.assertions, 600);
}

/// The sum of `stemedb_deadline_exceeded_total{work="query"}` on `/metrics`. At a 1 ms
/// request timeout the scrape itself may be cut off (503): it is asked again until answered,
/// for up to 30 s.
async fn stopped_queries(url: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let response = crate::harness::http()
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let text = response.text().await.unwrap();
        return text
            .lines()
            .filter(|l| {
                l.starts_with("stemedb_deadline_exceeded_total{") && l.contains("work=\"query\"")
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
    }
    panic!("no scrape of {url}/metrics answered within its 1 ms timeout in 30 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_past_the_request_timeout_is_answered_503_and_its_work_stops() {
    // Loaded through the Db: at a 1 ms timeout the server would refuse the writes too.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), DbConfig::default()).unwrap();
        for chunk in group_items(3_000, 100).chunks(1_000) {
            for result in db.ingest_batch(chunk.to_vec()).unwrap() {
                result.unwrap();
            }
        }
        db.close().unwrap();
    }
    // A server of its own (a child process): the deadline counter is the process's, and
    // other tests' queries past their deadlines would count in an in-process server's.
    let server = crate::child::ChildServer::start_with(
        dir.path(),
        &[
            "--request-timeout-ms".as_ref(),
            "1".as_ref(),
            "--min-sequence-wait-ms".as_ref(),
            "0".as_ref(),
        ],
    );
    let client =
        stemedb_client::Client::new(&server.url, Some(crate::harness::ROOT_KEY.to_owned()))
            .unwrap();
    let before = stopped_queries(&server.url).await;
    let err = client
        .query(&[
            ("subject", SUBJECT),
            ("predicate", PREDICATE),
            ("lens", "consensus"),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        err.problem_type(),
        Some("urn:stemedb:problem:timeout"),
        "{err}"
    );
    // The work itself stopped at its deadline (not only the answer): it counted itself.
    let mut stopped = before;
    for _ in 0..200 {
        stopped = stopped_queries(&server.url).await;
        if stopped > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stopped > before, "the query ran on past its deadline");
    assert_eq!(server.terminate(), Some(0), "a clean stop");
}
