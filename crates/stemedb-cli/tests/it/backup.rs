//! Backup and restore: an online backup taken while writes continue, an incremental one,
//! offline verification, a full restore with identical records and lens answers, point-in-time
//! restore, and the refusals that protect existing data.
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use stemedb_client::Client;
use stemedb_client::wire::{QueryResponse, Record};
use stemedb_server::ServerConfig;

use crate::child::BIN;
use crate::harness::{TestServer, all_pages, body, key, signed};
use crate::truth::{grant, post, rec};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .env("STEMEDB_API_KEY", crate::harness::ROOT_KEY)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn batch(tag: &str, start: usize, len: usize) -> Vec<Value> {
    (start..start + len)
        .map(|i| {
            let k = key((i % 7) as u8 + 1);
            let mut b = body(
                &k,
                &format!("backup/agent{}", i % 7),
                &format!("bk/{tag}/s{}", i / 5),
                "p",
                json!(i % 11),
            );
            b.insert("confidence".into(), json!(0.5 + (i % 5) as f64 / 10.0));
            signed(b, &k)
        })
        .collect()
}

/// The answers that must survive: every page of a consensus query over everything, as of `at`.
async fn answers(c: &Client, at: u64) -> Vec<QueryResponse<Record>> {
    let at = at.to_string();
    all_pages(
        c,
        &[
            ("subject", "*"),
            ("lens", "consensus"),
            ("limit", "1000"),
            ("at_sequence", &at),
            ("include_retracted", "true"),
        ],
    )
    .await
}

fn manifest_last(dir: &Path) -> u64 {
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    m["last_sequence"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_during_ingest_restores_exactly_and_to_a_point_in_time() {
    let server = TestServer::start().await;
    let c = server.client.clone();
    for start in (0..10_000).step_by(1000) {
        assert_eq!(
            c.assert_batch(&batch("a", start, 1000))
                .await
                .unwrap()
                .accepted,
            1000
        );
    }
    grant(&c, "/v1/admin/curators", "curator").await;
    let target = c
        .query(&[("subject", "bk/a/s1"), ("predicate", "p")])
        .await
        .unwrap()
        .groups[0]
        .winner
        .id
        .clone();
    post(
        &c,
        "/v1/retract",
        &rec(
            9,
            "curator",
            &target,
            "stemedb:retracts",
            json!({"reason": "bad", "cascade": true}),
            "2025-02-01T00:00:00Z",
            &[],
        ),
    )
    .await;

    let work = tempfile::tempdir().unwrap();
    let (full, incremental) = (work.path().join("full"), work.path().join("incr"));
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (c, writing) = (c.clone(), Arc::clone(&writing));
        tokio::spawn(async move {
            let mut start = 20_000;
            while writing.load(Ordering::Relaxed) {
                c.assert_batch(&batch("b", start, 200)).await.unwrap();
                start += 200;
            }
        })
    };
    let url = server.url.clone();
    let full_arg = full.to_str().unwrap().to_owned();
    let (ok, text) =
        tokio::task::spawn_blocking(move || run(&["backup", "--server", &url, "--out", &full_arg]))
            .await
            .unwrap();
    writing.store(false, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(ok, "{text}");
    let first_last = manifest_last(&full);
    assert!(first_last >= 10_001, "{text}");
    c.assert_batch(&batch("c", 40_000, 500)).await.unwrap();
    let url = server.url.clone();
    let (full_arg, incr_arg) = (
        full.to_str().unwrap().to_owned(),
        incremental.to_str().unwrap().to_owned(),
    );
    let (ok, text) = tokio::task::spawn_blocking(move || {
        run(&[
            "backup", "--server", &url, "--out", &incr_arg, "--since", &full_arg,
        ])
    })
    .await
    .unwrap();
    assert!(ok && text.contains("(incremental)"), "{text}");
    let last = manifest_last(&incremental);
    assert!(last > first_last);
    let (full_arg, incr_arg) = (full.to_str().unwrap(), incremental.to_str().unwrap());
    let server_pub = server.dir.path().join("server.pub");
    let trusted = server_pub.to_str().unwrap();
    let (ok, text) = run(&[
        "backup",
        "verify",
        full_arg,
        incr_arg,
        "--server-key",
        trusted,
    ]);
    assert!(ok, "{text}");

    let restored_dir = tempfile::tempdir().unwrap();
    let restored_arg = restored_dir.path().to_str().unwrap().to_owned();
    let restored_arg = restored_arg.as_str();
    let (ok, text) = run(&[
        "restore",
        full_arg,
        incr_arg,
        "--data-dir",
        restored_arg,
        "--server-key",
        trusted,
    ]);
    assert!(
        ok && text.contains(&format!("restored {last} records")),
        "{text}"
    );
    let pit_dir = tempfile::tempdir().unwrap();
    let pit_path = pit_dir.path().to_owned();
    let pit_arg = pit_path.to_str().unwrap();
    let (ok, text) = run(&[
        "restore",
        full_arg,
        incr_arg,
        "--data-dir",
        pit_arg,
        "--to-sequence",
        "5000",
        "--server-key",
        trusted,
    ]);
    assert!(ok, "{text}");
    for (flag, value) in [
        ("--to-time", "2000-01-01T00:00:00Z"),
        ("--to-sequence", "0"),
    ] {
        let empty = tempfile::tempdir().unwrap();
        let (ok, text) = run(&[
            "restore",
            full_arg,
            "--data-dir",
            empty.path().to_str().unwrap(),
            flag,
            value,
            "--server-key",
            trusted,
        ]);
        assert!(
            !ok && text.contains("nothing to restore"),
            "{flag} {value} selects no record and is refused: {text}"
        );
    }

    let original_full = answers(&c, last).await;
    let original_pit = answers(&c, 5000).await;
    let restored = TestServer::start_in(restored_dir, ServerConfig::default()).await;
    assert_eq!(restored.count().await, last);
    assert_eq!(
        answers(&restored.client, last).await,
        original_full,
        "identical records, stages and lens answers"
    );
    let retracted = restored.client.get(&target).await.unwrap().unwrap();
    assert_eq!(
        retracted.lifecycle_stage, "retracted",
        "truth state is restored too"
    );
    let (ok, text) = run(&[
        "restore",
        full_arg,
        "--data-dir",
        restored_arg,
        "--force",
        "--server-key",
        trusted,
    ]);
    assert!(
        !ok && text.contains("in use"),
        "a directory a server holds is refused: {text}"
    );
    let pit = TestServer::start_in(pit_dir, ServerConfig::default()).await;
    assert_eq!(pit.count().await, 5000);
    assert_eq!(
        answers(&pit.client, 5000).await,
        original_pit,
        "point-in-time restore"
    );
    let (status, _) = pit
        .client
        .post_json(
            "/v1/api-keys",
            &serde_json::json!({"name": "kept", "role": "read"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    let pit_dir = pit.stop().await;
    assert_eq!(pit_dir.path(), pit_path);
    let _keep_until_renamed = pit_dir.keep();

    let (ok, text) = run(&[
        "restore",
        full_arg,
        "--data-dir",
        pit_arg,
        "--server-key",
        trusted,
    ]);
    assert!(!ok && text.contains("not empty"), "{text}");
    let (ok, forced) = run(&[
        "restore",
        full_arg,
        "--data-dir",
        pit_arg,
        "--force",
        "--server-key",
        trusted,
    ]);
    assert!(ok, "{forced}");
    let name = pit_path.file_name().unwrap().to_string_lossy().into_owned();
    let aside = std::fs::read_dir(pit_path.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}.replaced-"))
        });
    assert!(
        aside.as_ref().is_some_and(|p| p.join("FORMAT").exists()),
        "--force renames the old data aside, never deletes it: {forced}"
    );
    // The replaced directory's keys and audit history carry over, and the restore is audited.
    let audit = std::fs::read_to_string(pit_path.join("admin-audit.jsonl")).unwrap();
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        ["restore", "api_key.create", "restore"],
        "the first restore, the key, the forced restore: {audit}"
    );
    assert!(
        audit.contains("\"carried_over\":[\"api-keys.json\""),
        "{audit}"
    );
    let keys = std::fs::read_to_string(pit_path.join("api-keys.json")).unwrap();
    assert!(keys.contains("\"kept\""), "the API keys carried over");
    let aside_dir = aside.as_ref().unwrap();
    for name in ["server.key", "server.pub"] {
        assert_eq!(
            std::fs::read(pit_path.join(name)).unwrap(),
            std::fs::read(aside_dir.join(name)).unwrap(),
            "the server key carries over: {name}"
        );
    }
    std::fs::remove_dir_all(aside.unwrap()).ok();
    std::fs::remove_dir_all(&pit_path).ok();

    let records = full.join("records.jsonl");
    let mut bytes = std::fs::read(&records).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&records, bytes).unwrap();
    let (ok, text) = run(&["backup", "verify", full_arg, "--server-key", trusted]);
    assert!(!ok && text.contains("was changed"), "{text}");
}

/// Copies a backup directory (its two files) into a fresh one.
fn copy_backup(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["manifest.json", "records.jsonl"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Leaves the backup as written.
fn untouched(_: &Path) {}

/// The forgery of issue 10, item 6: the third record of `records.jsonl` is replaced by another
/// validly signed record (same sequence and `recorded_at`), and the manifest's hash recomputed.
fn forge_record(dir: &Path) {
    let path = dir.join("records.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut line: Value = serde_json::from_str(&lines[2]).unwrap();
    let forger = key(42);
    let forged = body(&forger, "forger", "bk/forged", "p", json!("forged"));
    let canonical = serde_json_canonicalizer::to_string(&forged).unwrap();
    let id = stemedb::core::AssertionId::of_canonical(canonical.as_bytes());
    line["canonical"] = json!(canonical);
    line["signature"] = json!(forger.sign(&id).to_hex());
    lines[2] = line.to_string();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let mut manifest = read_json(&dir.join("manifest.json"));
    manifest["records_blake3"] = json!(
        blake3::hash(&std::fs::read(&path).unwrap())
            .to_hex()
            .to_string()
    );
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

/// Signs the manifest again, with a key other than the server's (after forging a record).
fn forge_and_resign(dir: &Path) {
    forge_record(dir);
    let path = dir.join("manifest.json");
    let mut manifest: stemedb::backup::Manifest = serde_json::from_value(read_json(&path)).unwrap();
    manifest.sign(&key(43)).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

/// Drops the role grants from the signed manifest.
fn drop_roles(dir: &Path) {
    let path = dir.join("manifest.json");
    let mut manifest = read_json(&path);
    manifest["roles"] = json!([]);
    std::fs::write(&path, manifest.to_string()).unwrap();
}

/// Forges a record and turns the manifest into an unsigned `stemedb-backup/1` one.
fn forge_and_downgrade(dir: &Path) {
    forge_record(dir);
    let path = dir.join("manifest.json");
    let mut manifest = read_json(&path);
    manifest["format"] = json!("stemedb-backup/1");
    let map = manifest.as_object_mut().unwrap();
    map.remove("signature");
    map.remove("server_public_key");
    std::fs::write(&path, manifest.to_string()).unwrap();
}

/// One tampering of a backup and what `backup verify` and `restore` must say about it.
struct Tamper {
    name: &'static str,
    tamper: fn(&Path),
    /// Extra arguments for both commands.
    args: Vec<String>,
    ok: bool,
    says: &'static str,
}

fn check(case: &Tamper, original: &Path, records: u64) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backup");
    copy_backup(original, &dir);
    (case.tamper)(&dir);
    let dir_arg = dir.to_str().unwrap();
    let extra: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let (ok, text) = run(&[&["backup", "verify", dir_arg][..], &extra].concat());
    assert_eq!(ok, case.ok, "{}: backup verify says {text}", case.name);
    assert!(text.contains(case.says), "{}: verify: {text}", case.name);
    let target = work.path().join("restored");
    let target_arg = target.to_str().unwrap();
    let (ok, text) = run(&[&["restore", dir_arg, "--data-dir", target_arg][..], &extra].concat());
    assert_eq!(ok, case.ok, "{}: restore says {text}", case.name);
    if ok {
        assert!(
            text.contains(&format!("restored {records} records")),
            "{}: {text}",
            case.name
        );
    } else {
        assert!(text.contains(case.says), "{}: restore: {text}", case.name);
        assert!(
            !target.join("FORMAT").exists(),
            "{}: a refused restore writes nothing",
            case.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_or_altered_backup_is_refused() {
    let server = TestServer::start().await;
    let c = server.client.clone();
    assert_eq!(
        c.assert_batch(&batch("f", 0, 20)).await.unwrap().accepted,
        20
    );
    // The grant is a record too (signed by the server key): the backup holds 21.
    grant(&c, "/v1/admin/curators", "curator").await;
    let work = tempfile::tempdir().unwrap();
    let server_pub = server.dir.path().join("server.pub");
    let server_hex = std::fs::read_to_string(&server_pub).unwrap();
    let backup_with_key = |out: &Path, trusted: String| {
        let (url, out) = (server.url.clone(), out.to_str().unwrap().to_owned());
        tokio::task::spawn_blocking(move || {
            run(&[
                "backup",
                "--server",
                &url,
                "--out",
                &out,
                "--server-key",
                &trusted,
            ])
        })
    };
    let (ok, text) = backup_with_key(&work.path().join("refused"), key(43).public_key().to_hex())
        .await
        .unwrap();
    assert!(
        !ok && text.contains("not by the trusted server key"),
        "a backup signed by a key other than the expected one is refused: {text}"
    );
    let original = work.path().join("original");
    let (ok, text) = backup_with_key(&original, server_pub.display().to_string())
        .await
        .unwrap();
    assert!(ok && text.contains(server_hex.trim()), "{text}");
    assert_eq!(
        c.get_json("/v1/admin/status", &[]).await.unwrap()["server_public_key"],
        server_hex.trim(),
        "the status shows the server key's public half"
    );
    let file = vec!["--server-key".into(), server_pub.display().to_string()];
    let hex = vec!["--server-key".into(), server_hex.trim().to_owned()];
    let other = vec!["--server-key".into(), key(43).public_key().to_hex()];
    let case = |name, tamper, args: &Vec<String>, ok, says| Tamper {
        name,
        tamper,
        args: args.clone(),
        ok,
        says,
    };
    let with_unsigned = [file.clone(), vec!["--allow-unsigned".into()]].concat();
    let cases = [
        case(
            "untouched, key file",
            untouched,
            &file,
            true,
            "verified 1 backup(s): 21 records",
        ),
        case(
            "untouched, key hex",
            untouched,
            &hex,
            true,
            "verified 1 backup(s): 21 records",
        ),
        case(
            "no trusted key",
            untouched,
            &vec![],
            false,
            "no server key is trusted",
        ),
        case(
            "another trusted key",
            untouched,
            &other,
            false,
            "not by the trusted server key",
        ),
        case(
            "a record replaced by another validly signed one, hash recomputed (issue 10.6)",
            forge_record,
            &file,
            false,
            "the manifest was changed after the server signed it",
        ),
        case(
            "the forgery, manifest re-signed with another key",
            forge_and_resign,
            &file,
            false,
            "not by the trusted server key",
        ),
        case(
            "the role grants dropped from the manifest",
            drop_roles,
            &file,
            false,
            "the manifest was changed after the server signed it",
        ),
        case(
            "the forgery, downgraded to an unsigned stemedb-backup/1",
            forge_and_downgrade,
            &file,
            false,
            "carries no server signature",
        ),
        case(
            "the same with --allow-unsigned: accepted, loudly",
            forge_and_downgrade,
            &with_unsigned,
            true,
            "WARNING: 1 backup(s) are stemedb-backup/1",
        ),
    ];
    for case in &cases {
        check(case, &original, 21);
    }
    let reports = [
        ("untouched", untouched as fn(&Path), 200),
        ("a record forged, hash recomputed", forge_record, 422),
        ("re-signed with another key", forge_and_resign, 422),
        ("downgraded to unsigned", forge_and_downgrade, 422),
    ];
    for (name, tamper, status) in reports {
        check_report(&c, server.dir.path(), name, tamper, &original, status).await;
    }
}

/// Reports a (tampered) backup's manifest as verified: the server records it (in
/// `backup-status.json`, which its gauge shows) only when it signed exactly that manifest.
/// The file is read rather than the gauge because every test server in this process shares one
/// metrics recorder, and a server starting elsewhere sets the gauge to its own (zero) time; the
/// gauge as scraped is checked against a server of its own in
/// `deploy::the_backup_and_verify_units_run_against_a_real_server`.
async fn check_report(
    c: &Client,
    data: &Path,
    name: &str,
    tamper: fn(&Path),
    original: &Path,
    want: u16,
) {
    let work = tempfile::tempdir().unwrap();
    copy_backup(original, work.path());
    tamper(work.path());
    let manifest = std::fs::read(work.path().join("manifest.json")).unwrap();
    let status_file = data.join("backup-status.json");
    let verified_at = || {
        let times = std::fs::read(&status_file).ok()?;
        serde_json::from_slice::<Value>(&times).ok()?["last_verified_unix_s"].as_f64()
    };
    let before = verified_at();
    let (status, said_at) = match c.post_raw("/v1/admin/backup/verified", manifest).await {
        Ok((status, answer)) => {
            assert_eq!(answer["last_sequence"], manifest_last(original), "{name}");
            (status, answer["verified_at_unix_s"].as_f64())
        }
        Err(e) => {
            assert_eq!(
                e.problem_type(),
                Some("urn:stemedb:problem:backup-manifest-refused"),
                "{name}: {e}"
            );
            (422, None)
        }
    };
    assert_eq!(status, want, "{name}");
    let after = verified_at();
    if want == 200 {
        assert!(after.is_some_and(|t| t > 1.0e9), "{name}: {after:?}");
        assert_eq!(
            after, said_at,
            "{name}: the file keeps the time the answer gave"
        );
    } else {
        assert_eq!(after, before, "{name}: a refused report changes nothing");
    }
}

/// A backup page ends once its records' signed bytes reach `--backup-page-bytes-max`, whatever
/// its `limit` (a count of records, which can be 64 KiB each); `stemedb backup` goes on from
/// where a page ended and takes every record all the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_page_ends_at_its_byte_budget_and_the_backup_is_whole() {
    let config = ServerConfig {
        backup_page_bytes_max: 1,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let c = server.client.clone();
    assert_eq!(
        c.assert_batch(&batch("p", 0, 12)).await.unwrap().accepted,
        12
    );
    let page = c
        .get_bytes(
            "/v1/admin/backup/records",
            &[("after", "0"), ("upto", "12"), ("limit", "100")],
        )
        .await
        .unwrap();
    let lines = page
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(
        lines, 1,
        "a page of 100 with a budget of 1 byte holds its first record"
    );
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("b");
    let (url, out_text) = (server.url.clone(), out.to_str().unwrap().to_owned());
    let (ok, text) =
        tokio::task::spawn_blocking(move || run(&["backup", "--server", &url, "--out", &out_text]))
            .await
            .unwrap();
    assert!(ok, "{text}");
    assert_eq!(manifest_last(&out), 12);
    let records = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert_eq!(
        records.lines().count(),
        12,
        "every record, a page at a time"
    );
    let server_pub = server.dir.path().join("server.pub");
    let (ok, text) = run(&[
        "backup",
        "verify",
        out.to_str().unwrap(),
        "--server-key",
        server_pub.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
}
