//! The new-subject burst rule against a model of it: seeded sequences of single writes and
//! batches by a few agents, with the clock moving through the window's buckets (now and then
//! past the whole window), `supersedes` records among them (they commit the derivation batch
//! mid-group), and the store reopened now and then (the writer keeps each agent's window in
//! memory: a reopen must find the same counts on disk). Every record's stage must be the
//! model's, live and after re-deriving the truth state from the log in one pass.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use stemedb::Stage;
use stemedb::core::{AssertionId, SplitMix64};
use stemedb::{Db, DbConfig};

use crate::clock::SetClock;
use crate::harness::{claim, key, open_retrying};

const BURST_MAX: u64 = 6;
const WINDOW_MS: u64 = 60_000;
/// `NEW_SUBJECT_BUCKETS` in the store: the window slides bucket by bucket.
const BUCKETS: i64 = 10;
const AGENTS: u64 = 6;

/// The rule (docs/truth.md): a record whose subject nobody used before goes to quarantine
/// when its agent already created `BURST_MAX` new subjects in the window's buckets.
#[derive(Default)]
struct Model {
    seen: HashSet<String>,
    /// Agent → (bucket, new subjects created in it).
    buckets: HashMap<u8, Vec<(i64, u64)>>,
}

impl Model {
    /// The stage a `supersedes` gives its target (by the same agent, docs/truth.md).
    fn supersede(target: Stage) -> Stage {
        match target {
            Stage::Active | Stage::Quarantined => Stage::Superseded,
            other => other,
        }
    }

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

/// What one seeded sequence showed: records the model put in quarantine, and records that
/// were active although their agent had one in quarantine before (its window expired).
#[derive(Default)]
struct Seen {
    quarantined: usize,
    released: usize,
}

/// One record to write: its agent, subject and wire form.
struct Item {
    agent: u8,
    subject: String,
    wire: Value,
    /// Index (in `want`) of the record it supersedes.
    supersedes: Option<usize>,
}

/// A record written and the stage the model gives it.
struct Want {
    id: String,
    agent: u8,
    stage: Stage,
    at: String,
}

fn next_item(rng: &mut SplitMix64, want: &[Want], subjects: &mut u64, tag: &str) -> Item {
    let agent = 1 + (rng.next_u64() % AGENTS) as u8;
    let subject = if *subjects == 0 || rng.next_u64() % 10 < 7 {
        *subjects += 1;
        format!("ns/s{subjects}")
    } else {
        format!("ns/s{}", 1 + rng.next_u64() % *subjects)
    };
    let value = json!(tag);
    let mine: Vec<usize> = (0..want.len())
        .filter(|&i| want[i].agent == agent)
        .collect();
    let supersedes = (!mine.is_empty() && rng.next_u64().is_multiple_of(12))
        .then(|| mine[(rng.next_u64() % mine.len() as u64) as usize]);
    let wire = match supersedes {
        None => claim(agent, &subject, "p", value, 0.9, "2025-01-01T00:00:00Z"),
        Some(i) => stemedb_client::Draft::new(
            &format!("agent/{agent}"),
            &subject,
            "p",
            value,
            "2025-01-01T00:00:00Z",
        )
        .confidence(0.9)
        .field("supersedes", json!(want[i].id))
        .sign(&key(agent))
        .unwrap(),
    };
    Item {
        agent,
        subject,
        wire,
        supersedes,
    }
}

/// Runs one seeded sequence against the model.
fn check(seed: u64, steps: usize) -> Seen {
    let mut rng = SplitMix64::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SetClock::default());
    clock.0.store(1_750_000_000_000_000, Ordering::SeqCst);
    let open = |rederive| open_retrying(dir.path(), config(rederive), clock.clone());
    let mut db = open(false);
    let mut model = Model::default();
    let mut want: Vec<Want> = Vec::new();
    let mut subjects = 0u64;
    for step in 0..steps {
        let roll = rng.next_u64() % 100;
        if roll < 5 {
            db.close().unwrap();
            drop(db);
            db = open(false);
        } else if roll < 25 {
            // 0 to 12 s: often within a bucket (6 s), sometimes across several.
            let advance_us = (rng.next_u64() % 12_000) as i64 * 1000;
            clock.0.fetch_add(advance_us, Ordering::SeqCst);
        } else if roll < 28 {
            // Past the whole window.
            clock
                .0
                .fetch_add(WINDOW_MS as i64 * 1000 * 2, Ordering::SeqCst);
        }
        let count = if rng.next_u64().is_multiple_of(4) {
            5
        } else {
            1
        };
        let items: Vec<Item> = (0..count)
            .map(|i| next_item(&mut rng, &want, &mut subjects, &format!("{step}-{i}")))
            .collect();
        let now = clock.0.load(Ordering::SeqCst);
        let results = db
            .ingest_batch(items.iter().map(|item| item.wire.clone()).collect())
            .unwrap();
        for (item, result) in items.iter().zip(results) {
            let ingested = result.unwrap();
            let stage = model.arrive(item.agent, &item.subject, now);
            let at = format!(
                "seed {seed} step {step}: agent {}, {}",
                item.agent, item.subject
            );
            assert_eq!(ingested.quarantined, stage == Stage::Quarantined, "{at}");
            if let Some(target) = item.supersedes {
                want[target].stage = Model::supersede(want[target].stage);
            }
            want.push(Want {
                id: ingested.id,
                agent: item.agent,
                stage,
                at,
            });
        }
    }
    for w in &want {
        assert_eq!(stage_of(&db, &w.id), w.stage, "{}, live", w.at);
    }
    db.close().unwrap();
    drop(db);
    let db = open(true);
    for w in &want {
        assert_eq!(stage_of(&db, &w.id), w.stage, "{}, re-derived", w.at);
    }
    seen(&want)
}

fn seen(want: &[Want]) -> Seen {
    let mut held: HashSet<u8> = HashSet::new();
    let mut seen = Seen::default();
    for w in want {
        match w.stage {
            Stage::Quarantined => {
                seen.quarantined += 1;
                held.insert(w.agent);
            }
            Stage::Active if held.contains(&w.agent) => seen.released += 1,
            _ => {}
        }
    }
    seen
}

#[test]
fn the_new_subject_window_matches_its_model_across_reopens_and_rederivation() {
    let seeds = crate::harness::env_count("STEMEDB_NEW_SUBJECT_SEEDS", 12);
    let mut total = Seen::default();
    for seed in 0..seeds {
        let seen = check(seed, 120);
        total.quarantined += seen.quarantined;
        total.released += seen.released;
    }
    // The sequences must reach the rule and see windows expire, or this checks little.
    assert!(
        total.quarantined > seeds as usize && total.released > seeds as usize,
        "{} quarantined, {} released",
        total.quarantined,
        total.released
    );
}

/// How a server run ends in `check_across_a_stop`.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Kill,
    Terminate,
}

/// One run of `check_across_a_stop`: new subjects by agent 1 before the filler, the filler's
/// new subjects by agent 2 (in batches of 1,000), agent 1's after the filler, how the server
/// stops, and agent 1's after it starts again.
struct Case {
    before: usize,
    filler: usize,
    between: usize,
    stop: Stop,
    after: usize,
}

/// Runs `case` against a server with a burst limit of 3; each of agent 1's new subjects must be
/// quarantined from the fourth on, and one of its subjects written again must not count. The
/// counts are saved every 4,096 derived records and when the server stops, not at every
/// commit: after a SIGKILL the start counts again, from the log, what the last save left out,
/// and a filler of more than 4,096 records puts a save between agent 1's writes.
async fn check_across_a_stop(case: Case) {
    let Case {
        before,
        filler,
        between,
        stop,
        after,
    } = case;
    let dir = tempfile::tempdir().unwrap();
    let flags: [&std::ffi::OsStr; 4] = [
        "--quarantine-new-subjects-max".as_ref(),
        "3".as_ref(),
        "--quarantine-window-ms".as_ref(),
        "3600000".as_ref(),
    ];
    let root = Some(crate::harness::ROOT_KEY.into());
    let at = format!("{before}, {filler} by another, {between}, {stop:?}, {after}");
    let write = |client: stemedb_client::Client, subject: String| async move {
        let wire = claim(1, &subject, "p", json!(1), 0.9, "2025-01-01T00:00:00Z");
        let id = client.assert(&wire).await.unwrap().id;
        client.get(&id).await.unwrap().unwrap().lifecycle_stage
    };
    let server = crate::child::ChildServer::start_with(dir.path(), &flags);
    let client = stemedb_client::Client::new(&server.url, root.clone()).unwrap();
    let mut stages = Vec::new();
    for i in 0..before {
        stages.push(write(client.clone(), format!("kill/s{i}")).await);
    }
    write_filler(&client, filler).await;
    for i in before..before + between {
        stages.push(write(client.clone(), format!("kill/s{i}")).await);
    }
    match stop {
        Stop::Kill => server.kill(),
        Stop::Terminate => assert_eq!(server.terminate(), Some(0), "{at}"),
    }
    let server = crate::child::ChildServer::start_with(dir.path(), &flags);
    let client = stemedb_client::Client::new(&server.url, root).unwrap();
    let written = before + between;
    for i in written..written + after {
        stages.push(write(client.clone(), format!("kill/s{i}")).await);
    }
    let again = write(client.clone(), "kill/s0".into()).await;
    let want: Vec<&str> = (0..written + after)
        .map(|i| if i < 3 { "active" } else { "quarantined" })
        .collect();
    assert_eq!(stages, want, "{at}");
    assert_eq!(again, "active", "{at}: a subject seen before is not new");
    server.kill();
}

/// `count` new subjects by agent 2, in batches of 1,000.
async fn write_filler(client: &stemedb_client::Client, count: usize) {
    let wires: Vec<Value> = (0..count)
        .map(|i| {
            claim(
                2,
                &format!("filler/s{i}"),
                "p",
                json!(1),
                0.9,
                "2025-01-01T00:00:00Z",
            )
        })
        .collect();
    for batch in wires.chunks(1000) {
        client.assert_batch(batch).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_burst_rule_counts_across_a_sigkill_and_a_graceful_stop() {
    // (agent 1's new subjects before the filler, the filler, agent 1's after it, how the
    // server stops, agent 1's after the start)
    let cases = [
        (2, 0, 0, Stop::Kill, 2),
        (3, 0, 0, Stop::Kill, 1),
        (1, 0, 0, Stop::Kill, 3),
        (2, 0, 0, Stop::Terminate, 2),
        // A save between agent 1's first and second: the second is counted again once.
        (1, 5000, 1, Stop::Kill, 2),
        // Both saved before the kill: the start reads them from disk.
        (2, 5000, 0, Stop::Kill, 2),
    ];
    for (before, filler, between, stop, after) in cases {
        let case = Case {
            before,
            filler,
            between,
            stop,
            after,
        };
        check_across_a_stop(case).await;
    }
}
