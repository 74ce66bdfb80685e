//! `stemedb check`: a healthy data directory scans clean; flipped bytes in its files are
//! reported by name with a non-zero exit, never a panic.
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::child::BIN;
use crate::harness::{TestServer, claim};

/// Runs `stemedb check` with `flags` on `dir`.
fn run_check(dir: &Path, flags: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .env("STEMEDB_API_KEY", crate::harness::ROOT_KEY)
        .arg("check")
        .args(flags)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn check(dir: &Path) -> (Option<i32>, Value, String) {
    let out = run_check(dir, &["--json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `stemedb rebuild-indexes` on `dir`, which must succeed; returns what it printed.
fn rebuild_indexes(dir: &Path) -> String {
    let out = Command::new(BIN)
        .env("STEMEDB_API_KEY", crate::harness::ROOT_KEY)
        .args(["rebuild-indexes", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&crate::child::succeeded(out).stdout).into_owned()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

async fn stored_directory() -> tempfile::TempDir {
    stored_directory_in(tempfile::tempdir().unwrap()).await
}

async fn stored_directory_in(dir: tempfile::TempDir) -> tempfile::TempDir {
    let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
    let items: Vec<Value> = (0..500)
        .map(|i| {
            let mut wire = claim(
                3,
                &format!("check/s{i}"),
                "p",
                json!(i),
                1.0,
                "2025-01-01T00:00:00Z",
            );
            if i % 2 == 0 {
                wire = claim(
                    4,
                    &format!("check/s{i}"),
                    "p",
                    json!(i),
                    0.5,
                    "2025-02-01T00:00:00Z",
                );
            }
            wire
        })
        .collect();
    assert_eq!(
        server.client.assert_batch(&items).await.unwrap().accepted,
        500
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_directory_checks_clean() {
    let dir = stored_directory().await;
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(0), "{report} {err}");
    assert_eq!(
        (
            &report["records"],
            &report["valid"],
            &report["problem_count"]
        ),
        (&json!(500), &json!(500), &json!(0))
    );
    let indexes = report["indexes"].as_array().unwrap();
    assert!(
        indexes.iter().all(|i| i["entries"] == i["expected"]),
        "{indexes:?}"
    );
}

/// A directory laid out as format 2 left it: the engine's keyspaces created in format 2's
/// order (so `by_valid_time` is the 7th, `agents` the 8th and `truth` the 9th), the retired
/// index holding an entry, and 500 records written through a server; then `FORMAT` says 2.
async fn format_2_directory() -> tempfile::TempDir {
    const FORMAT_2_KEYSPACES: [&str; 9] = [
        "meta",
        "log",
        "ids",
        "by_subject",
        "by_agent",
        "by_source",
        "by_valid_time",
        "agents",
        "truth",
    ];
    let dir = tempfile::tempdir().unwrap();
    {
        let db = fjall::Database::builder(dir.path().join("engine"))
            .open()
            .unwrap();
        for name in FORMAT_2_KEYSPACES {
            let keyspace = db
                .keyspace(name, fjall::KeyspaceCreateOptions::default)
                .unwrap();
            if name == "by_valid_time" {
                keyspace.insert([0x80u8; 16], []).unwrap();
            }
        }
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    std::fs::write(dir.path().join("FORMAT"), "stemedb-format 3\n").unwrap();
    let dir = stored_directory_in(dir).await;
    let records: Vec<_> = (0..500u64)
        .map(|i| (format!("check/s{i}"), "p".to_owned(), i + 1))
        .collect();
    crate::harness::as_older_format(dir.path(), 2, &records);
    dir
}

fn has_keyspace(dir: &Path, name: &str) -> bool {
    let db = fjall::Database::builder(dir.join("engine")).open().unwrap();
    db.keyspace_exists(name)
}

fn format_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("FORMAT")).unwrap()
}

/// `check` reads a format 2 directory without changing it (the release that wrote it can still
/// open it); a server upgrades it at open, drops the retired index and keeps every record.
#[tokio::test(flavor = "multi_thread")]
async fn a_format_2_directory_is_upgraded_by_a_server_and_keeps_every_record() {
    let dir = format_2_directory().await;
    assert!(has_keyspace(dir.path(), "by_valid_time"), "the setup took");
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(0), "{report} {err}");
    assert_eq!(report["valid"], json!(500), "{report}");
    assert_eq!(
        format_of(dir.path()),
        "stemedb-format 2\n",
        "check changes nothing"
    );
    assert!(has_keyspace(dir.path(), "by_valid_time"));
    let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
    let answer = server
        .client
        .query(&[("subject", "check/s7"), ("predicate", "p")])
        .await
        .unwrap();
    assert_eq!(answer.groups.len(), 1, "served after the upgrade");
    assert_eq!(answer.groups[0].winner.body.value, json!(7));
    let dir = server.stop().await;
    assert_eq!(format_of(dir.path()), "stemedb-format 5\n");
    assert!(
        !has_keyspace(dir.path(), "by_valid_time"),
        "the retired index is gone"
    );
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(0), "{report} {err}");
    assert_eq!(report["valid"], json!(500), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn flipped_bytes_in_the_data_files_are_named_not_a_panic() {
    let dir = stored_directory().await;
    damage_largest_table(dir.path());
    let (code, report, err) = check(dir.path());
    assert_eq!(
        code,
        Some(1),
        "a clean failure, not a panic (101): {report} {err}"
    );
    let named =
        report["problems"].as_array().is_some_and(|p| !p.is_empty()) || !err.trim().is_empty();
    assert!(named, "the damage is named: {report} {err}");
    println!("damaged: {report} {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuilt_indexes_give_the_same_answers_and_check_clean() {
    let server = TestServer::start().await;
    let c = &server.client;
    let items: Vec<Value> = (0..300)
        .map(|i| {
            claim(
                5 + (i % 3) as u8,
                &format!("rebuild/s{}", i % 40),
                "p",
                json!(i % 7),
                0.5 + (i % 5) as f64 / 10.0,
                "2025-01-01T00:00:00Z",
            )
        })
        .collect();
    c.assert_batch(&items).await.unwrap();
    let params = [
        ("subject", "rebuild/*"),
        ("lens", "consensus"),
        ("limit", "1000"),
    ];
    let before = c.query(&params).await.unwrap();
    let dir = server.stop().await;
    assert!(rebuild_indexes(dir.path()).contains("from 300 log records"));
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(0), "{report} {err}");
    let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
    let after = server.client.query(&params).await.unwrap();
    assert_eq!(before, after, "the same answers from rebuilt indexes");
    assert_eq!(after.groups.len(), 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_on_damaged_files_never_serves_a_record_that_fails_verification() {
    let dir = stored_directory().await;
    let ids: Vec<String> = {
        let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
        let pages =
            crate::harness::all_pages(&server.client, &[("subject", "check/*"), ("limit", "1000")])
                .await;
        let ids: Vec<String> = pages
            .iter()
            .flat_map(|p| p.assertions.iter().map(|r| r.id.clone()))
            .collect();
        let dir = server.stop().await;
        damage_largest_table(dir.path());
        let (code, _, _) = check(dir.path());
        assert_eq!(code, Some(1), "check names the damage");
        let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
        let (mut served, mut refused) = (0, 0);
        for id in &ids {
            match crate::harness::served_record(&server.client, id).await {
                Ok(Some(record)) => {
                    assert!(
                        crate::harness::verify_record(&record),
                        "a served record verifies: {id}"
                    );
                    served += 1;
                }
                Err(stemedb_client::ClientError::Problem {
                    status: 503, kind, ..
                }) => {
                    assert!(kind.ends_with("storage-corrupt"), "{kind}");
                    refused += 1;
                }
                other => panic!("{id}: {other:?}"),
            }
        }
        assert!(
            refused > 0 && served > 0,
            "damage is isolated to the records it hit: {served} served, {refused} refused"
        );
        assert!(server.client.health().await.is_ok(), "the server stays up");
        ids
    };
    assert_eq!(ids.len(), 500);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_table_file_is_named_by_check_and_the_server_refuses_to_start_or_serves_only_verified_records()
 {
    let dir = stored_directory().await;
    let table = largest_table(dir.path());
    let len = std::fs::metadata(&table).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&table)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (code, report, err) = check(dir.path());
    assert_eq!(
        code,
        Some(1),
        "a clean failure, not a panic: {report} {err}"
    );
    assert!(
        err.contains("damaged or truncated") || report["problem_count"].as_u64() > Some(0),
        "check names the damage: {report} {err}"
    );
    // The server either stops at start with a reason, or starts and serves only what verifies.
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("STEMEDB_ROOT_API_KEY", crate::harness::ROOT_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let started = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    match exited {
        Some(status) => {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            assert_eq!(
                status.code(),
                Some(1),
                "a clean refusal, not a panic: {stderr}"
            );
            assert!(
                stderr.contains("opening data directory")
                    && stderr.contains("damaged or truncated"),
                "the reason is given: {stderr}"
            );
            println!("refused to start: {stderr}");
        }
        None => {
            // Still running: it must be serving, and only records that verify.
            let _ = child.kill();
            let _ = child.wait();
            let out = started.join().unwrap();
            panic!("a server on a truncated table file kept running without isolating it: {out}");
        }
    }
}

/// Damage to the table holding agent bindings: the server starts, and a write that needs the
/// binding is answered `503 storage-corrupt` (never a bare 500), counted in
/// `stemedb_storage_damage_total` and logged; `check` names the keyspace.
#[tokio::test(flavor = "multi_thread")]
async fn damage_to_the_agent_bindings_is_named_by_check_and_answered_as_storage_corrupt() {
    let dir = stored_directory().await;
    // Keyspaces are numbered in the order `Store::open` creates them: agents is the 7th
    // (fjall's own is 0).
    let tables = dir.path().join("engine/keyspaces/7/tables");
    let mut all = Vec::new();
    files(&tables, &mut all);
    assert!(!all.is_empty(), "the agents keyspace has a table: {all:?}");
    for table in &all {
        let mut bytes = std::fs::read(table).unwrap();
        bytes[..16].fill(0); // the first block's header
        std::fs::write(table, bytes).unwrap();
    }
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(1), "{report} {err}");
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("keyspace agents: damaged")),
        "check names the keyspace: {report}"
    );
    let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
    let write = claim(3, "check/new", "p", json!(1), 1.0, "2025-03-01T00:00:00Z");
    match server.client.assert(&write).await {
        Err(stemedb_client::ClientError::Problem { status, kind, .. }) => assert_eq!(
            (status, kind.as_str()),
            (503, "urn:stemedb:problem:storage-corrupt")
        ),
        other => panic!("expected 503 storage-corrupt, got {other:?}"),
    }
    let samples = crate::metrics::scrape(&server.url).await;
    let counted = crate::metrics::value(&samples, "stemedb_storage_damage_total", &[]);
    assert!(counted.is_some_and(|n| n >= 1.0), "counted: {counted:?}");
    assert!(server.client.health().await.is_ok(), "the server stays up");
}

/// A batch that meets a damaged agent binding (too short to hold a key) on its second record
/// is refused whole: the first record, decided before the damage was met, is not stored
/// behind an error answer either.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_meeting_a_damaged_binding_is_refused_whole() {
    let dir = stored_directory().await;
    crate::harness::write_engine_keys(dir.path(), "agents", &[(b"agent/4", &[1, 2, 3])]);
    let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
    let first = claim(5, "check/new-a", "p", json!(1), 1.0, "2025-03-01T00:00:00Z");
    let second = claim(4, "check/new-b", "p", json!(2), 1.0, "2025-03-01T00:00:00Z");
    match server.client.assert_batch(&[first.clone(), second]).await {
        Err(stemedb_client::ClientError::Problem { status, kind, .. }) => assert_eq!(
            (status, kind.as_str()),
            (503, "urn:stemedb:problem:storage-corrupt")
        ),
        other => panic!("expected 503 storage-corrupt, got {other:?}"),
    }
    let alone = server.client.assert(&first).await.unwrap();
    assert!(!alone.duplicate, "the refused batch stored nothing");
}

/// A damaged binding (a length other than a key's 32 bytes, or the key and its first record's
/// sequence, 40) is named as damage where its agent is read, never taken for another key.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_binding_is_named_where_its_agent_is_read() {
    let dir = stored_directory().await;
    let (short, between) = ([1u8; 3], [1u8; 35]);
    crate::harness::write_engine_keys(
        dir.path(),
        "agents",
        &[(b"check-short", &short), (b"check-between", &between)],
    );
    let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
    for agent in ["check-short", "check-between"] {
        let answer = server
            .client
            .get_json(&format!("/v1/agents/{agent}"), &[])
            .await;
        match answer {
            Err(stemedb_client::ClientError::Problem { status, kind, .. }) => assert_eq!(
                (status, kind.as_str()),
                (503, "urn:stemedb:problem:storage-corrupt"),
                "{agent}"
            ),
            other => panic!("{agent}: expected 503 storage-corrupt, got {other:?}"),
        }
    }
}

/// lsm-tree asserts on fields of its version files instead of returning an error, and its
/// destructor then aborts: a damaged version file ended `check` and `serve` with a stack trace
/// and SIGABRT. Both now exit 1 naming the damage and the way back.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_engine_version_file_is_named_not_a_panic() {
    let dir = stored_directory().await;
    let keyspace = dir.path().join("engine/keyspaces/2");
    for entry in std::fs::read_dir(&keyspace).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('v') {
            let mut bytes = std::fs::read(entry.path()).unwrap();
            bytes[8..16].fill(0); // the version's level count, among others
            std::fs::write(entry.path(), bytes).unwrap();
        }
    }
    for command in [
        vec!["check", "--data-dir"],
        vec!["serve", "--bind", "127.0.0.1:0", "--data-dir"],
    ] {
        let out = Command::new(BIN)
            .args(&command)
            .arg(dir.path())
            .env("STEMEDB_ROOT_API_KEY", crate::harness::ROOT_KEY)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{command:?}: a clean exit 1: {stderr}"
        );
        assert!(
            stderr.contains("found its files damaged") && !stderr.contains("panicked"),
            "{command:?} names the damage without a stack trace: {stderr}"
        );
    }
}

/// The largest table file of a data directory (the journal is replayed only after a crash).
fn largest_table(dir: &Path) -> PathBuf {
    let mut all = Vec::new();
    files(&dir.join("engine"), &mut all);
    all.iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "tables"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap()
        .clone()
}

/// Flips three bytes of the largest table file.
fn damage_largest_table(dir: &Path) {
    let largest = largest_table(dir);
    let mut bytes = std::fs::read(&largest).unwrap();
    for offset in [bytes.len() / 3, bytes.len() / 2, 2 * bytes.len() / 3] {
        bytes[offset] ^= 0xFF;
    }
    std::fs::write(&largest, bytes).unwrap();
}

/// Damages every new-subject counter (`N` keys), drops the first-seen keys (`F`) and sets
/// `last_derived_sequence` (and `new_subjects_saved_sequence` with it) back, so that the next open must derive the last records again and
/// fails on the counters. Returns how many counters it damaged.
fn damage_new_subject_counters(dir: &Path, derived_upto: u64) -> usize {
    let db = fjall::Database::builder(dir.join("engine")).open().unwrap();
    let truth = db
        .keyspace("truth", fjall::KeyspaceCreateOptions::default)
        .unwrap();
    let counters: Vec<Vec<u8>> = truth
        .prefix(b"N")
        .map(|guard| guard.key().unwrap().to_vec())
        .collect();
    for key in &counters {
        truth.insert(key, [1u8, 2, 3]).unwrap();
    }
    // Without their first-seen keys the records derived again are of new subjects, whose
    // agent's counters the burst rule reads.
    let first_seen: Vec<Vec<u8>> = truth
        .prefix(b"F")
        .map(|guard| guard.key().unwrap().to_vec())
        .collect();
    for key in &first_seen {
        truth.remove(key).unwrap();
    }
    let meta = db
        .keyspace("meta", fjall::KeyspaceCreateOptions::default)
        .unwrap();
    meta.insert(b"last_derived_sequence", derived_upto.to_be_bytes())
        .unwrap();
    // The counts are saved as far as the derived state goes, no further.
    meta.insert(b"new_subjects_saved_sequence", derived_upto.to_be_bytes())
        .unwrap();
    db.persist(fjall::PersistMode::SyncAll).unwrap();
    counters.len()
}

/// A derivation that fails at open on damaged derived state stops the server and `check`
/// with the damage named, and `rebuild-indexes`, which opens without deriving, repairs it.
#[tokio::test(flavor = "multi_thread")]
async fn a_derivation_failing_at_open_is_named_and_repaired_by_a_rebuild() {
    let dir = stored_directory().await;
    assert!(
        damage_new_subject_counters(dir.path(), 490) > 0,
        "the setup took"
    );
    let refused = stemedb::Db::open(dir.path(), stemedb::DbConfig::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("new_subjects"), "named: {refused:?}");
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(1), "named, not a panic: {report} {err}");
    assert!(err.contains("new_subjects"), "{err}");
    rebuild_indexes(dir.path());
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(0), "{report} {err}");
    assert_eq!(report["valid"], json!(500), "{report}");
    serves_a_stored_group(dir, "check/s499", "after the rebuild").await;
}

/// A server starts on `dir` and answers `subject`'s group, which it holds.
async fn serves_a_stored_group(dir: tempfile::TempDir, subject: &str, context: &str) {
    let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
    let answer = server
        .client
        .query(&[("subject", subject), ("predicate", "p")])
        .await
        .unwrap();
    assert_eq!(answer.groups.len(), 1, "{subject} served {context}");
    server.stop().await;
}

/// A key written into a stored directory's engine: (keyspace, key, value).
type EngineKey<'a> = (&'a str, &'a [u8], &'a [u8]);

/// Writes `damage` into a stored directory; the open must refuse the
/// store naming `named`, and `rebuild-indexes` (which derives the truth state again) must
/// repair it.
async fn check_saved_counts_damage(damage: &[EngineKey<'_>], named: &str) {
    let dir = stored_directory().await;
    for (keyspace, key, value) in damage {
        crate::harness::write_engine_keys(dir.path(), keyspace, &[(key, value)]);
    }
    let refused = stemedb::Db::open(dir.path(), stemedb::DbConfig::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains(named), "{named}: {refused:?}");
    rebuild_indexes(dir.path());
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(0), "{named}: {report} {err}");
}

/// The saved new-subject counts claim a sequence no further than the derived state reaches
/// (`truth/new_subjects.rs`); a key that says otherwise, or is not a sequence, is damage. So is
/// a first-seen (`F`) value that an open counting the unsaved records again cannot read: not
/// a sequence and a 0/1 flag (nine bytes) or an older store's sequence alone (eight).
#[tokio::test(flavor = "multi_thread")]
async fn new_subject_counts_saved_past_the_derived_state_are_named() {
    const SAVED: &[u8] = b"new_subjects_saved_sequence";
    // `F check/s7 0x00 0u64`: the first-seen key of a stored record's subject.
    let first_seen: Vec<u8> = [&b"Fcheck/s7\0"[..], &[0; 8]].concat();
    let replay_all: &[u8] = &0u64.to_be_bytes();
    let past_derived: &[u8] = &1_000_000u64.to_be_bytes();
    let flag_2: &[u8] = &[0, 0, 0, 0, 0, 0, 0, 1, 2];
    // (the damage: keyspace, key, value; what the refusal names)
    let cases: [(Vec<EngineKey>, &str); 4] = [
        (
            vec![("meta", SAVED, past_derived)],
            "above last_derived_sequence",
        ),
        (
            vec![("meta", SAVED, &[1, 2, 3])],
            "meta/new_subjects_saved_sequence",
        ),
        (
            vec![
                ("meta", SAVED, replay_all),
                ("truth", &first_seen, &[0, 0, 0, 0, 0, 0, 1]),
            ],
            "truth/first_seen",
        ),
        (
            vec![("meta", SAVED, replay_all), ("truth", &first_seen, flag_2)],
            "truth/first_seen",
        ),
    ];
    for (damage, named) in cases {
        check_saved_counts_damage(&damage, named).await;
    }
}

/// A damaged log record among those an open counts again for the burst rule after a crash
/// (`truth/new_subjects.rs`, `replay_counts`): `check` opens the store anyway and names the
/// record, and a server starts on it, as when the counts were saved past it.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_record_among_the_counts_to_replay_is_named_by_check() {
    // (the saved sequence of the counts: 0 replays every record, 500 none)
    for saved in [0u64, 500] {
        let dir = stored_directory().await;
        crate::harness::write_engine_keys(
            dir.path(),
            "meta",
            &[(b"new_subjects_saved_sequence", &saved.to_be_bytes())],
        );
        crate::harness::write_engine_keys(
            dir.path(),
            "log",
            &[(&250u64.to_be_bytes(), b"not a record")],
        );
        let (code, report, err) = check(dir.path());
        assert_eq!(code, Some(1), "saved {saved}: {report} {err}");
        let problems = report["problems"].to_string();
        assert!(problems.contains("250"), "saved {saved}: {report} {err}");
        serves_a_stored_group(dir, "check/s7", &format!("with counts saved at {saved}")).await;
    }
}

/// `check` reports and writes nothing for the burst rule's counts (`CountsAtOpen::Leave`): not
/// the saved sequence a store without one (an older release's) gets at a writing open, nor the
/// counts it counts again after a crash. (That a writing open saves both, `new_subjects.rs`'s
/// test across a SIGKILL shows: without them the counts would be lost at the next crash.)
#[tokio::test(flavor = "multi_thread")]
async fn check_writes_no_new_subject_counts() {
    const SAVED: &[u8] = b"new_subjects_saved_sequence";
    // (the saved sequence before: none, as an older release left it; 0, as after a crash)
    for saved in [None, Some(0u64)] {
        let dir = stored_directory().await;
        match saved {
            None => crate::harness::remove_engine_key(dir.path(), "meta", SAVED),
            Some(seq) => crate::harness::write_engine_keys(
                dir.path(),
                "meta",
                &[(SAVED, &seq.to_be_bytes())],
            ),
        }
        let (code, report, err) = check(dir.path());
        assert_eq!(code, Some(0), "{saved:?}: {report} {err}");
        let after = crate::harness::read_engine_key(dir.path(), "meta", SAVED);
        assert_eq!(after, saved.map(|s| s.to_be_bytes().to_vec()), "{saved:?}");
    }
}

/// Runs `stemedb check --accept-loss` on `dir`; returns its exit code and what it printed.
fn check_accepting_loss(dir: &Path) -> (Option<i32>, String) {
    let out = run_check(dir, &["--accept-loss"]);
    let printed = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    (out.status.code(), printed.into_owned())
}

/// Sets `meta` keys of a stored directory (500 records) above its log's end, as when the log
/// lost records the engine had committed. `check` must open it, name it and change nothing;
/// `check --accept-loss` must take the engine at the log's end (truth derived again), after
/// which `check` is clean and a server stores the next record right after the log's last.
async fn check_log_short(meta: &[(&[u8], u64)]) {
    let dir = stored_directory().await;
    for (key, value) in meta {
        crate::harness::write_engine_keys(dir.path(), "meta", &[(key, &value.to_be_bytes())]);
    }
    let at: Vec<String> = meta
        .iter()
        .map(|(key, value)| format!("{}={value}", String::from_utf8_lossy(key)))
        .collect();
    let at = at.join(", ");
    let refused = stemedb::Db::open(dir.path(), stemedb::DbConfig::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("501..=600"),
        "{at}: a server refuses: {refused:?}"
    );
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(1), "{at}: {report} {err}");
    let named = "the log's last record is sequence 500, but last_applied_sequence is 600";
    assert!(
        report["problems"].to_string().contains(named),
        "{at}: {report}"
    );
    let applied = crate::harness::read_engine_key(dir.path(), "meta", b"last_applied_sequence");
    assert_eq!(
        applied,
        Some(600u64.to_be_bytes().to_vec()),
        "{at}: check writes nothing"
    );
    let (code, printed) = check_accepting_loss(dir.path());
    assert_eq!(code, Some(0), "{at}: {printed}");
    let (code, report, err) = check(dir.path());
    assert_eq!(code, Some(0), "{at}: {report} {err}");
    assert_eq!(report["valid"], json!(500), "{at}: {report}");
    let server = TestServer::start_in(dir, stemedb_server::ServerConfig::default()).await;
    let wire = claim(5, "check/after", "p", json!(1), 0.9, "2025-03-01T00:00:00Z");
    let stored = server.client.assert(&wire).await.unwrap();
    assert_eq!(stored.sequence, 501, "{at}: no gap after the accepted loss");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_that_ends_before_last_applied_is_named_by_check_and_accepted() {
    // The meta keys set above the log's end (500).
    let cases: [&[(&[u8], u64)]; 2] = [
        &[(b"last_applied_sequence", 600)],
        &[
            (b"last_applied_sequence", 600),
            (b"last_derived_sequence", 600),
            (b"new_subjects_saved_sequence", 600),
        ],
    ];
    for meta in cases {
        check_log_short(meta).await;
    }
}
