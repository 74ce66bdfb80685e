//! The log envelope detects damage: every flipped bit, a truncation, or a record read under
//! another sequence is reported as `CorruptRecord` naming the sequence — never a panic, never
//! a wrong record.
#![allow(clippy::unwrap_used)]

use stemedb_core::{Signature, Timestamp};
use stemedb_store::{StoreError, decode_record, encode_record};

const SEQ: u64 = 42;

fn encoded() -> Vec<u8> {
    let body = br#"{"agent_id":"a","predicate":"p","subject":"s","value":1}"#;
    encode_record(
        SEQ,
        Timestamp::from_micros(1_700_000_000_000_000),
        &Signature([7; 64]),
        body,
    )
}

/// Decoding `bytes` under `sequence` must fail with `CorruptRecord` for that sequence.
fn check(name: &str, sequence: u64, bytes: &[u8]) {
    match decode_record(sequence, bytes) {
        Err(StoreError::CorruptRecord {
            sequence: s,
            reason,
        }) => {
            assert_eq!(s, sequence, "{name}: names the sequence");
            assert!(!reason.is_empty(), "{name}: says why");
        }
        other => panic!("{name}: expected CorruptRecord, got {other:?}"),
    }
}

#[test]
fn an_intact_record_round_trips() {
    let record = decode_record(SEQ, &encoded()).unwrap();
    assert_eq!(record.sequence, SEQ);
    assert_eq!(record.signature, Signature([7; 64]));
    assert_eq!(
        record.recorded_at,
        Timestamp::from_micros(1_700_000_000_000_000)
    );
    assert!(record.canonical().starts_with(b"{\"agent_id\""));
}

#[test]
fn damage_is_reported_by_name() {
    let good = encoded();
    for bit in 0..good.len() * 8 {
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        check(&format!("bit {bit} flipped"), SEQ, &bad);
    }
    for len in [0, 1, 8, 80, good.len() - 1] {
        check(&format!("truncated to {len} bytes"), SEQ, &good[..len]);
    }
    check("read under another sequence", SEQ + 1, &good);
}
