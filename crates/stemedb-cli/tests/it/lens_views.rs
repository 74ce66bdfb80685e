//! The records' lens-field cache (`crates/stemedb/src/views.rs`) against no cache at all. Two
//! `Db`s with one clock take the same seeded batches: one with the default caches, one with
//! `cache_bytes` 0 (every record read from the log and parsed on every query). After every
//! batch both answer every group under every lens, now and in the past (`at_sequence`,
//! `as_of`, `known_at`), winner only, whole and with superseded claims, by name and by a
//! prefix scan, and the answers must be the same text: the winner, the
//! ranked records with their signatures, the conflict score. The cached `Db` answers each
//! group many times, so later answers come from entries made by earlier ones, entries that
//! hold fewer records than the group has since (partial hits) and more than a read in the past
//! asks for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};
use stemedb::core::{Clock, SecretKey, SplitMix64, Timestamp};
use stemedb::{Db, DbConfig, LensKind, Query};
use stemedb_client::Draft;

use crate::clock::SetClock;
use crate::harness::open_retrying;

const GROUPS: u64 = 6;
const BATCHES: u64 = 8;
const BATCH_LEN: u64 = 9;

/// One write: a random group, agent, valid day, confidence (sometimes -0), and a value: in even groups a
/// number, as an integer, a double with a fraction or one without (`2.0` reads back from the
/// log as `2`, so the writer does not offer it to the cache); in odd ones a string or an
/// object holding one.
fn draft(rng: &mut SplitMix64, keys: &[SecretKey]) -> Value {
    let group = rng.next_u64() % GROUPS;
    let agent = (rng.next_u64() % keys.len() as u64) as usize;
    let day = 1 + rng.next_u64() % 5;
    let pick = rng.next_u64() % 3;
    let form = rng.next_u64() % 3;
    let value = match (group.is_multiple_of(2), form) {
        (true, 0) => json!(pick),
        (true, 1) => json!(pick as f64 + 0.5),
        (true, _) => json!(pick as f64),
        (false, 0) => json!({"text": format!("value {pick}"), "weight": [1, 2.5]}),
        (false, _) => json!(format!("value {pick}")),
    };
    Draft::new(
        &format!("views/agent-{agent}"),
        &format!("views/s{}", group / 2),
        &format!("p{}", group % 2),
        value,
        &format!("2026-01-0{day}T00:00:00Z"),
    )
    // -0 reads back from the log as +0: the cache must hold what a read gives.
    .confidence(match rng.next_u64() % 6 {
        5 => -0.0,
        n => 0.5 + n as f64 / 10.0,
    })
    .sign(&keys[agent])
    .unwrap()
}

/// A query's answer as text: everything a caller sees of it.
fn answer(db: &Db, query: &Query) -> String {
    let result = db.query(query).unwrap();
    let groups: Vec<String> = result
        .groups
        .iter()
        .map(|g| {
            let ranked: Vec<String> = g.assertions.iter().map(|r| r.to_json_string()).collect();
            format!(
                "{}|{}|{}|{}|{}|{}|{:?}",
                g.subject,
                g.predicate,
                g.conflict_score,
                g.winner.to_json_string(),
                ranked.join(","),
                g.assertions_total,
                g.layer
            )
        })
        .collect();
    groups.join("\n")
}

/// The clock's reading before the first batch (µs); each batch moves it on by a second.
const CLOCK_START_MICROS: i64 = 1_769_904_000_000_000;

/// A query's shape besides its group and lens: what it sees and how much it answers.
struct Shape {
    at_half: bool,
    as_of: Option<&'static str>,
    /// `known_at` this many seconds after the clock's start (3: the first two batches).
    known_after_secs: Option<i64>,
    winner_only: bool,
    include_superseded: bool,
}

/// The winner now; the other shapes differ from it in a field or two.
const NOW: Shape = Shape {
    at_half: false,
    as_of: None,
    known_after_secs: None,
    winner_only: true,
    include_superseded: false,
};

const SHAPES: [Shape; 6] = [
    NOW,
    Shape {
        winner_only: false,
        ..NOW
    },
    Shape {
        at_half: true,
        ..NOW
    },
    Shape {
        as_of: Some("2026-01-03T00:00:00Z"),
        winner_only: false,
        ..NOW
    },
    Shape {
        known_after_secs: Some(3),
        ..NOW
    },
    Shape {
        include_superseded: true,
        winner_only: false,
        ..NOW
    },
];

fn query(
    subject: String,
    predicate: Option<String>,
    lens: LensKind,
    shape: &Shape,
    last: u64,
) -> Query {
    let mut query = Query::new(subject);
    query.predicate = predicate;
    query.lens = lens;
    query.at_sequence = Some(if shape.at_half { last / 2 } else { last });
    query.as_of = shape
        .as_of
        .map(|t| Timestamp::parse_field(t, "as_of").unwrap());
    query.known_at = shape
        .known_after_secs
        .map(|s| Timestamp::from_micros(CLOCK_START_MICROS + s * 1_000_000));
    query.winner_only = shape.winner_only;
    query.include_superseded = shape.include_superseded;
    query
}

/// Both `Db`s answer alike under every lens and shape: every group by name, and all groups
/// by a prefix scan.
fn check(cached: &Db, uncached: &Db, label: &str) {
    let last = cached.last_sequence();
    assert_eq!(last, uncached.last_sequence(), "{label}");
    for lens in LensKind::ALL {
        for (i, shape) in SHAPES.iter().enumerate() {
            let mut queries: Vec<Query> = (0..GROUPS)
                .map(|g| {
                    let subject = format!("views/s{}", g / 2);
                    query(subject, Some(format!("p{}", g % 2)), lens, shape, last)
                })
                .collect();
            queries.push(query("views/*".into(), None, lens, shape, last));
            for q in queries {
                let (want, got) = (answer(uncached, &q), answer(cached, &q));
                assert_eq!(
                    got, want,
                    "{label}: {lens:?}, shape {i}, {} {:?}",
                    q.subject, q.predicate
                );
            }
        }
    }
    assert_eq!(
        uncached.view_cache_groups(),
        0,
        "{label}: a cache of 0 bytes keeps nothing"
    );
    let written = uncached.query(&Query::new("views/*")).unwrap().groups.len();
    assert!(written > 0, "{label}");
    assert_eq!(
        cached.view_cache_groups(),
        written,
        "{label}: every group written is cached"
    );
}

#[test]
fn cached_lens_fields_answer_as_reads_from_the_log() {
    let clock = Arc::new(SetClock(AtomicI64::new(CLOCK_START_MICROS)));
    let open = |cache_bytes: u64| {
        let dir = tempfile::tempdir().unwrap();
        let config = DbConfig {
            cache_bytes,
            disk_free_min_bytes: 0,
            ..DbConfig::default()
        };
        let db = open_retrying(dir.path(), config, clock.clone() as Arc<dyn Clock>);
        (dir, db)
    };
    let (_cached_dir, cached) = open(64 * 1024 * 1024);
    let (_uncached_dir, uncached) = open(0);
    let keys: Vec<SecretKey> = (0..4u8)
        .map(|i| SecretKey::from_seed(&[i + 7; 32]))
        .collect();
    let mut rng = SplitMix64::new(0x71E5);
    let mut held = 0;
    for n in 0..BATCHES {
        clock.0.fetch_add(1_000_000, Ordering::SeqCst);
        let batch: Vec<Value> = (0..BATCH_LEN).map(|_| draft(&mut rng, &keys)).collect();
        // Odd batches one record at a time: the single-write path offers its records too.
        for db in [&cached, &uncached] {
            if n % 2 == 0 {
                for result in db.ingest_batch(batch.clone()).unwrap() {
                    result.unwrap();
                }
            } else {
                for item in &batch {
                    db.ingest_one(item.clone()).unwrap();
                }
            }
        }
        let label = format!("batch {n}");
        let written = check_entries(&cached, &format!("{label}, as written"));
        assert!(
            written > held,
            "{label}: the written records were not offered"
        );
        check(&cached, &uncached, &label);
        held = check_entries(&cached, &format!("{label}, after the queries"));
    }
}

/// Every record the cache holds is the log's, field for field. Returns how many it holds.
/// (Before a batch the queries have read every record, so the cache holding more right after
/// the batch, before any read, is the writer's offers.)
fn check_entries(cached: &Db, label: &str) -> usize {
    let (compared, differing) = cached.check_view_cache().unwrap();
    assert_eq!(
        differing,
        Vec::<u64>::new(),
        "{label}: cached unlike the log"
    );
    compared
}
