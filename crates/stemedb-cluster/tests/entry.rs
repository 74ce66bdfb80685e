//! The log entry's wire shape: records survive it, and every kind of damage is refused by name
//! (never a panic), identically wherever it is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use stemedb::core::{Limits, SecretKey, SignedAssertion};
use stemedb_cluster::{EntryError, chunks, decode_entries, decode_entry, encode_entry, entry_id};

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

fn check(name: &str, bytes: &[u8], expected: Result<usize, EntryError>) {
    let decoded = decode_entry(bytes).map(|records| records.len());
    assert_eq!(decoded, expected, "{name}");
}

#[test]
fn records_survive_an_entry_and_damage_is_refused_by_name() {
    let records: Vec<_> = (0..3).map(record).collect();
    let one = encode_entry(&records[..1]);
    let three = encode_entry(&records);
    let mut forged = three.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1; // the last body byte: the id changes, the signature no longer verifies
    let mut bad_signature = one.clone();
    bad_signature[6] ^= 1;
    let mut unknown = one.clone();
    unknown[0] = 9;
    let cases: Vec<(&str, Vec<u8>, Result<usize, EntryError>)> = vec![
        ("one record", one.clone(), Ok(1)),
        ("three records", three.clone(), Ok(3)),
        ("empty", Vec::new(), Err(EntryError::Empty)),
        ("version only", vec![1], Err(EntryError::NoRecord)),
        (
            "unknown version",
            unknown,
            Err(EntryError::UnknownVersion { found: 9 }),
        ),
        (
            "cut in a length",
            one[..3].to_vec(),
            Err(EntryError::Truncated { frame: 0, at: 1 }),
        ),
        (
            "cut in a body",
            one[..one.len() - 1].to_vec(),
            Err(EntryError::Truncated { frame: 0, at: 1 }),
        ),
        (
            "a signature altered",
            bad_signature,
            Err(EntryError::Signature {
                frame: 0,
                id: records[0].id.to_hex(),
            }),
        ),
    ];
    for (name, bytes, expected) in cases {
        check(name, &bytes, expected);
    }
    assert!(
        matches!(
            decode_entry(&forged),
            Err(EntryError::Body { frame: 2, .. } | EntryError::Signature { frame: 2, .. })
        ),
        "a body altered in the third frame is refused naming it"
    );
    let decoded = decode_entry(&three).unwrap();
    let ids: Vec<_> = decoded.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        records.iter().map(|r| r.id).collect::<Vec<_>>(),
        "in order"
    );
}

/// A run of entries is verified as one batch, but a bad signature refuses only its own entry,
/// naming its frame; the entries around it decode as they would alone. Sizes span both sides
/// of the batch verifier's switch from Straus to Pippenger (~190 points).
#[test]
fn a_run_verified_as_one_batch_refuses_only_the_entry_with_a_bad_signature() {
    let records: Vec<_> = (0..240).map(record).collect();
    let good = encode_entry(&records[..100]);
    let also_good = encode_entry(&records[140..240]);
    let mut bad = encode_entry(&records[100..140]);
    let frame_bytes = (bad.len() - 1) / 40;
    bad[1 + 3 * frame_bytes + 4] ^= 1; // frame 3's signature
    let damaged = [1u8, 0, 0];
    let run: Vec<&[u8]> = vec![&good, &bad, &damaged, &also_good];
    let verdicts: Vec<_> = decode_entries(&run)
        .into_iter()
        .map(|entry| entry.map(|records| records.len()))
        .collect();
    let expected = vec![
        Ok(100),
        Err(EntryError::Signature {
            frame: 3,
            id: records[103].id.to_hex(),
        }),
        Err(EntryError::Truncated { frame: 0, at: 1 }),
        Ok(100),
    ];
    assert_eq!(verdicts, expected);
    for (i, entry) in run.iter().enumerate() {
        let alone = decode_entry(entry).map(|records| records.len());
        assert_eq!(alone, expected[i], "entry {i} alone decodes as in the run");
    }
}

#[test]
fn a_batch_splits_into_chunks_below_the_bound_in_order() {
    let records: Vec<_> = (0..10).map(record).collect();
    let frame = encode_entry(&records[..1]).len() - 1;
    for (bound, sizes) in [
        (1 + frame * 10, vec![10]),
        (1 + frame * 4, vec![4, 4, 2]),
        (1, vec![1; 10]),
    ] {
        let split = chunks(&records, bound);
        let got: Vec<usize> = split.iter().map(|c| c.len()).collect();
        assert_eq!(got, sizes, "bound {bound}");
        assert!(
            split
                .iter()
                .all(|c| c.len() == 1 || encode_entry(c).len() <= bound)
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
