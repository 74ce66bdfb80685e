//! API key create, rotate, revoke and change on any node; a race of two nodes on one key; a
//! single node's files.
use std::sync::Arc;

use serde_json::{Value, json};
use stemedb_server::ApiError;
use stemedb_server::admin_state::{
    APPLIED_FILE_NAME, AdminChange, AdminCommit, AdminState, Outcome,
};
use tempfile::TempDir;

use crate::fake::*;

#[tokio::test]
async fn api_key_changes_on_any_node_converge_on_every_node() {
    let cluster = cluster(3, true);
    let mut ids: Vec<String> = Vec::new();
    let steps = [
        KeyStep::Create {
            on: 0,
            name: "ingest",
        },
        KeyStep::Create {
            on: 1,
            name: "reader",
        },
        KeyStep::Rotate { on: 2, key: 0 },
        KeyStep::Rename {
            on: 1,
            key: 0,
            name: "ingest-2",
        },
        KeyStep::Rotate { on: 0, key: 1 },
        KeyStep::Revoke { on: 2, key: 1 },
    ];
    for (count, step) in (1..).zip(&steps) {
        let label = format!("{step:?}");
        let node = &cluster.nodes[node_of(step)];
        let (key, secret) = run_step(&node.commit, step, &ids).await.unwrap();
        if !ids.contains(&key.id) {
            ids.push(key.id.clone());
        }
        cluster.check_converged(&label);
        for (index, other) in cluster.nodes.iter().enumerate() {
            assert_eq!(
                other.key(&key.id).as_ref(),
                Some(&key),
                "{label}: node {index}"
            );
            if let Some(secret) = &secret {
                assert_eq!(
                    other.opens(secret),
                    Some(key.id.clone()),
                    "{label}: node {index}"
                );
            }
        }
        if let Some(secret) = &secret {
            cluster.check_never_published(secret, &label);
        }
        let audit = String::from_utf8(cluster.nodes[0].file(AUDIT_FILE).unwrap()).unwrap();
        assert_eq!(
            audit.lines().count(),
            count,
            "{label}: one audit entry per step"
        );
    }
    // What today's routes answer for a revoked or unknown key, on any node.
    let refused = run_step(
        &cluster.nodes[0].commit,
        &KeyStep::Rotate { on: 0, key: 1 },
        &ids,
    );
    assert!(matches!(refused.await, Err(ApiError::Conflict(_))));
    let unknown = ["key_0000000000000000".to_owned()];
    let missing = run_step(
        &cluster.nodes[1].commit,
        &KeyStep::Revoke { on: 1, key: 0 },
        &unknown,
    );
    assert!(matches!(missing.await, Err(ApiError::NotFound { .. })));
    check_reopened(&cluster);
}

/// A node restarted from its files holds what it held, and the sequence it applied.
fn check_reopened(cluster: &Cluster) {
    let applied = cluster.entries().len() as u64;
    for node in &cluster.nodes {
        let reopened = open_state(node.dir.path(), &MASTER_KEY, true);
        assert_eq!(reopened.applied_seq(), applied);
        assert_eq!(reopened.log().admin_seq().unwrap(), applied);
        let keys = |state: &AdminState| state.auth().update_keys(|k| Ok(k.list().to_vec()));
        assert_eq!(keys(&reopened).unwrap(), keys(node.state()).unwrap());
    }
}

#[tokio::test]
async fn concurrent_changes_to_one_key_on_two_nodes_both_hold() {
    let cluster = cluster(2, true);
    let create = KeyStep::Create {
        on: 0,
        name: "shared",
    };
    let (key, _) = run_step(&cluster.nodes[0].commit, &create, &[])
        .await
        .unwrap();
    let ids = [key.id.clone()];
    // Both nodes compute their change from the same version; the stream orders them.
    cluster.hold(2);
    let rotate = KeyStep::Rotate { on: 0, key: 0 };
    let rename = KeyStep::Rename {
        on: 1,
        key: 0,
        name: "renamed",
    };
    let (rotated, renamed) = tokio::join!(
        run_step(&cluster.nodes[0].commit, &rotate, &ids),
        run_step(&cluster.nodes[1].commit, &rename, &ids),
    );
    let (_, secret) = rotated.unwrap();
    let (last, _) = renamed.unwrap();
    assert_eq!(
        cluster.entries().len(),
        4,
        "the stale rename was computed again"
    );
    cluster.check_converged("after the race");
    for node in &cluster.nodes {
        let stored = node.key(&key.id).unwrap();
        assert_eq!(stored, last);
        assert_eq!(stored.name, "renamed", "the rename holds");
        let secret = secret.as_deref().unwrap();
        assert_eq!(
            node.opens(secret),
            Some(key.id.clone()),
            "the rotation holds"
        );
    }
    let audit = String::from_utf8(cluster.nodes[1].file(AUDIT_FILE).unwrap()).unwrap();
    assert_eq!(audit.lines().count(), 3, "no audit entry for the stale put");
}

#[tokio::test]
async fn a_single_node_writes_its_files_as_before() {
    let dir = TempDir::new().unwrap();
    let state = Arc::new(open_state(dir.path(), &MASTER_KEY, true));
    let commit = AdminCommit::local(Arc::clone(&state));
    let create = KeyStep::Create { on: 0, name: "k" };
    let (key, _) = run_step(&commit, &create, &[]).await.unwrap();
    let line = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
    let at = serde_json::from_str::<Value>(&line).unwrap()["at"].clone();
    let genesis = "0".repeat(64);
    let expected = json!({"at": at, "actor": "key_test", "action": "api_key.create",
        "target": key.id, "detail": {"name": "k"}, "prev": genesis});
    assert_eq!(
        line,
        format!("{expected}\n"),
        "the line of earlier versions, no admin_seq"
    );
    assert!(!dir.path().join(APPLIED_FILE_NAME).exists());
    assert_eq!(state.applied_seq(), 0);
    // A put computed from a version that is no longer stored changes nothing.
    let keys_before = std::fs::read(dir.path().join(KEY_FILE)).unwrap();
    let stale = AdminChange::ApiKeyPut {
        key: key.revoked(stemedb_server::auth::now()),
        replaces: Some("0".repeat(64)),
        audit: None,
    };
    assert_eq!(commit.commit(stale).await.unwrap(), Outcome::Stale);
    assert_eq!(
        std::fs::read(dir.path().join(KEY_FILE)).unwrap(),
        keys_before
    );
    // The key's creation sent again after a revocation (a replayed stream entry) replaces
    // nothing: the key stays revoked.
    let revoked = key.revoked(stemedb_server::auth::now());
    let revoke = AdminChange::ApiKeyPut {
        key: revoked.clone(),
        replaces: Some(key.digest().unwrap()),
        audit: None,
    };
    assert_eq!(commit.commit(revoke).await.unwrap(), Outcome::Applied);
    let replayed = AdminChange::ApiKeyPut {
        key: key.clone(),
        replaces: None,
        audit: None,
    };
    assert_eq!(commit.commit(replayed).await.unwrap(), Outcome::Stale);
    let stored = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
    assert!(stored.contains("revoked_at"), "still revoked: {stored}");
}

/// A transport that cannot reach the stream.
struct Unreachable;

impl stemedb_server::AdminPublish for Unreachable {
    fn commit(&self, _: Vec<u8>) -> stemedb_server::admin_state::CommitFuture {
        Box::pin(std::future::ready(Err("no stream leader".to_owned())))
    }
}

#[tokio::test]
async fn a_change_the_stream_does_not_take_is_a_503_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let state = Arc::new(open_state(dir.path(), &MASTER_KEY, true));
    let commit = AdminCommit::replicated(Arc::clone(&state), Arc::new(Unreachable));
    let create = KeyStep::Create { on: 0, name: "k" };
    let error = run_step(&commit, &create, &[]).await.unwrap_err();
    assert!(matches!(&error, ApiError::AdminUnavailable(why) if why == "no stream leader"));
    let response = axum::response::IntoResponse::into_response(error);
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(!dir.path().join(KEY_FILE).exists());
    assert_eq!(std::fs::read(dir.path().join(AUDIT_FILE)).unwrap(), b"");
}
