//! The storage engine's atomic batch applies the items of one key in the order they were
//! written (the last one wins), although the vendored fjall sorts a batch by key before it
//! fills the memtables (vendor/README.md). Checked on the engine itself, in memory and after a
//! reopen (the journal's replay), for batches small and large.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;

use fjall::{Database, KeyspaceCreateOptions};

/// One write of a case: keyspace 0 or 1, key, value (`None` removes the key).
type Op = (usize, Vec<u8>, Option<Vec<u8>>);

fn op(space: usize, key: &str, value: Option<&str>) -> Op {
    (
        space,
        key.as_bytes().to_vec(),
        value.map(|v| v.as_bytes().to_vec()),
    )
}

/// Many writes over few keys in two keyspaces, interleaved, each key written again and again:
/// an unstable sort, or one that ignored the keyspace, would reorder them. (The three-write
/// cases below cannot catch an unstable sort: the standard library sorts slices that small by
/// insertion, which is stable; these two can, and do.)
fn interleaved(len: usize) -> Vec<Op> {
    (0..len)
        .map(|i| {
            let key = format!("k{:02}", (i * 7) % 13);
            let value = (i % 5 != 4).then(|| format!("v{i}"));
            (i % 2, key.into_bytes(), value.map(String::into_bytes))
        })
        .collect()
}

#[test]
fn a_batch_applies_each_keys_writes_in_the_order_given() {
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<Op>)> = vec![
        ("written twice", vec![op(0, "b", Some("1")), op(0, "a", Some("x")), op(0, "b", Some("2"))]),
        ("written then removed", vec![op(0, "b", Some("1")), op(0, "a", Some("x")), op(0, "b", None)]),
        ("removed then written", vec![op(0, "b", None), op(0, "a", Some("x")), op(0, "b", Some("2"))]),
        ("one key in two keyspaces", vec![op(1, "a", Some("1")), op(0, "a", Some("2")), op(1, "a", Some("3"))]),
        ("interleaved, 40 writes", interleaved(40)),
        ("interleaved, 5,000 writes", interleaved(5_000)),
    ];
    for (name, ops) in cases {
        check(name, &ops);
    }
}

/// Commits `ops` as one batch into a fresh engine and compares every key with a model that
/// applies them in order, before and after a reopen.
fn check(name: &str, ops: &[Op]) {
    let mut model: [BTreeMap<Vec<u8>, Vec<u8>>; 2] = Default::default();
    for (space, key, value) in ops {
        match value {
            Some(v) => model[*space].insert(key.clone(), v.clone()),
            None => model[*space].remove(key),
        };
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    for reopened in [false, true] {
        let db = Database::builder(dir.path())
            .open()
            .expect("the engine opens");
        let spaces = ["zeta", "alpha"].map(|n| {
            db.keyspace(n, KeyspaceCreateOptions::default)
                .expect("keyspace")
        });
        if !reopened {
            let mut batch = db.batch();
            for (space, key, value) in ops {
                match value {
                    Some(v) => batch.insert(&spaces[*space], key.clone(), v.clone()),
                    None => batch.remove(&spaces[*space], key.clone()),
                }
            }
            batch.commit().expect("the batch commits");
            db.persist(fjall::PersistMode::SyncAll)
                .expect("the journal syncs");
        }
        for (space, keyspace) in spaces.iter().enumerate() {
            let stored: BTreeMap<Vec<u8>, Vec<u8>> = keyspace
                .iter()
                .map(|guard| {
                    let (k, v) = guard.into_inner().expect("an entry reads");
                    (k.to_vec(), v.to_vec())
                })
                .collect();
            assert_eq!(
                stored, model[space],
                "{name}: keyspace {space} (after a reopen: {reopened})"
            );
        }
    }
}
