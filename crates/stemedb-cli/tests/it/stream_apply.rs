//! Cluster mode's apply path into a `Db`, without NATS (issue 12): stream entries are applied
//! in order with their publish times, the stream position is stored with the records and
//! survives a reopen, a replayed entry is refused, and two nodes that apply the same entries in
//! different runs hold the same log, sequence for sequence.
use serde_json::json;
use stemedb::core::{Limits, SignedAssertion, Timestamp};
use stemedb::{AppendOutcome, Db, DbConfig, DbError, StoreError, StreamEntry};

use crate::harness::claim;

fn record(seed: u8, n: u64) -> SignedAssertion {
    let wire = claim(
        seed,
        &format!("stream/{n}"),
        "p",
        json!(n),
        0.9,
        "2025-01-01T00:00:00Z",
    );
    SignedAssertion::from_wire(wire, &Limits::default()).unwrap()
}

fn entry(stream_seq: u64, published_micros: i64, records: Vec<SignedAssertion>) -> StreamEntry {
    StreamEntry {
        stream_seq,
        published_at: Timestamp::from_micros(published_micros),
        records,
    }
}

/// Six entries: one record each, an empty (refused) one, a chunk of two with a record
/// repeated from an earlier entry, and a publish time that runs backwards.
fn entries() -> Vec<StreamEntry> {
    vec![
        entry(1, 1_000, vec![record(1, 1)]),
        entry(2, 2_000, vec![]),
        entry(3, 3_000, vec![record(1, 2), record(1, 1)]),
        entry(4, 2_500, vec![record(2, 3)]),
        entry(5, 5_000, vec![record(3, 4)]),
        entry(6, 6_000, vec![record(1, 5)]),
    ]
}

/// (sequence, id, recorded_at micros) of every record.
fn log(db: &Db) -> Vec<(u64, String, i64)> {
    db.backup_records(0, u64::MAX, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| (r.sequence, r.id().to_hex(), r.recorded_at.micros()))
        .collect()
}

fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, DbConfig::default()).unwrap()
}

#[test]
fn entries_apply_in_order_with_their_publish_times_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let outcomes = db.apply_stream(entries()).unwrap();
    let kinds: Vec<Vec<&str>> = outcomes
        .iter()
        .map(|entry| {
            entry
                .iter()
                .map(|o| match o {
                    AppendOutcome::Appended { .. } => "appended",
                    AppendOutcome::Duplicate { .. } => "duplicate",
                    AppendOutcome::AgentKeyConflict { .. } => "conflict",
                    AppendOutcome::TargetMissing { .. } => "target missing",
                })
                .collect()
        })
        .collect();
    let expected: Vec<Vec<&str>> = vec![
        vec!["appended"],
        vec![],
        vec!["appended", "duplicate"],
        vec!["appended"],
        vec!["appended"],
        vec!["appended"],
    ];
    assert_eq!(kinds, expected, "one outcome per record of each entry");
    let times: Vec<i64> = log(&db).iter().map(|(_, _, t)| *t).collect();
    assert_eq!(
        times,
        vec![1_000, 3_000, 3_000, 5_000, 6_000],
        "recorded_at is the publish time, raised to the one before when it runs backwards"
    );
    assert_eq!(db.stream_applied(), 6);
    let replay = db.apply_stream(vec![entry(6, 7_000, vec![record(9, 9)])]);
    assert!(
        matches!(
            replay,
            Err(DbError::Store(StoreError::StreamOutOfOrder {
                applied: 6,
                first: 6
            }))
        ),
        "a replayed entry is refused: {replay:?}"
    );
    assert_eq!(db.last_sequence(), 5, "and stores nothing");
    db.close().unwrap();
    drop(db);
    let reopened = open(dir.path());
    assert_eq!(
        reopened.stream_applied(),
        6,
        "the position survives a reopen"
    );
}

#[test]
fn nodes_that_apply_the_same_entries_in_different_runs_hold_the_same_log() {
    let whole = tempfile::tempdir().unwrap();
    let one = open(whole.path());
    one.apply_stream(entries()).unwrap();
    let split = tempfile::tempdir().unwrap();
    let other = open(split.path());
    let mut rest = entries();
    let tail = rest.split_off(3);
    for entry in rest {
        other.apply_stream(vec![entry]).unwrap();
    }
    other.close().unwrap();
    drop(other);
    let other = open(split.path());
    other.apply_stream(tail).unwrap();
    assert_eq!(
        log(&one),
        log(&other),
        "same entries, same (sequence, id, recorded_at)"
    );
}

/// An applier that restarts while its last run is still queued sends the same entries twice,
/// at once: one is applied, the other refused by name (never applied twice, never a panic of
/// the writer). Raced many times, since which one the writer sees first is up to the threads.
#[test]
fn the_same_entries_sent_twice_at_once_are_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(open(dir.path()));
    for round in 0..40u64 {
        let base = round * 2 + 1;
        let send = |db: std::sync::Arc<Db>| {
            let entries = vec![
                entry(base, 10, vec![record(4, base)]),
                entry(base + 1, 10, vec![record(4, base + 1)]),
            ];
            std::thread::spawn(move || db.apply_stream(entries))
        };
        let (one, two) = (send(db.clone()), send(db.clone()));
        let results = [one.join().unwrap(), two.join().unwrap()];
        let applied = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            applied, 1,
            "round {round}: exactly one of the two applied: {results:?}"
        );
        assert!(
            results.iter().all(|r| r.is_ok()
                || matches!(r, Err(DbError::Store(StoreError::StreamOutOfOrder { .. })))),
            "round {round}: the other is refused by name: {results:?}"
        );
        assert_eq!(db.stream_applied(), base + 1, "round {round}");
    }
    assert_eq!(db.last_sequence(), 80, "every record once");
}
