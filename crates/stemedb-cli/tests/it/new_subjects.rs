//! The new-subject burst rule against a model of it: seeded sequences of single writes and
//! batches by a few agents, with the clock moving through the window's buckets and the store
//! reopened now and then (the writer keeps each agent's window in memory, loaded from disk
//! once: a reopen must find the same counts on disk). Every record's stage must be the
//! model's, live and after re-deriving the truth state from the log in one pass.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use stemedb::Stage;
use stemedb::core::{AssertionId, SplitMix64};
use stemedb::{Db, DbConfig};

use crate::clock::SetClock;
use crate::harness::claim;

const BURST_MAX: u64 = 4;
const WINDOW_MS: u64 = 60_000;
/// `NEW_SUBJECT_BUCKETS` in the store: the window slides bucket by bucket.
const BUCKETS: i64 = 10;
const AGENTS: u64 = 3;

/// The rule (docs/truth.md): a record whose subject nobody used before goes to quarantine
/// when its agent already created `BURST_MAX` new subjects in the window's buckets.
#[derive(Default)]
struct Model {
    seen: HashSet<String>,
    /// Agent → (bucket, new subjects created in it).
    buckets: HashMap<u8, Vec<(i64, u64)>>,
}

impl Model {
    fn arrive(&mut self, agent: u8, subject: &str, recorded_micros: i64) -> Stage {
        if !self.seen.insert(subject.to_owned()) {
            return Stage::Active;
        }
        let bucket_us = WINDOW_MS as i64 * 1000 / BUCKETS;
        let bucket = recorded_micros / bucket_us;
        let counts = self.buckets.entry(agent).or_default();
        let before: u64 = counts
            .iter()
            .filter(|&&(b, _)| b > bucket - BUCKETS)
            .map(|&(_, c)| c)
            .sum();
        match counts.iter_mut().find(|(b, _)| *b == bucket) {
            Some((_, c)) => *c += 1,
            None => counts.push((bucket, 1)),
        }
        if before >= BURST_MAX {
            Stage::Quarantined
        } else {
            Stage::Active
        }
    }
}

fn config(rederive: bool) -> DbConfig {
    let mut config = DbConfig::default();
    config.policy.new_subjects_burst_max = BURST_MAX;
    config.policy.new_subjects_window_ms = WINDOW_MS;
    config.rederive_truth = rederive;
    config
}

fn stage_of(db: &Db, id: &str) -> Stage {
    let id = AssertionId::parse_field(id, "id").unwrap();
    db.get(&id).unwrap().unwrap().lifecycle.stage
}

/// Runs one seeded sequence; returns how many records the model put in quarantine.
fn check(seed: u64, steps: usize) -> usize {
    let mut rng = SplitMix64::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SetClock::default());
    let start_micros = 1_750_000_000_000_000;
    clock.0.store(start_micros, Ordering::SeqCst);
    let open = |rederive| Db::open_with_clock(dir.path(), config(rederive), clock.clone());
    let mut db = open(false).unwrap();
    let mut model = Model::default();
    let mut want: Vec<(String, Stage, String)> = Vec::new();
    let mut subjects = 0u64;
    for step in 0..steps {
        let roll = rng.next_u64() % 100;
        if roll < 5 {
            db.close().unwrap();
            drop(db);
            db = open(false).unwrap();
        } else if roll < 25 {
            // 0 to 12 s: often within a bucket (6 s), sometimes across several.
            let advance_us = (rng.next_u64() % 12_000) as i64 * 1000;
            clock.0.fetch_add(advance_us, Ordering::SeqCst);
        }
        let count = if rng.next_u64().is_multiple_of(4) {
            5
        } else {
            1
        };
        let mut items: Vec<(u8, String, Value)> = Vec::new();
        for i in 0..count {
            let agent = 1 + (rng.next_u64() % AGENTS) as u8;
            let subject = if subjects == 0 || rng.next_u64() % 10 < 7 {
                subjects += 1;
                format!("ns/s{subjects}")
            } else {
                format!("ns/s{}", 1 + rng.next_u64() % subjects)
            };
            let value = json!(format!("{step}-{i}"));
            let wire = claim(agent, &subject, "p", value, 0.9, "2025-01-01T00:00:00Z");
            items.push((agent, subject, wire));
        }
        let now = clock.0.load(Ordering::SeqCst);
        let results = db
            .ingest_batch(items.iter().map(|(_, _, w)| w.clone()).collect())
            .unwrap();
        for ((agent, subject, _), result) in items.iter().zip(results) {
            let ingested = result.unwrap();
            let stage = model.arrive(*agent, subject, now);
            let at = format!("seed {seed} step {step}: agent {agent}, {subject}");
            assert_eq!(ingested.quarantined, stage == Stage::Quarantined, "{at}");
            want.push((ingested.id, stage, at));
        }
    }
    for (id, stage, at) in &want {
        assert_eq!(stage_of(&db, id), *stage, "{at}, live");
    }
    db.close().unwrap();
    drop(db);
    let db = open(true).unwrap();
    for (id, stage, at) in &want {
        assert_eq!(stage_of(&db, id), *stage, "{at}, re-derived");
    }
    want.iter()
        .filter(|(_, s, _)| *s == Stage::Quarantined)
        .count()
}

#[test]
fn the_new_subject_window_matches_its_model_across_reopens_and_rederivation() {
    let seeds: u64 = std::env::var("STEMEDB_NEW_SUBJECT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let mut quarantined = 0;
    for seed in 0..seeds {
        quarantined += check(seed, 120);
    }
    // The sequences must reach the rule, or this test checks nothing.
    assert!(quarantined > seeds as usize, "{quarantined} quarantined");
}
