//! The records' lens-field cache (`crates/stemedb/src/views.rs`) against no cache at all. Two
//! `Db`s with one clock take the same seeded batches: one with the default caches, one with
//! `cache_bytes` 0 (every record read from the log and parsed on every query). After every
//! batch both answer every group under every lens, now and in the past (`at_sequence`,
//! `as_of`), winner only and whole, and the answers must be the same text: the winner, the
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

/// One write: a random group, agent, valid day, confidence, and a number or a string.
fn draft(rng: &mut SplitMix64, keys: &[SecretKey]) -> Value {
    let group = rng.next_u64() % GROUPS;
    let agent = (rng.next_u64() % keys.len() as u64) as usize;
    let day = 1 + rng.next_u64() % 5;
    let pick = rng.next_u64() % 3;
    let value = if group.is_multiple_of(2) {
        json!(pick)
    } else {
        json!(format!("value {pick}"))
    };
    Draft::new(
        &format!("views/agent-{agent}"),
        &format!("views/s{}", group / 2),
        &format!("p{}", group % 2),
        value,
        &format!("2026-01-0{day}T00:00:00Z"),
    )
    .confidence(0.5 + (rng.next_u64() % 5) as f64 / 10.0)
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

/// Both `Db`s answer every group alike under every lens, now and in the past.
fn check(cached: &Db, uncached: &Db, label: &str) {
    let last = cached.last_sequence();
    assert_eq!(last, uncached.last_sequence(), "{label}");
    let as_of = Timestamp::parse_field("2026-01-03T00:00:00Z", "as_of").unwrap();
    for lens in LensKind::ALL {
        for group in 0..GROUPS {
            for (at, as_of, winner_only) in [
                (last, None, true),
                (last, None, false),
                (last / 2, None, true),
                (last, Some(as_of), false),
            ] {
                let mut query = Query::new(format!("views/s{}", group / 2));
                query.predicate = Some(format!("p{}", group % 2));
                query.lens = lens;
                query.at_sequence = Some(at);
                query.as_of = as_of;
                query.winner_only = winner_only;
                let want = answer(uncached, &query);
                let got = answer(cached, &query);
                assert_eq!(
                    got, want,
                    "{label}: {lens:?}, group {group}, at {at}, as_of {as_of:?}, winner only {winner_only}"
                );
            }
        }
    }
}

#[test]
fn cached_lens_fields_answer_as_reads_from_the_log() {
    let clock = Arc::new(SetClock(AtomicI64::new(1_769_904_000_000_000)));
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
    for n in 0..BATCHES {
        clock.0.fetch_add(1_000_000, Ordering::SeqCst);
        let batch: Vec<Value> = (0..BATCH_LEN).map(|_| draft(&mut rng, &keys)).collect();
        for db in [&cached, &uncached] {
            for result in db.ingest_batch(batch.clone()).unwrap() {
                result.unwrap();
            }
        }
        check(&cached, &uncached, &format!("batch {n}"));
    }
}
