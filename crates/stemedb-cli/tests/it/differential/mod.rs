//! Seeded differential test of truth maintenance (issue 12, item 1). Random sequences of
//! asserts, batches, retractions (by id, by subject, cascading or not, by the author, a
//! curator or a stranger), reinstatements, votes, trust statements, epochs, supersessions,
//! gold marks, reviews, role grants and invalid writes are applied to a live `Db`; after every
//! step its state is compared with a from-scratch re-derivation of the same log, and with a
//! small reference model (`model.rs`).
//!
//! **Re-derivation, how and how often.** A second `Db` (the *shadow*, its own directory, the
//! same clock) receives every operation too, so it holds the same log, and its answers to each
//! write (sequence, `changed`, `effective`, quarantined, refusals) must equal the live ones
//! after every step. Every [`REDERIVE_EVERY_DEFAULT`] steps (`STEMEDB_DIFF_REDERIVE_EVERY`)
//! and after the last, the shadow runs `rebuild_indexes`, which clears every index and all
//! truth state and derives them again from its log in one pass (what `Store::open` does with
//! `rederive_truth`); the live `Db` is never rebuilt, so its state stays the incremental one
//! from its first record. The two are then compared in full: every record's stage, cause
//! (`retracted_by`/`superseded_by`), reason, quarantine rule, votes and stage as of the log's
//! half-way sequence; every group's winner, size, conflict score and layer under each of the
//! five lenses; every agent's trust and roles. At the end of each sequence the live `Db` is
//! also closed (every other seed only dropped, so that the open replays its journal), reopened
//! with `rederive_truth: true` and compared with its state before. Those other seeds also drop
//! and reopen the live `Db` half-way (`Run::reopen_live`), so that the later steps run on the
//! state an open loads.
//! Why not every step: a rebuild and two full snapshots cost several times a step with the
//! model's checks; the answers (which carry each write's derived effect) are still compared
//! every step. On the last step the live full snapshot is the state compared after the reopen
//! (nothing is written in between).
//!
//! **The model** is checked after every step: what `model.rs` says in its doc comment.
//!
//! **Size and cost.** The CI default is [`SEQUENCES_DEFAULT`] sequences of [`STEPS_DEFAULT`]
//! steps, run by [`threads_default`] worker threads (sequences are independent). Measured in a
//! debug build here (2 cores): a sequence costs ~40 ms of CPU in its three Db opens (fjall
//! creating its keyspaces; fixed) plus ~5 ms a step, growing with the log as every check reads
//! all of it. So sequences are short, with the same operation mix, and many; the long rounds in
//! docs/reliability.md run ≥ 10,000 of 40 steps in release. The data directories are in
//! memory where possible ([`data_dir`]): on the disk, fsyncs were most of the time.
//! Regression cases found by the random runs are in `regressions.rs`.
//!
//! Env: `STEMEDB_DIFF_SEED` (first seed), `STEMEDB_DIFF_SEQUENCES` (how many, default
//! [`SEQUENCES_DEFAULT`]), `STEMEDB_DIFF_STEPS` (operations per sequence, default
//! [`STEPS_DEFAULT`]), `STEMEDB_DIFF_REDERIVE_EVERY`, `STEMEDB_DIFF_THREADS`. A failure prints
//! its seed, step, the operations so far and the command that replays it.
mod model;
mod ops;
mod regressions;

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Debug;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use stemedb::core::{AssertionId, Clock};
use stemedb::{Bound, Db, DbConfig, DbError, LensKind, Lookups, Query, Role, StoreError};
use tempfile::TempDir;

use crate::clock::SetClock;
use crate::harness::{env_count, env_number};
use model::Model;
use ops::{AGENTS, Gen, Item, Known, Op};

const SEQUENCES_DEFAULT: u64 = 300;
const STEPS_DEFAULT: usize = 10;
/// Steps between comparisons with the re-derived shadow (and after the last step).
const REDERIVE_EVERY_DEFAULT: usize = 6;
const SEED_DEFAULT: u64 = 0x5EED_0000;
/// The test clock's start: 2026-01-01T00:00:00Z; each step moves it 1 ms on.
const CLOCK_START_MICROS: i64 = 1_767_225_600_000_000;

/// Worker threads by default: the cores, at most 4 (each sequence keeps its test thread busy
/// most of the time; its Dbs' writer and engine threads use a tenth of that).
fn threads_default() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

#[test]
fn differential_live_rederived_and_model_agree() {
    let first = env_number("STEMEDB_DIFF_SEED").unwrap_or(SEED_DEFAULT);
    let count = env_count("STEMEDB_DIFF_SEQUENCES", SEQUENCES_DEFAULT);
    let steps = env_count("STEMEDB_DIFF_STEPS", STEPS_DEFAULT as u64) as usize;
    let started = std::time::Instant::now();
    let every = env_count("STEMEDB_DIFF_REDERIVE_EVERY", REDERIVE_EVERY_DEFAULT as u64) as usize;
    let threads = env_number("STEMEDB_DIFF_THREADS").map_or_else(threads_default, |t| t as usize);
    let end = first.saturating_add(count);
    // Sequences are independent (each has its own directories and clock), so workers take
    // the next seed in turn; the first failure stops them all and is raised as it was.
    let next = AtomicU64::new(first);
    let failed = AtomicBool::new(false);
    let worker = || -> Result<(), Box<dyn Any + Send>> {
        while !failed.load(Ordering::SeqCst) {
            let seed = next.fetch_add(1, Ordering::SeqCst);
            if seed >= end {
                break;
            }
            let run = || {
                let mut run = Run::new(seed);
                run.rederive_every = every.max(1);
                run.sequence(steps);
            };
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(run)) {
                failed.store(true, Ordering::SeqCst);
                return Err(panic);
            }
        }
        Ok(())
    };
    let results: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1)).map(|_| scope.spawn(worker)).collect();
        workers.into_iter().map(|w| w.join()).collect()
    });
    for result in results {
        if let Err(panic) = result.and_then(|r| r) {
            std::panic::resume_unwind(panic);
        }
    }
    eprintln!(
        "differential: {count} sequences of {steps} steps from seed {first} in {:.1?}",
        started.elapsed()
    );
}

/// What a write answered, reduced to what must agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Stored {
        sequence: u64,
        changed: u64,
        effective: bool,
        quarantined: bool,
    },
    Duplicate {
        sequence: u64,
    },
    /// The rule (or error kind) of the refusal.
    Refused(String),
}

fn answer(result: Result<stemedb::Ingested, DbError>) -> Answer {
    match result {
        Ok(i) if i.duplicate => Answer::Duplicate {
            sequence: i.sequence,
        },
        Ok(i) => Answer::Stored {
            sequence: i.sequence,
            changed: i.changed,
            effective: i.effective,
            quarantined: i.quarantined,
        },
        Err(DbError::Invalid(v)) => Answer::Refused(v.rule.to_owned()),
        Err(DbError::AgentKeyConflict { .. }) => Answer::Refused("agent_key_conflict".into()),
        Err(e) => Answer::Refused(format!("other: {e}")),
    }
}

/// The key the test's server signs role grants with (the same for the live Db and the shadow,
/// whose grant records are then identical).
fn server_key() -> stemedb::core::SecretKey {
    stemedb::core::SecretKey::from_seed(&[99; 32])
}

/// Applies one operation; one answer per record (a grant answers its sequence as `Stored`).
fn apply(db: &Db, op: &Op) -> Vec<Answer> {
    match op {
        Op::Write(item) => vec![answer(db.ingest_one(item.wire.clone()))],
        Op::Batch(items) => {
            let wires = items.iter().map(|i| i.wire.clone()).collect();
            db.ingest_batch(wires)
                .unwrap()
                .into_iter()
                .map(answer)
                .collect()
        }
        Op::Grant { role, agent } => {
            vec![match db.grant_role(*role, AGENTS[*agent], &server_key()) {
                Ok(sequence) => Answer::Stored {
                    sequence,
                    changed: 0,
                    effective: true,
                    quarantined: false,
                },
                Err(e) => Answer::Refused(e.to_string()),
            }]
        }
    }
}

/// One record's derived state as the Db shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordState {
    pub sequence: u64,
    pub id: String,
    pub stage: &'static str,
    /// `retracted_by` or `superseded_by` (or the review behind an approval or rejection).
    pub cause: Option<String>,
    pub reason: Option<String>,
    pub quarantine_rule: Option<&'static str>,
    /// Live votes (up, down).
    pub votes: (u64, u64),
    /// The stage as of the sequence half-way through the log (`None` when not yet stored).
    pub stage_half_way: Option<&'static str>,
}

/// One group's answer under one lens.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupState {
    pub lens: LensKind,
    pub subject: String,
    pub winner: String,
    pub total: usize,
    pub conflict_score: String,
    pub layer: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub last_sequence: u64,
    pub records: Vec<RecordState>,
    pub groups: Vec<GroupState>,
    /// (agent, trust as `{:?}`, curator, trust root).
    pub agents: Vec<(String, String, bool, bool)>,
    /// The sequences `GET /v1/quarantine` lists (waiting for a review).
    pub review_list: Vec<u64>,
}

/// How much a snapshot reads: `Light` is what the model checks after every step (stages,
/// causes, votes, recency winners, roles); `Full` adds stages half-way through the log, every
/// lens and every agent's trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    Light,
    Full,
}

/// What the kept-answer check compares of a group: its winner, size, score and layer.
fn winner_seen(g: &stemedb::GroupResult) -> String {
    format!(
        "{} {} {:?} {:?}",
        g.winner.sequence, g.assertions_total, g.conflict_score, g.layer
    )
}

fn render_winners(result: &stemedb::QueryResult) -> Result<stemedb::Bytes, stemedb::DbError> {
    let seen: Vec<String> = result.groups.iter().map(winner_seen).collect();
    Ok(seen.join("\n").into())
}

/// The server's fast path for a winner of one group (`Db::query_if_small`, which keeps the
/// answer's rendering and gives it again while nothing it rests on changes: `stemedb`'s
/// `answers.rs`) is the answer of the query over every group. Asked at every snapshot, so the
/// answer kept at one step meets every kind of operation before the next.
fn check_kept_answer(db: &Db, lens: LensKind, group: &stemedb::GroupResult) {
    let mut query = Query::new(group.subject.clone());
    query.predicate = Some(group.predicate.clone());
    query.lens = lens;
    query.winner_only = true;
    let kept = db
        .query_if_small(&query, usize::MAX, render_winners)
        .unwrap()
        .expect("a read slot is free in a test of one thread");
    assert_eq!(
        String::from_utf8_lossy(&kept),
        winner_seen(group),
        "{lens:?} winner of {} {}: the fast path against every group's query",
        group.subject,
        group.predicate
    );
}

fn snapshot(db: &Db, depth: Depth) -> Snapshot {
    let full = depth == Depth::Full;
    let last = db.last_sequence();
    let half = Bound {
        seq_max: last / 2,
        as_of_micros: None,
    };
    let log = db.backup_records(0, last, usize::MAX).unwrap();
    // Causes are named by their sequence in the log (each record is read by its id below, so
    // the id index is checked there).
    let sequences: HashMap<AssertionId, u64> = log.iter().map(|r| (r.id(), r.sequence)).collect();
    let seq_name = |id: &AssertionId| match sequences.get(id) {
        Some(sequence) => format!("#{sequence}"),
        None => format!("missing {id}"),
    };
    let mut records = Vec::new();
    for stored in log {
        let id = stored.id();
        let view = db.get(&id).unwrap().unwrap();
        let votes = db.votes(&id, Bound::latest()).unwrap();
        let earlier = if full {
            db.get_at(&id, half).unwrap()
        } else {
            None
        };
        records.push(RecordState {
            sequence: stored.sequence,
            id: id.to_hex(),
            stage: view.lifecycle.stage.as_str(),
            cause: view.lifecycle.cause.map(|c| seq_name(&c)),
            reason: view.lifecycle.reason,
            quarantine_rule: view.lifecycle.quarantine_rule,
            votes: (votes.up, votes.down),
            stage_half_way: earlier.map(|v| v.lifecycle.stage.as_str()),
        });
    }
    let mut groups = Vec::new();
    let lenses: &[LensKind] = if full {
        &LensKind::ALL
    } else {
        &[LensKind::Recency]
    };
    for &lens in lenses {
        let mut query = Query::new("*");
        query.lens = lens;
        query.limit = Some(1000);
        for group in db.query(&query).unwrap().groups {
            check_kept_answer(db, lens, &group);
            groups.push(GroupState {
                lens,
                subject: format!("{} {}", group.subject, group.predicate),
                winner: format!("#{}", group.winner.sequence),
                total: group.assertions_total,
                conflict_score: format!("{:?}", group.conflict_score),
                layer: group.layer,
            });
        }
    }
    let agents = AGENTS
        .iter()
        .map(|a| {
            // Trust is compared only between full snapshots (the model does not compute it).
            let trust = match full.then(|| db.agent_info(a).unwrap()) {
                Some(Some(info)) => format!("{:?}", info.trust),
                Some(None) => "unbound".into(),
                None => "not read".into(),
            };
            let has = |role| db.agents_with_role(role).iter().any(|x| x == a);
            (
                (*a).to_owned(),
                trust,
                has(Role::Curator),
                has(Role::TrustRoot),
            )
        })
        .collect();
    let review_list = db
        .quarantined(0, 1_000)
        .unwrap()
        .iter()
        .map(|q| q.record.sequence)
        .collect();
    Snapshot {
        last_sequence: last,
        records,
        groups,
        agents,
        review_list,
    }
}

/// The review list must be exactly the records in stage `quarantined`: a held record that a
/// retraction holds cannot take a review, and comes back to the list when reinstated.
fn review_list_differs(snapshot: &Snapshot) -> Option<String> {
    let quarantined: Vec<u64> = snapshot
        .records
        .iter()
        .filter(|r| r.stage == "quarantined")
        .map(|r| r.sequence)
        .collect();
    (quarantined != snapshot.review_list).then(|| {
        format!(
            "listed for review {:?}, in stage quarantined {quarantined:?}",
            snapshot.review_list
        )
    })
}

/// The reliability table made both ways (`Lookups`), at the last sequence and half-way: the
/// first difference, as text.
fn reliability_lookups_differ(db: &Db) -> Option<String> {
    let last = db.last_sequence();
    for seq_max in [last, last / 2] {
        let lines = |lookups| {
            let table = db.reliability_table_at(seq_max, lookups).unwrap();
            let mut agents: Vec<String> = AGENTS
                .iter()
                .map(|a| format!("{:?}", table.agent(a)))
                .collect();
            agents.push(format!("facts {}", table.facts));
            agents.extend(table.disputed.iter().map(|d| format!("{d:?}")));
            agents
        };
        let (whole, each) = (lines(Lookups::WholeIndex), lines(Lookups::PerRecord));
        if let Some(d) = first_difference(&format!("at {seq_max}"), &whole, &each) {
            return Some(d);
        }
    }
    None
}

/// The first difference between two lists, as text.
fn first_difference<T: PartialEq + Debug>(what: &str, a: &[T], b: &[T]) -> Option<String> {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            return Some(format!("{what}[{i}]:\n  {x:?}\n  {y:?}"));
        }
    }
    (a.len() != b.len()).then(|| format!("{what}: {} vs {} entries", a.len(), b.len()))
}

fn compare(a: &Snapshot, b: &Snapshot) -> Option<String> {
    if a.last_sequence != b.last_sequence {
        return Some(format!(
            "last sequence {} vs {}",
            a.last_sequence, b.last_sequence
        ));
    }
    first_difference("record", &a.records, &b.records)
        .or_else(|| first_difference("group", &a.groups, &b.groups))
        .or_else(|| first_difference("agent", &a.agents, &b.agents))
        .or_else(|| first_difference("listed for review", &a.review_list, &b.review_list))
}

/// Panics with the seed, the step, what differs, the operations so far, the records stored
/// and the command that replays it (`replay`: its environment).
fn fail(
    replay: &str,
    done: &[String],
    stored: &[String],
    step: usize,
    what: &str,
    detail: &str,
) -> ! {
    let ops: Vec<String> = done
        .iter()
        .enumerate()
        .map(|(i, op)| format!("  {i:>3}: {op}"))
        .collect();
    let records: Vec<String> = stored
        .iter()
        .enumerate()
        .map(|(i, label)| format!("  #{}: {label}", i + 1))
        .collect();
    panic!(
        "differential: {replay} step {step}: {what}\n{detail}\nrecords stored:\n{records}\n\
         operations:\n{ops}\n\
         replay: {replay} cargo test -p stemedb-cli --test it differential",
        ops = ops.join("\n"),
        records = records.join("\n"),
    )
}

/// One seeded sequence: the live Db, the shadow re-derived after every step, the model.
struct Run {
    seed: u64,
    ops: Gen,
    clock: Arc<SetClock>,
    live_dir: TempDir,
    /// Always `Some`, except for the moment of a reopen (`reopen_live`).
    live: Option<Db>,
    _shadow_dir: TempDir,
    shadow: Db,
    model: Model,
    known: Known,
    /// Each operation so far, described.
    done: Vec<String>,
    /// Steps between comparisons with the re-derived shadow.
    rederive_every: usize,
    /// Steps in this sequence.
    steps: usize,
    /// Each stored record's label, by sequence (from 1).
    stored: Vec<String>,
    /// The live Db's full snapshot of the last step that took one.
    last_full: Option<Snapshot>,
}

/// A directory for one Db: in memory (`/dev/shm`) where there is one. What this test checks
/// is derivation, not durability (crash.rs, power.rs and damage.rs check that on a real
/// disk), and on a disk the fsyncs of opening three Dbs and of every commit were most of a
/// sequence's time (26 s against 10 s for 20 sequences in a debug build here).
fn data_dir() -> TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).or_else(|_| tempfile::tempdir())
    } else {
        tempfile::tempdir()
    };
    dir.unwrap()
}

/// Opens a directory this process just closed. The directory lock is an `flock`, and a child
/// that another thread forks while it is held shares it until the child execs (other tests in
/// this binary spawn servers and CLI commands all the time; checked with a child whose exec was
/// delayed: the lock stayed taken after the close). On a loaded machine that window outlasted
/// the step from close to open once in a `cargo test --workspace` run (`Locked`), so a `Locked`
/// answer is retried for a while; any other error is returned at once.
fn reopen(dir: &std::path::Path, config: DbConfig, clock: Arc<dyn Clock>) -> Result<Db, DbError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Db::open_with_clock(dir, config.clone(), Arc::clone(&clock)) {
            Err(DbError::Store(StoreError::Locked { .. }))
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

fn config() -> DbConfig {
    DbConfig {
        disk_free_min_bytes: 0,
        cache_bytes: 4 * 1024 * 1024,
        ..DbConfig::default()
    }
}

impl Run {
    fn new(seed: u64) -> Run {
        let clock = Arc::new(SetClock(AtomicI64::new(CLOCK_START_MICROS)));
        let open = |dir: &TempDir| {
            Db::open_with_clock(dir.path(), config(), clock.clone() as Arc<dyn Clock>).unwrap()
        };
        let live_dir = data_dir();
        let shadow_dir = data_dir();
        Run {
            seed,
            ops: Gen::new(seed),
            live: Some(open(&live_dir)),
            shadow: open(&shadow_dir),
            clock,
            live_dir,
            _shadow_dir: shadow_dir,
            model: Model::default(),
            known: Known::default(),
            done: Vec::new(),
            stored: Vec::new(),
            rederive_every: REDERIVE_EVERY_DEFAULT,
            steps: 0,
            last_full: None,
        }
    }

    fn fail(&self, step: usize, what: &str, detail: &str) -> ! {
        let replay = self.replay_env();
        fail(&replay, &self.done, &self.stored, step, what, detail)
    }

    /// The environment that replays this sequence alone.
    fn replay_env(&self) -> String {
        format!(
            "STEMEDB_DIFF_SEED={} STEMEDB_DIFF_SEQUENCES=1 STEMEDB_DIFF_STEPS={} \
             STEMEDB_DIFF_REDERIVE_EVERY={}",
            self.seed, self.steps, self.rederive_every
        )
    }

    fn sequence(mut self, steps: usize) {
        self.steps = steps;
        for step in 0..steps {
            if step == steps / 2 && !self.seed.is_multiple_of(2) {
                self.reopen_live(step);
            }
            let op = self.ops.op(&self.known);
            let rederive = (step + 1) % self.rederive_every == 0 || step + 1 == steps;
            self.step(step, op, rederive);
        }
        self.reopen_rederived(steps);
    }

    /// Applies a fixed list of operations with every check after each (regression cases);
    /// returns the live Db's last full snapshot.
    fn replay(mut self, ops: Vec<Op>) -> Snapshot {
        let steps = ops.len();
        self.steps = steps;
        for (step, op) in ops.into_iter().enumerate() {
            self.step(step, op, true);
        }
        self.reopen_rederived(steps)
    }

    /// One operation on the live Db, the shadow and the model, and the comparisons.
    fn step(&mut self, step: usize, op: Op, rederive: bool) {
        self.clock.0.fetch_add(1_000, Ordering::SeqCst);
        self.done.push(op.describe());
        let live = apply(self.live(), &op);
        let shadow = apply(&self.shadow, &op);
        if live != shadow {
            let detail = format!("live:   {live:?}\nshadow: {shadow:?}");
            self.fail(step, "live and shadow answered differently", &detail);
        }
        let now = self.clock.now();
        if let Some(detail) = self.model.apply(&op, &live, now) {
            self.fail(step, "the model expected other answers", &detail);
        }
        self.note(&op, &live);
        let depth = if rederive { Depth::Full } else { Depth::Light };
        let a = snapshot(self.live(), depth);
        if let Some(detail) = self.model.compare(&a) {
            self.fail(step, "live state differs from the model", &detail);
        }
        if let Some(detail) = review_list_differs(&a) {
            self.fail(
                step,
                "the review list is not the quarantined records",
                &detail,
            );
        }
        if rederive {
            if let Some(detail) = reliability_lookups_differ(self.live()) {
                let what = "the reliability pass's index reads differ from per-record lookups";
                self.fail(step, what, &detail);
            }
            self.shadow.rebuild_indexes(&mut |_, _| {}).unwrap();
            let b = snapshot(&self.shadow, Depth::Full);
            if let Some(detail) = compare(&a, &b) {
                let what = "live state differs from re-derived (live first)";
                self.fail(step, what, &detail);
            }
            self.last_full = Some(a);
        }
    }

    fn live(&self) -> &Db {
        self.live
            .as_ref()
            .expect("the live Db is open between steps")
    }

    /// Drops the live Db mid-sequence and opens its directory again as it is (its journal
    /// replayed, nothing re-derived), so that the steps after it run on what an open loads:
    /// the in-memory views beside the truth keyspace (roles, epochs, the rare markers) and the
    /// writer's caches (new-subject windows, agents' keys) must come back whole, or the model
    /// sees the difference. Odd seeds (even ones close at the end instead).
    fn reopen_live(&mut self, step: usize) {
        drop(self.live.take());
        let clock = self.clock.clone() as Arc<dyn Clock>;
        match reopen(self.live_dir.path(), config(), clock) {
            Ok(db) => self.live = Some(db),
            Err(e) => self.fail(
                step,
                "the live directory does not open again",
                &e.to_string(),
            ),
        }
    }

    /// Notes stored records for the generator.
    fn note(&mut self, op: &Op, answers: &[Answer]) {
        let items: Vec<&Item> = match op {
            Op::Write(item) => vec![item],
            Op::Batch(items) => items.iter().collect(),
            Op::Grant { .. } => return,
        };
        for (item, answer) in items.into_iter().zip(answers) {
            if let Answer::Stored { sequence, .. } = answer {
                self.known.stored(*sequence, item);
                self.stored.push(item.label.clone());
            }
        }
    }

    /// Closes the live Db (or drops it, for every other seed: a drop leaves the journal for
    /// the open to replay where a close flushed it to tables), reopens its directory deriving
    /// all truth again, and compares; returns the state before.
    fn reopen_rederived(mut self, steps: usize) -> Snapshot {
        // The last step took a full snapshot, and nothing was written since.
        let before = match self.last_full.take() {
            Some(before) => before,
            None => snapshot(self.live(), Depth::Full),
        };
        let replay = self.replay_env();
        let live = self.live.take();
        if self.seed.is_multiple_of(2) {
            live.as_ref().map(Db::close).transpose().unwrap();
        }
        drop(live);
        let config = DbConfig {
            rederive_truth: true,
            ..config()
        };
        let clock = self.clock.clone() as Arc<dyn Clock>;
        let reopened = match reopen(self.live_dir.path(), config, clock) {
            Ok(db) => db,
            Err(e) => {
                let what = "the live directory does not open again";
                fail(
                    &replay,
                    &self.done,
                    &self.stored,
                    steps,
                    what,
                    &e.to_string(),
                )
            }
        };
        let after = snapshot(&reopened, Depth::Full);
        if let Some(detail) = compare(&before, &after) {
            let what = "state before close differs from the reopened, re-derived one";
            fail(&replay, &self.done, &self.stored, steps, what, &detail);
        }
        before
    }
}
