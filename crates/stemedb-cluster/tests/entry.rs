//! The log entry's wire shape: records survive it, and every kind of damage is refused by name
//! (never a panic), identically wherever it is read; only entries tagged with this cluster's key
//! are taken.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use stemedb::core::{Limits, SecretKey, SignedAssertion};
use stemedb_cluster::{EntryError, EntryKey, chunks, decode_entry, encode_entry, entry_id};

fn record(n: u64) -> SignedAssertion {
    let key = SecretKey::from_seed(&[7; 32]);
    let body = json!({"agent_id": "agent/entry", "subject": format!("s/{n}"), "predicate": "p",
        "value": n, "timestamp": "2025-01-01T00:00:00Z",
        "public_key": key.public_key().to_hex()});
    let serde_json::Value::Object(map) = body else {
        unreachable!()
    };
    SignedAssertion::sign(map, &key, &Limits::default()).unwrap()
}

const MASTER: [u8; 32] = [9; 32];

fn key() -> EntryKey {
    EntryKey::for_log(&MASTER)
}

fn check(name: &str, bytes: &[u8], expected: Result<usize, EntryError>) {
    let decoded = decode_entry(&key(), bytes).map(|records| records.len());
    assert_eq!(decoded, expected, "{name}");
}

/// Every change to an entry's bytes, and every other key, fails its tag. Which damage an
/// authentic entry can still carry is tested in `entry.rs`.
#[test]
fn records_survive_an_entry_and_damage_is_refused_by_name() {
    let records: Vec<_> = (0..3).map(record).collect();
    let one = encode_entry(&key(), &records[..1]);
    let three = encode_entry(&key(), &records);
    let altered = |mut bytes: Vec<u8>, at: usize| {
        bytes[at] ^= 1;
        bytes
    };
    let last = three.len() - 1;
    let unknown = |found: u8| {
        let mut bytes = one.clone();
        bytes[0] = found;
        bytes
    };
    let cases: Vec<(&str, Vec<u8>, Result<usize, EntryError>)> = vec![
        ("one record", one.clone(), Ok(1)),
        ("three records", three.clone(), Ok(3)),
        ("empty", Vec::new(), Err(EntryError::Empty)),
        ("version only", vec![2], Err(EntryError::Unauthenticated)),
        (
            "the tag cut short",
            one[..20].to_vec(),
            Err(EntryError::Unauthenticated),
        ),
        (
            "the layout before tags",
            unknown(1),
            Err(EntryError::UnknownVersion { found: 1 }),
        ),
        (
            "an unknown version",
            unknown(9),
            Err(EntryError::UnknownVersion { found: 9 }),
        ),
        (
            "a tag bit",
            altered(one.clone(), 5),
            Err(EntryError::Unauthenticated),
        ),
        (
            "a length bit",
            altered(one.clone(), 36),
            Err(EntryError::Unauthenticated),
        ),
        (
            "a signature bit",
            altered(one.clone(), 40),
            Err(EntryError::Unauthenticated),
        ),
        (
            "the last body byte",
            altered(three.clone(), last),
            Err(EntryError::Unauthenticated),
        ),
        (
            "cut in a body",
            one[..one.len() - 1].to_vec(),
            Err(EntryError::Unauthenticated),
        ),
        (
            "another key",
            encode_entry(&EntryKey::for_log(&[8; 32]), &records),
            Err(EntryError::Unauthenticated),
        ),
        (
            "the admin key",
            encode_entry(&EntryKey::for_admin(&MASTER), &records),
            Err(EntryError::Unauthenticated),
        ),
    ];
    for (name, bytes, expected) in cases {
        if let Err(e) = &expected {
            assert_eq!(e.kind(), "unauthenticated", "{name}");
        }
        check(name, &bytes, expected);
    }
    let decoded = decode_entry(&key(), &three).unwrap();
    let ids: Vec<_> = decoded.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        records.iter().map(|r| r.id).collect::<Vec<_>>(),
        "in order"
    );
    let signatures: Vec<_> = decoded.iter().map(|r| r.signature).collect();
    assert_eq!(
        signatures,
        records.iter().map(|r| r.signature).collect::<Vec<_>>()
    );
    assert!(
        decoded.iter().all(|r| r.verify()),
        "the signatures travel with the records"
    );
    assert_eq!(
        format!("{:?}", key()),
        "EntryKey(****)",
        "the key is never printed"
    );
}

#[test]
fn a_batch_splits_into_chunks_below_the_bound_in_order() {
    let records: Vec<_> = (0..10).map(record).collect();
    let overhead = encode_entry(&key(), &[]).len();
    let frame = encode_entry(&key(), &records[..1]).len() - overhead;
    for (bound, sizes) in [
        (overhead + frame * 10, vec![10]),
        (overhead + frame * 4, vec![4, 4, 2]),
        (1, vec![1; 10]),
    ] {
        let split = chunks(&records, bound);
        let got: Vec<usize> = split.iter().map(|c| c.len()).collect();
        assert_eq!(got, sizes, "bound {bound}");
        assert!(
            split
                .iter()
                .all(|c| c.len() == 1 || encode_entry(&key(), c).len() <= bound)
        );
        let flat: Vec<_> = split.concat().iter().map(|r| r.id).collect();
        assert_eq!(flat, records.iter().map(|r| r.id).collect::<Vec<_>>());
    }
    assert_eq!(
        entry_id(&records[..1]),
        records[0].id.to_hex(),
        "one record: its id"
    );
    assert_ne!(
        entry_id(&records[..2]),
        entry_id(&records[1..3]),
        "chunks differ by ids"
    );
}
