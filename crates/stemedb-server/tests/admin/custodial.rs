//! Custodial agent keys: created once, a race of two nodes, a node with another master key,
//! and the keys each node held before it joined.
use std::sync::Arc;

use stemedb_server::CustodyError;
use stemedb_server::admin_state::{
    APPLIED_FILE_NAME, AdminChange, AdminCommit, AdminStateError, Outcome,
};
use tempfile::TempDir;

use crate::fake::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custodial_keys_are_created_once_and_a_race_ends_on_the_first_committed() {
    let cluster = cluster(3, true);
    // A first unsigned write for an agent makes its key, on every node.
    let first = sign_on(&cluster, 0, "agent/a").await;
    cluster.check_converged("first key");
    for on in 0..3 {
        assert_eq!(custodial(&cluster, on, "agent/a"), (1, Some(first.clone())));
    }
    // Another node signs with that key and commits nothing.
    assert_eq!(sign_on(&cluster, 2, "agent/a").await, first);
    assert_eq!(cluster.entries().len(), 1);
    // Two nodes make a key for a new agent at once: both sign with the one committed first.
    cluster.hold(2);
    let (on_0, on_1) = tokio::join!(
        sign_on(&cluster, 0, "agent/b"),
        sign_on(&cluster, 1, "agent/b")
    );
    assert_eq!(on_0, on_1, "both nodes sign with the winner");
    assert_eq!(cluster.entries().len(), 3, "both keys were published");
    let winner = AdminChange::from_bytes(&cluster.entries()[1]).unwrap();
    let AdminChange::CustodialKeyPut { sealed } = winner else {
        panic!("not a custodial key: {winner:?}");
    };
    assert_eq!(sealed.public_key, on_0, "the first in stream order wins");
    cluster.check_converged("race");
    for on in 0..3 {
        assert_eq!(custodial(&cluster, on, "agent/b"), (2, Some(on_0.clone())));
    }
    let seed_free = cluster
        .entries()
        .iter()
        .all(|e| !String::from_utf8_lossy(e).contains("seed"));
    assert!(seed_free, "only sealed keys are published");
}

#[tokio::test]
async fn a_node_whose_master_key_differs_refuses_a_custodial_key_naming_its_agent() {
    let cluster = cluster(1, true);
    let other = TempDir::new().unwrap();
    let foreign = open_state(other.path(), &[9; 32], true);
    let sealed = cluster.nodes[0]
        .state()
        .custody()
        .seal_new("agent/z")
        .unwrap();
    let change = AdminChange::CustodialKeyPut { sealed };
    let error = foreign.apply(1, &change).unwrap_err();
    assert!(
        matches!(&error, AdminStateError::Custody(CustodyError::ForeignSeal { agent_id }) if agent_id == "agent/z"),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("agent/z") && text.contains("master key"),
        "{text}"
    );
    assert_eq!(foreign.applied_seq(), 0, "the entry stays unapplied");
    assert!(!other.path().join(AGENT_FILE).exists());
    assert!(!other.path().join(APPLIED_FILE_NAME).exists());
}

#[tokio::test]
async fn local_changes_make_each_nodes_keys_act_on_every_node() {
    // Two nodes that ran alone first: each made its bootstrap admin key and an agent key.
    let cluster = cluster(2, false);
    for (node, agent) in cluster.nodes.iter().zip(["agent/0", "agent/1"]) {
        let local = AdminCommit::local(Arc::clone(node.state()));
        let sealed = node.state().custody().seal_new(agent).unwrap();
        let change = AdminChange::CustodialKeyPut { sealed };
        assert_eq!(local.commit(change).await.unwrap(), Outcome::Applied);
    }
    // Their first start in the cluster: each publishes what it holds, agent keys first.
    let firsts: Vec<Vec<AdminChange>> = cluster
        .nodes
        .iter()
        .map(|n| n.state().local_changes().unwrap())
        .collect();
    for changes in &firsts {
        let kinds: Vec<bool> = changes
            .iter()
            .map(|c| matches!(c, AdminChange::ApiKeyPut { .. }))
            .collect();
        assert_eq!(
            kinds,
            [false, true],
            "an agent key, then the bootstrap admin key"
        );
    }
    for (node, changes) in cluster.nodes.iter().zip(firsts) {
        for change in changes {
            node.commit.commit(change).await.unwrap();
        }
    }
    check_every_node_holds_all(&cluster);
    // Publishing again (a node that cannot tell whether it did) changes no file.
    let kept = [KEY_FILE, AGENT_FILE, AUDIT_FILE];
    let files = |node: &Node| kept.map(|name| node.file(name));
    let before: Vec<_> = cluster.nodes.iter().map(files).collect();
    for node in &cluster.nodes {
        for change in node.state().local_changes().unwrap() {
            node.commit.commit(change).await.unwrap();
        }
    }
    assert_eq!(cluster.nodes.iter().map(files).collect::<Vec<_>>(), before);
    assert_eq!(cluster.entries().len(), 4 + 8);
}

/// Every node's bootstrap key opens on every node, and both agents have the same key there.
fn check_every_node_holds_all(cluster: &Cluster) {
    let secrets: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| {
            String::from_utf8(n.file("admin.key").unwrap())
                .unwrap()
                .trim()
                .to_owned()
        })
        .collect();
    for (index, node) in cluster.nodes.iter().enumerate() {
        for secret in &secrets {
            assert!(node.opens(secret).is_some(), "node {index}");
        }
        for agent in ["agent/0", "agent/1"] {
            let (count, key) = custodial(cluster, index, agent);
            assert_eq!(
                (count, &key),
                (2, &custodial(cluster, 0, agent).1),
                "node {index}"
            );
            assert!(key.is_some(), "node {index}: {agent}");
        }
    }
}
