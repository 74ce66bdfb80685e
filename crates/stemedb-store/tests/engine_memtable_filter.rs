//! The storage engine's point reads skip a memtable whose key filter says a key is not there
//! (a patch of the vendored lsm-tree; vendor/README.md). A filter that ever says "no" to a key
//! it holds loses data silently, so point reads are checked against a model, through memtables
//! that are active, sealed and flushed, after a reopen that replays the journal into new ones,
//! and from a reader running beside the writer.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fjall::{Database, Keyspace, KeyspaceCreateOptions};

/// A seeded generator (splitmix64), so that a failure replays from its case's seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Keys of a few shapes our keyspaces use: short, long, and prefixes of one another.
fn key(n: u64) -> Vec<u8> {
    match n % 3 {
        0 => format!("k{n}").into_bytes(),
        1 => format!("subject/{n}/predicate/with/a/longer/path").into_bytes(),
        _ => format!("k{}", n / 3)
            .into_bytes()
            .into_iter()
            .chain([0])
            .collect(),
    }
}

#[test]
fn point_reads_agree_with_a_model() {
    #[rustfmt::skip]
    let cases: [(&str, u64, u64, u64); 3] = [
        // name, seed, memtable bytes, keys in the key space
        ("one active memtable", 1, 16 << 20, 40_000),
        ("many memtables, sealed and flushed", 2, 64 << 10, 40_000),
        ("few keys written again and removed", 3, 256 << 10, 500),
    ];
    for (name, seed, memtable_bytes, key_space) in cases {
        check(name, seed, memtable_bytes, key_space);
    }
}

/// Writes 200 batches of random inserts and removals, and after each one reads the batch's
/// keys, random keys of the space and keys next to them, comparing each with the model; then
/// reopens the engine and compares every key of the space.
fn check(name: &str, seed: u64, memtable_bytes: u64, key_space: u64) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut rng = Rng(seed);
    {
        let (db, space) = open(dir.path(), memtable_bytes);
        for round in 0..200u64 {
            let mut batch = db.batch();
            let mut written = Vec::new();
            for _ in 0..100 {
                let k = key(rng.below(key_space));
                if rng.below(10) == 0 {
                    batch.remove(&space, k.clone());
                    model.remove(&k);
                } else {
                    let v = format!("v{round}").into_bytes();
                    batch.insert(&space, k.clone(), v.clone());
                    model.insert(k.clone(), v);
                }
                written.push(k);
            }
            batch.commit().expect("the batch commits");
            let probes = written.into_iter().chain((0..100).flat_map(|_| {
                let k = key(rng.below(key_space * 2));
                let longer = [k.as_slice(), b"x"].concat();
                let shorter = k[..k.len() - 1].to_vec();
                [k, longer, shorter]
            }));
            for k in probes {
                same_as_model(
                    &space,
                    &model,
                    &k,
                    &format!("{name} (seed {seed}), round {round}"),
                );
            }
        }
        db.persist(fjall::PersistMode::SyncAll)
            .expect("the journal syncs");
    }
    let (_db, space) = open(dir.path(), memtable_bytes);
    for k in (0..key_space).map(key) {
        same_as_model(
            &space,
            &model,
            &k,
            &format!("{name} (seed {seed}), after a reopen"),
        );
    }
}

fn same_as_model(space: &Keyspace, model: &BTreeMap<Vec<u8>, Vec<u8>>, k: &[u8], context: &str) {
    let got = space.get(k).expect("a point read").map(|v| v.to_vec());
    let key = String::from_utf8_lossy(k);
    assert_eq!(got.as_ref(), model.get(k), "{context}: key {key:?}");
}

fn open(dir: &std::path::Path, memtable_bytes: u64) -> (Database, Keyspace) {
    let db = Database::builder(dir).open().expect("the engine opens");
    let space = db
        .keyspace("space", || {
            KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes)
        })
        .expect("keyspace");
    (db, space)
}

/// A reader beside the writer: once it reads the marker of batch `n`, every key of batch `n`
/// and of a random earlier one reads present. (Through the engine's latest view, as the store
/// reads: the engine's snapshots are not used, and across memtable flushes one was seen to
/// hold keys of a batch whose marker it did not hold, with or without the filter.)
#[test]
fn a_reader_sees_every_key_of_the_batches_it_has_seen() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (db, space) = open(dir.path(), 1 << 20);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (space, done) = (space.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(7);
            let mut checked = 0u64;
            while !done.load(Ordering::Acquire) {
                let Some(last) = space.get(b"last").expect("a read") else {
                    continue;
                };
                let last = u64::from_be_bytes(last.as_ref().try_into().expect("8 bytes"));
                for n in [last, rng.below(last) + 1] {
                    for j in 0..10 {
                        let k = format!("b{n}/{j}");
                        let found = space.get(&k).expect("a read").is_some();
                        assert!(found, "{k} after reading the marker of batch {last}");
                    }
                }
                checked += 1;
            }
            checked
        })
    };
    for n in 1..=5_000u64 {
        let mut batch = db.batch();
        for j in 0..10 {
            batch.insert(&space, format!("b{n}/{j}"), vec![0u8; 100]);
        }
        batch.insert(&space, "last", n.to_be_bytes());
        batch.commit().expect("the batch commits");
    }
    done.store(true, Ordering::Release);
    let checked = reader
        .join()
        .expect("the reader ends without a failed check");
    assert!(checked > 100, "the reader checked only {checked} markers");
}
