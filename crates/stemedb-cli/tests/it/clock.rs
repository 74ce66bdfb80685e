//! `recorded_at` never decreases: not within one open, and not across opens when the clock
//! stepped back in between (issue 12, item 1), so `known_at` and `restore --to-time` may
//! search on it as on an ordered key.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::json;
use stemedb::DbConfig;
use stemedb::core::{Clock, Timestamp};

use crate::harness::claim;

/// A clock the test sets (micros since the epoch).
#[derive(Debug, Default)]
pub struct SetClock(pub AtomicI64);

impl Clock for SetClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.load(Ordering::SeqCst))
    }
}

/// One write: the clock's reading, whether the store is reopened first, and the
/// `recorded_at` (micros) the record must get.
struct Step {
    clock_micros: i64,
    reopen: bool,
    want_micros: i64,
}

fn check(name: &str, steps: &[Step]) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SetClock::default());
    let open = || crate::harness::open_retrying(dir.path(), DbConfig::default(), clock.clone());
    let mut db = open();
    for (i, step) in steps.iter().enumerate() {
        if step.reopen {
            db.close().unwrap();
            drop(db);
            db = open();
        }
        clock.0.store(step.clock_micros, Ordering::SeqCst);
        let wire = claim(
            1,
            &format!("clock/s{i}"),
            "p",
            json!(i),
            0.9,
            "2025-01-01T00:00:00Z",
        );
        let ingested = db.ingest_one(wire).unwrap();
        let id = stemedb::core::AssertionId::parse_field(&ingested.id, "id").unwrap();
        let stored = db.get(&id).unwrap().unwrap();
        assert_eq!(
            stored.recorded_at.micros(),
            step.want_micros,
            "{name}: write {i}"
        );
    }
}

#[test]
fn recorded_at_never_decreases_even_when_the_clock_steps_back() {
    let step = |clock_micros, reopen, want_micros| Step {
        clock_micros,
        reopen,
        want_micros,
    };
    let t = 1_750_000_000_000_000;
    check(
        "the clock moves forward",
        &[
            step(t, false, t),
            step(t + 5, false, t + 5),
            step(t + 9, true, t + 9),
        ],
    );
    check(
        "a step back within one open",
        &[
            step(t, false, t),
            step(t - 1_000, false, t),
            step(t + 1, false, t + 1),
        ],
    );
    check(
        "a step back across a reopen",
        &[
            step(t, false, t),
            step(t - 60_000_000, true, t),
            step(t - 59_000_000, false, t),
        ],
    );
    check(
        "a step back across two reopens, then time catches up",
        &[
            step(t, false, t),
            step(t - 1, true, t),
            step(t - 2, true, t),
            step(t + 7, false, t + 7),
        ],
    );
}
