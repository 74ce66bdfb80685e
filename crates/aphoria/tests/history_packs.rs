//! A claim's history through supersession, replayed on a fresh checkout; a trust pack built,
//! checked, installed, and winning its group under the authority lens.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod support;

use serde_json::Value;
use stemedb::{Db, DbConfig, LensKind, Query};
use support::{Repo, verdicts};

fn create(id: &str, expected: &str) -> Vec<String> {
    [
        "--id",
        id,
        "--category",
        "operations",
        "--subject",
        "planted/**",
        "--predicate",
        "limit.value",
        "--comparison",
        "at_most",
        "--expected",
        expected,
        "--invariant",
        "Limits stay small.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(repo: &Repo, head: &[&str], tail: Vec<String>) {
    let mut args: Vec<&str> = head.to_vec();
    args.extend(tail.iter().map(String::as_str));
    repo.ok(&args);
}

#[test]
fn a_claim_superseded_twice_shows_its_whole_history() {
    let mut repo = Repo::copy("planted");
    run(&repo, &["claims", "create"], create("limits-a", "100000"));
    run(
        &repo,
        &["claims", "supersede", "limits-a"],
        create("limits-b", "60000"),
    );
    run(
        &repo,
        &["claims", "supersede", "limits-b"],
        create("limits-c", "30000"),
    );
    let check = |repo: &Repo| {
        let answer = repo.json(&["claims", "explain", "limits-c", "--json"], 0);
        let history = answer["history"].as_array().unwrap();
        let ids: Vec<&str> = history
            .iter()
            .map(|v| v["claim"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["limits-a", "limits-b", "limits-c"]);
        let stages: Vec<&str> = history
            .iter()
            .map(|v| v["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["superseded", "superseded", "active"]);
        for pair in history.windows(2) {
            assert_eq!(pair[1]["supersedes"], pair[0]["record"]);
            assert_eq!(pair[0]["superseded_by"], pair[1]["record"]);
        }
        let list = repo.json(&["claims", "list", "--json"], 0);
        let status = |id: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id)
                .unwrap()["status"]
                .clone()
        };
        assert_eq!(status("limits-a"), "superseded");
        assert_eq!(
            status("limits-c"),
            Value::Null,
            "active is the default, not written"
        );
    };
    check(&repo);
    // A fresh checkout on another machine: no store, other keys; the history file in git
    // rebuilds the same answer.
    std::fs::remove_dir_all(repo.path(".aphoria/db")).unwrap();
    std::fs::remove_dir_all(repo.path(".aphoria/keys")).unwrap();
    repo.new_machine("b");
    check(&repo);
    let lines = std::fs::read_to_string(repo.path(".aphoria/history.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3);
}

fn build_pack(repo: &Repo) -> std::path::PathBuf {
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/packs/rfc8446-strict.toml"
    );
    let out = repo.root.parent().unwrap().join("rfc8446-strict.jsonl");
    repo.ok(&[
        "pack",
        "build",
        rules,
        "--name",
        "rfc8446-strict",
        "--out",
        out.to_str().unwrap(),
    ]);
    out
}

#[test]
fn a_trust_pack_installs_verifies_and_wins_under_the_authority_lens() {
    let repo = Repo::copy("planted");
    let before = repo.json(&["verify", "run", "--json"], 1);
    assert!(verdicts(&before).contains(&("tls-floor".into(), "pass".into())));
    // The hand-written claims go into the store and the history (the lens needs both
    // sides of the contest in one group).
    let synced = repo.ok(&["claims", "sync"]);
    assert!(synced.contains("signed 9 claim version(s)"), "{synced}");
    let pack = build_pack(&repo);
    let out = repo.ok(&["pack", "install", pack.to_str().unwrap()]);
    assert!(
        out.contains("agent aphoria/pack/rfc8446-strict is a trust root"),
        "{out}"
    );
    let after = repo.json(&["verify", "run", "--json"], 1);
    let claims = after["verification"]["claims"].as_array().unwrap();
    let find = |id: &str| claims.iter().find(|c| c["id"] == id).unwrap();
    let floor = find("tls-floor");
    assert_eq!(floor["verdict"], "conflict", "{floor}");
    assert_eq!(floor["overridden_by"]["pack"], "rfc8446-strict");
    assert_eq!(
        floor["overridden_by"]["agent"],
        "aphoria/pack/rfc8446-strict"
    );
    let rule = find("tls-13-only");
    assert_eq!(rule["verdict"], "conflict", "TLS 1.2 is offered: {rule}");
    assert_eq!(rule["origin"]["kind"], "pack");
    // The lens itself, read from the store the commands wrote.
    let db = Db::open(&repo.path(".aphoria/db"), DbConfig::default()).unwrap();
    let mut q = Query::new("aphoria/expect/*");
    q.predicate = Some("tls.protocol_versions".into());
    q.lens = LensKind::Authority;
    let group = db.query(&q).unwrap().groups.remove(0);
    assert_eq!(group.winner.agent_id, "aphoria/pack/rfc8446-strict");
    assert_eq!(
        group.assertions_total, 2,
        "the project's claim and the pack's rule"
    );
    db.close().unwrap();
    // The pack is kept in .aphoria/packs/ and reinstalled on a fresh checkout. (Moved aside,
    // not deleted: the engine's background threads may still be finishing inside it.)
    std::fs::rename(repo.path(".aphoria/db"), repo.path(".aphoria/db-before")).unwrap();
    let again = repo.json(&["verify", "run", "--json"], 1);
    assert_eq!(verdicts(&again), verdicts(&after));
}

#[test]
fn a_damaged_pack_is_refused_by_name() {
    let repo = Repo::copy("planted");
    let pack = build_pack(&repo);
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes.windows(3).position(|w| w == b"1.3").unwrap();
    bytes[at + 2] = b'2'; // the rule now says "at_least 1.2"
    std::fs::write(&pack, &bytes).unwrap();
    let (code, _, err) = repo.run(&["pack", "install", pack.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not verify"), "{err}");
    assert!(!repo.path(".aphoria/packs/rfc8446-strict.jsonl").exists());
}

#[test]
fn a_history_line_signed_as_a_pack_is_refused_by_line() {
    let repo = Repo::copy("planted");
    let rules = aphoria::claims::ClaimsFile::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/packs/rfc8446-strict.toml"
    )))
    .unwrap();
    let key = stemedb_core::SecretKey::from_seed(&[7; 32]);
    let forged = aphoria::record::claim_wire(
        &rules.claims[0],
        "aphoria/pack/rfc8446-strict",
        &key,
        "2026-01-01T00:00:00Z",
        None,
    )
    .unwrap();
    std::fs::write(repo.path(".aphoria/history.jsonl"), format!("{forged}\n")).unwrap();
    let (code, _, err) = repo.run(&["verify", "run"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "history.jsonl: line 1: signed by \"aphoria/pack/rfc8446-strict\", not an author"
        ),
        "{err}"
    );
}

#[test]
fn a_removed_pack_is_no_longer_enforced_and_a_stricter_claim_is_no_conflict() {
    let repo = Repo::copy("planted");
    repo.ok(&["claims", "sync"]);
    let strict = [
        "claims",
        "create",
        "--id",
        "tls-strict",
        "--category",
        "security",
        "--subject",
        "**",
        "--predicate",
        "tls.protocol_versions",
        "--comparison",
        "at_least",
        "--expected",
        "1.3",
        "--invariant",
        "TLS 1.3 only.",
    ];
    repo.ok(&strict);
    let pack = build_pack(&repo);
    repo.ok(&["pack", "install", pack.to_str().unwrap()]);
    let with = repo.json(&["verify", "run", "--json"], 1);
    let find = |v: &Value, id: &str| {
        v["verification"]["claims"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
    };
    assert_eq!(
        find(&with, "tls-floor").unwrap()["overridden_by"]["pack"],
        "rfc8446-strict"
    );
    let stricter = find(&with, "tls-strict").unwrap();
    assert!(
        stricter["overridden_by"].is_null(),
        "as strict as the rule: {stricter}"
    );
    repo.ok(&["pack", "remove", "rfc8446-strict"]);
    let without = repo.json(&["verify", "run", "--json"], 1);
    assert!(
        find(&without, "tls-13-only").is_none(),
        "the pack's rule is gone"
    );
    assert_eq!(find(&without, "tls-floor").unwrap()["verdict"], "pass");
}
