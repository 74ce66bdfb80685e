//! A log sink (cluster mode's replicated log) whose answer does not hold one outcome a record
//! is refused by name: outcomes are matched to records by position, and a short answer once
//! indexed past its end (a panic, a 500) in a batch.
use std::sync::Arc;

use stemedb::core::SignedAssertion;
use stemedb::core::Timestamp;
use stemedb::{AppendOutcome, Db, DbConfig, DbError, Derived, LogSink};

use crate::harness::{body, key, signed};

/// Answers every append with `extra` outcomes more than records (negative: fewer).
struct MiscountingSink {
    extra: i64,
}

impl LogSink for MiscountingSink {
    fn append(&self, records: Vec<SignedAssertion>) -> Result<Vec<AppendOutcome>, DbError> {
        let count = (records.len() as i64 + self.extra).max(0) as usize;
        Ok((0..count)
            .map(|i| AppendOutcome::Appended {
                sequence: i as u64 + 1,
                recorded_at: Timestamp::from_micros(0),
                derived: Derived::default(),
                group_first: None,
            })
            .collect())
    }
}

struct Case {
    name: &'static str,
    extra: i64,
    items: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "a batch answered short",
        extra: -1,
        items: 3,
    },
    Case {
        name: "a batch answered with nothing",
        extra: -3,
        items: 3,
    },
    Case {
        name: "a batch answered long",
        extra: 1,
        items: 3,
    },
    Case {
        name: "a single write answered with nothing",
        extra: -1,
        items: 1,
    },
    Case {
        name: "a single write answered twice",
        extra: 1,
        items: 1,
    },
];

fn check(case: &Case) {
    let name = case.name;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    db.set_log_sink(Arc::new(MiscountingSink { extra: case.extra }))
        .unwrap();
    let k = key(7);
    let items: Vec<_> = (0..case.items)
        .map(|i| {
            signed(
                body(&k, "sink/agent", &format!("sink/s{i}"), "p", i.into()),
                &k,
            )
        })
        .collect();
    let refused = |result: Result<_, DbError>| match result {
        Err(DbError::Internal(why)) => assert!(why.contains("outcomes"), "{name}: {why}"),
        other => panic!("{name}: expected the sink's answer refused, got {other:?}"),
    };
    if case.items == 1 {
        refused(db.ingest_one(items[0].clone()).map(|_| ()));
    } else {
        refused(db.ingest_batch(items).map(|_| ()));
    }
}

#[test]
fn a_sink_answer_that_miscounts_its_records_is_refused_by_name() {
    CASES.iter().for_each(check);
}
