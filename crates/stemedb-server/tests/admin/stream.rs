//! The stream's entries: audit entries and replay after a crash, the encoding, and what a
//! malformed entry is.
use std::path::Path;

use serde_json::{Value, json};
use stemedb_server::AuditEntry;
use stemedb_server::admin_state::{APPLIED_FILE_NAME, AdminChange, AdminState, AdminStateError};
use stemedb_server::auth::{KeyRecord, Role};
use tempfile::TempDir;

use crate::fake::*;

#[tokio::test]
async fn audit_entries_converge_and_replay_changes_nothing() {
    let cluster = cluster(3, true);
    for (on, action) in [
        (0, "curator.add"),
        (2, "trust_root.add"),
        (1, "quarantine.approve"),
    ] {
        let entry = AuditEntry {
            at: stemedb_server::auth::now(),
            actor: "root".into(),
            action: action.into(),
            target: "agent/x".into(),
            detail: json!({"effective_after_sequence": on}),
        };
        cluster.nodes[on].commit.record(entry).await.unwrap();
        cluster.check_converged(action);
    }
    let create = KeyStep::Create { on: 0, name: "k" };
    run_step(&cluster.nodes[0].commit, &create, &[])
        .await
        .unwrap();
    sign_on(&cluster, 1, "agent/c").await;
    cluster.check_converged("before replay");
    let audit = String::from_utf8(cluster.nodes[0].file(AUDIT_FILE).unwrap()).unwrap();
    let seqs: Vec<u64> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["admin_seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4], "each entry carries its stream sequence");
    let entries = cluster.entries();
    for crashed_after in [entries.len(), 0, 2, 3, 4] {
        check_replay(&cluster, &entries, crashed_after);
    }
}

/// Replays the stream from `recorded + 1` on every node, as after a crash that wrote the
/// files of every entry but recorded only `recorded` as applied: the files do not change.
fn check_replay(cluster: &Cluster, entries: &[Vec<u8>], recorded: usize) {
    let label = format!("replay after {recorded}");
    let before: Vec<_> = cluster.nodes.iter().map(Node::files).collect();
    for (index, node) in cluster.nodes.iter().enumerate() {
        let applied =
            format!("{{\"format\":\"stemedb-admin-applied/1\",\"applied_seq\":{recorded}}}\n");
        std::fs::write(node.dir.path().join(APPLIED_FILE_NAME), applied).unwrap();
        let reopened = open_state(node.dir.path(), &MASTER_KEY, true);
        assert_eq!(reopened.applied_seq(), recorded as u64, "{label}");
        // Twice: the first re-applies, the second is a redelivery.
        for _ in 0..2 {
            for (seq, bytes) in (1u64..).zip(entries) {
                reopened.apply_bytes(seq, bytes).unwrap();
            }
        }
        assert_eq!(node.files(), before[index], "{label}: node {index}");
    }
}

type IsKind = fn(&AdminStateError) -> bool;

fn malformed(e: &AdminStateError) -> bool {
    matches!(e, AdminStateError::Malformed { .. })
}

fn unknown_format(e: &AdminStateError) -> bool {
    matches!(e, AdminStateError::UnknownFormat { .. })
}

fn bad_change(e: &AdminStateError) -> bool {
    matches!(e, AdminStateError::BadChange { .. })
}

/// `bytes` is refused as `kind` with a message holding `names`, by decoding and by applying
/// (which leaves the node as it was).
fn check_refused(node: &AdminState, dir: &Path, bytes: &[u8], kind: IsKind, names: &str) {
    let label = String::from_utf8_lossy(bytes).into_owned();
    let error = AdminChange::from_bytes(bytes).unwrap_err();
    assert!(kind(&error), "{label}: {error:?}");
    assert!(error.to_string().contains(names), "{label}: {error}");
    let applied = node.apply_bytes(1, bytes).unwrap_err();
    assert_eq!(applied.to_string(), error.to_string(), "{label}");
    assert_eq!(node.applied_seq(), 0, "{label}");
    let files = NODE_FILES.map(|name| std::fs::read(dir.join(name)).ok());
    let empty = [None, None, Some(Vec::new()), None];
    assert_eq!(files, empty, "{label}: nothing written");
}

#[test]
fn malformed_changes_are_typed_errors_naming_what_is_wrong() {
    let dir = TempDir::new().unwrap();
    let node = open_state(dir.path(), &MASTER_KEY, true);
    let entry =
        r#"{"at":"2025-01-01T00:00:00.000000Z","actor":"r","action":"a","target":"t","detail":{}}"#;
    let v1 = |change: &str| format!(r#"{{"format":"stemedb-admin-change/1","change":{change}}}"#);
    let cases: Vec<(String, IsKind, &str)> = vec![
        ("\u{0}garbage".into(), malformed, "expected value"),
        (
            r#"{"change":{}}"#.into(),
            malformed,
            "missing field `format`",
        ),
        (
            r#"{"format":"stemedb-admin-change/1","change":{},"x":1}"#.into(),
            malformed,
            "unknown field `x`",
        ),
        (
            r#"{"format":"stemedb-admin-change/2","change":{}}"#.into(),
            unknown_format,
            "stemedb-admin-change/2",
        ),
        (
            v1(r#"{"kind":"api_key_delete"}"#),
            bad_change,
            "unknown variant `api_key_delete`",
        ),
        (
            v1(r#"{"kind":"api_key_put"}"#),
            bad_change,
            "missing field `key`",
        ),
        (
            v1(r#"{"kind":"custodial_key_put","sealed":{"agent_id":"a"}}"#),
            bad_change,
            "missing field `public_key`",
        ),
        (
            v1(&format!(
                r#"{{"kind":"audit","entry":{entry},"secret":"x"}}"#
            )),
            bad_change,
            "unknown field `secret`",
        ),
        (
            v1(
                r#"{"kind":"audit","entry":{"at":"yesterday","actor":"r","action":"a","target":"t","detail":{}}}"#,
            ),
            bad_change,
            "time",
        ),
        (v1("[]"), bad_change, "missing field `kind`"),
    ];
    for (bytes, kind, names) in &cases {
        check_refused(&node, dir.path(), bytes.as_bytes(), *kind, names);
    }
}

#[test]
fn every_change_survives_its_encoding() {
    let dir = TempDir::new().unwrap();
    let node = open_state(dir.path(), &MASTER_KEY, true);
    let (key, _) =
        KeyRecord::create(new_key("k", Role::Admin), stemedb_server::auth::now()).unwrap();
    let entry = AuditEntry {
        at: stemedb_server::auth::now(),
        actor: "root".into(),
        action: "api_key.create".into(),
        target: key.id.clone(),
        detail: json!({"name": "k", "rate": 0.5, "nested": [1, {"a": null}]}),
    };
    let changes = [
        AdminChange::ApiKeyPut {
            key: key.clone(),
            replaces: None,
            audit: None,
        },
        AdminChange::ApiKeyPut {
            key: key.clone(),
            replaces: Some(key.digest().unwrap()),
            audit: Some(entry.clone()),
        },
        AdminChange::CustodialKeyPut {
            sealed: node.custody().seal_new("agent/e").unwrap(),
        },
        AdminChange::Audit { entry },
    ];
    for change in changes {
        let bytes = change.to_bytes().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"format":"stemedb-admin-change/1","change":{"kind":"#),
            "{text}"
        );
        assert_eq!(AdminChange::from_bytes(&bytes).unwrap(), change, "{text}");
    }
}
