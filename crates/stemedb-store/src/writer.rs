//! The single writer: drains waiting appends into one group, decides each record (duplicate,
//! agent-key conflict, or new), applies log + indexes + last applied sequence in one atomic
//! batch, fsyncs once, and only then answers every waiter.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use fjall::OwnedWriteBatch;
use stemedb_core::{AssertionId, SignedAssertion, Timestamp};

use crate::acked::AckMark;
use crate::codec::encode_record;
use crate::engine::{EngineSlot, Shared, reopen};
use crate::error::StoreError;
use crate::keys::{
    META_LAST_APPLIED, decode_seq, name_seq_key, seq_key, subject_predicate_key, valid_time_key,
};
use crate::options::StoreOptions;
use crate::space::{free_bytes, injected_fsync_failure, is_out_of_space};
use crate::truth::{Derived, derive_records};

/// What happened to one record handed to [`Store::append`](crate::Store::append).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Newly stored and durable.
    Appended {
        sequence: u64,
        recorded_at: Timestamp,
        /// What truth maintenance did with it.
        derived: Derived,
    },
    /// The same id was already stored (idempotent re-send).
    Duplicate { sequence: u64 },
    /// The agent id is bound to another public key; nothing stored.
    AgentKeyConflict { bound_key: [u8; 32] },
}

pub(crate) struct Job {
    pub records: Vec<SignedAssertion>,
    pub reply: mpsc::SyncSender<Result<Vec<AppendOutcome>, StoreError>>,
}

/// State carried across groups by the writer thread.
struct WriterState {
    next_seq: u64,
    last_recorded_at: Timestamp,
    /// Set after a failed commit: the writer stops acknowledging (fail-stop) instead of
    /// retrying against a disk whose state it no longer knows.
    /// The reason, and whether it was the disk running out of space.
    failed: Option<(String, bool)>,
    /// The acknowledgement mark, advanced after every durable commit (none when the store was
    /// opened only to report on it).
    mark: Option<AckMark>,
    /// The data directory.
    dir: PathBuf,
}

/// Free bytes a full disk must have again before the writer reopens the engine.
const REOPEN_FREE_MIN_BYTES: u64 = 16 * 1024 * 1024;

pub(crate) fn run_writer(
    shared: Arc<Shared>,
    slot: &EngineSlot,
    receiver: &mpsc::Receiver<Job>,
    options: &StoreOptions,
    mark: Option<AckMark>,
) {
    let mut state = WriterState {
        next_seq: shared.durable_seq() + 1,
        last_recorded_at: Timestamp::from_micros(i64::MIN),
        failed: None,
        mark,
        dir: shared.dir().to_owned(),
    };
    let mut engine = Some(shared);
    while let Ok(first) = receiver.recv() {
        let jobs = collect_group(first, receiver, options.group_records_max);
        engine = recover_after_full_disk(engine, slot, &mut state, options);
        match &engine {
            Some(shared) => commit_group(shared, &mut state, jobs, options),
            None => fail_group(&mut state, jobs, "the engine is not open".into(), true),
        }
    }
    if let Some(mark) = &mut state.mark {
        let _ = mark.sync();
    }
}

/// The group that starts with `first`: every job already waiting, until the group holds
/// `records_max` records (the job that reaches it is taken whole).
fn collect_group(first: Job, receiver: &mpsc::Receiver<Job>, records_max: usize) -> Vec<Job> {
    let mut pending: usize = first.records.len();
    let mut jobs = vec![first];
    while pending < records_max {
        match receiver.try_recv() {
            Ok(job) => {
                pending += job.records.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    jobs
}

/// After a fail-stop caused by a full disk, reopens the engine once the disk has room again
/// (`disk_free_min_bytes`, and never less than `REOPEN_FREE_MIN_BYTES`), so that writes resume
/// without a restart. Other failures (a failed fsync) keep the writer stopped: after those
/// only a restart, with its recovery from the journal, is trusted.
fn recover_after_full_disk(
    engine: Option<Arc<Shared>>,
    slot: &EngineSlot,
    state: &mut WriterState,
    options: &StoreOptions,
) -> Option<Arc<Shared>> {
    if !matches!(state.failed, Some((_, true))) {
        return engine;
    }
    let room = options.disk_free_min_bytes.max(REOPEN_FREE_MIN_BYTES);
    let dir = state.dir.clone();
    if free_bytes(&dir).map_or(true, |free| free < room) {
        return engine;
    }
    let reopened = reopen_engine(slot, engine, &dir, options);
    let shared = match reopened {
        Ok(shared) => shared,
        Err(e) => {
            state.failed = Some((format!("reopening the engine failed: {e}"), true));
            return slot.get().ok();
        }
    };
    let last = shared.durable_seq();
    state.next_seq = last + 1;
    state.failed = None;
    if last > 0
        && let Ok(record) = shared.read_record(last)
    {
        state.last_recorded_at = state.last_recorded_at.max(record.recorded_at);
    }
    if let Some(mark) = &mut state.mark {
        let _ = mark.record(last);
    }
    Some(shared)
}

/// Reopens the engine (`engine::reopen`), derives what the failed group left underived, and
/// only then hands the engine to readers.
fn reopen_engine(
    slot: &EngineSlot,
    old: Option<Arc<Shared>>,
    dir: &std::path::Path,
    options: &StoreOptions,
) -> Result<Arc<Shared>, StoreError> {
    let shared = reopen(slot, old, dir, options)?;
    crate::truth::recover(&shared, shared.durable_seq())?;
    slot.put(Arc::clone(&shared));
    Ok(shared)
}

fn commit_group(shared: &Shared, state: &mut WriterState, jobs: Vec<Job>, options: &StoreOptions) {
    if let Some((reason, disk_full)) = state.failed.clone() {
        fail_group(state, jobs, reason, disk_full);
        return;
    }
    if let Err(e) = crate::space::check_reserve(shared.dir(), options.disk_free_min_bytes) {
        refuse_group(jobs, &e);
        return;
    }
    let start_seq = state.next_seq;
    let now = options.clock.now().max(state.last_recorded_at);
    let mut batch = shared.batch();
    let mut group = GroupState::default();
    let mut outcomes: Vec<Result<Vec<AppendOutcome>, StoreError>> = Vec::with_capacity(jobs.len());
    let mut applied: Vec<(u64, Timestamp, &SignedAssertion)> = Vec::new();
    for job in &jobs {
        let result = job
            .records
            .iter()
            .map(|record| {
                let outcome = decide(shared, state, &mut group, &mut batch, record, now)?;
                if let AppendOutcome::Appended { sequence, .. } = outcome {
                    applied.push((sequence, now, record));
                }
                Ok(outcome)
            })
            .collect::<Result<Vec<_>, _>>();
        outcomes.push(result);
    }
    let result = if state.next_seq > start_seq {
        batch.insert(
            &shared.ks().meta,
            META_LAST_APPLIED,
            (state.next_seq - 1).to_be_bytes(),
        );
        // Truth maintenance is derived after the log commit and made durable by the same
        // fsync; nothing is acknowledged before both are on disk.
        let started = Instant::now();
        let result = batch
            .commit()
            .map_err(StoreError::from)
            .and_then(|()| derive_records(shared, &applied))
            .and_then(|derived| {
                let fsync_started = Instant::now();
                injected_fsync_failure(options.fail_fsync_after_commits, &options.fsyncs_done)?;
                shared.sync()?;
                if let Some(hook) = &options.after_sync {
                    (hook.0)(state.next_seq - 1);
                }
                if let Some(mark) = &mut state.mark {
                    mark.record(state.next_seq - 1)?;
                }
                Ok((derived, fsync_started.elapsed()))
            });
        result.map(|(derived, fsync)| {
            record_commit(shared, started.elapsed(), fsync, applied.len());
            derived
        })
    } else {
        Ok(Vec::new())
    };
    let derived = match result {
        Ok(derived) => derived,
        Err(e) => {
            let disk_full = is_out_of_space(&e) || poisoned_by_full_disk(shared, options, &e);
            let reason = if disk_full {
                format!("the disk holding {} is full: {e}", shared.dir().display())
            } else {
                e.to_string()
            };
            fail_group(state, jobs, reason, disk_full);
            return;
        }
    };
    let by_seq: HashMap<u64, Derived> = applied
        .iter()
        .map(|(seq, _, _)| *seq)
        .zip(derived)
        .collect();
    for outcome in outcomes.iter_mut().flatten().flatten() {
        if let AppendOutcome::Appended {
            sequence, derived, ..
        } = outcome
            && let Some(d) = by_seq.get(sequence)
        {
            *derived = *d;
        }
    }
    // Invariants (ARCHITECTURE.md): sequences are dense, so this group's records are exactly
    // the ones after the last durable sequence; `recorded_at` never decreases.
    assert_eq!(
        applied.first().map_or(start_seq, |(seq, _, _)| *seq),
        shared.durable_seq() + 1,
        "a group starts right after the last durable sequence"
    );
    assert!(
        applied.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "a group's sequences are dense"
    );
    assert!(now >= state.last_recorded_at, "recorded_at never decreases");
    state.last_recorded_at = now;
    shared.publish_durable(state.next_seq - 1);
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        let _ = job.reply.send(outcome);
    }
}

/// A poisoned engine says only that an earlier write or a background flush failed; a disk
/// with less room than the writer needs to go on is taken as the reason.
fn poisoned_by_full_disk(shared: &Shared, options: &StoreOptions, error: &StoreError) -> bool {
    let room = options.disk_free_min_bytes.max(REOPEN_FREE_MIN_BYTES);
    matches!(error, StoreError::Engine(fjall::Error::Poisoned))
        && free_bytes(shared.dir()).is_ok_and(|free| free < room)
}

/// Commit figures: Prometheus histograms and the running stats behind `admin status`.
fn record_commit(shared: &Shared, total: Duration, fsync: Duration, records: usize) {
    crate::stats::observe_commit(total, fsync, records);
    shared.add_commit(total, fsync, records);
}

/// Fail-stop: answers every waiter of the group with the error and refuses all later groups.
/// After a failed journal write or fsync the engine's on-disk tail is unknown, so even a
/// failure for lack of space is not retried in place; a restart recovers from the last sync.
fn fail_group(state: &mut WriterState, jobs: Vec<Job>, reason: String, disk_full: bool) {
    state.failed = Some((reason.clone(), disk_full));
    for job in jobs {
        let _ = job.reply.send(Err(StoreError::FailStopped {
            reason: reason.clone(),
            disk_full,
        }));
    }
}

/// Refuses one group without touching the disk; later groups are tried again.
fn refuse_group(jobs: Vec<Job>, error: &StoreError) {
    for job in jobs {
        let refusal = match error {
            StoreError::DiskFull {
                path,
                free_bytes,
                free_min_bytes,
            } => StoreError::DiskFull {
                path: path.clone(),
                free_bytes: *free_bytes,
                free_min_bytes: *free_min_bytes,
            },
            other => StoreError::Io {
                path: "free-space check".into(),
                source: std::io::Error::other(other.to_string()),
            },
        };
        let _ = job.reply.send(Err(refusal));
    }
}

/// What this group has decided so far, so records inside one group see each other.
#[derive(Default)]
struct GroupState {
    ids: HashMap<AssertionId, u64>,
    agents: HashMap<String, [u8; 32]>,
}

fn decide(
    shared: &Shared,
    state: &mut WriterState,
    group: &mut GroupState,
    batch: &mut OwnedWriteBatch,
    record: &SignedAssertion,
    now: Timestamp,
) -> Result<AppendOutcome, StoreError> {
    if let Some(sequence) = group.ids.get(&record.id) {
        return Ok(AppendOutcome::Duplicate {
            sequence: *sequence,
        });
    }
    if let Some(seq_bytes) = shared.ks().ids.get(record.id.as_bytes())? {
        return Ok(AppendOutcome::Duplicate {
            sequence: decode_seq(&seq_bytes, "ids")?,
        });
    }
    let agent = &record.body.agent_id;
    let key = record.body.public_key.to_bytes();
    let bound = match group.agents.get(agent) {
        Some(k) => Some(*k),
        None => shared
            .ks()
            .agents
            .get(agent.as_bytes())?
            .and_then(|v| v.get(..32).and_then(|b| b.try_into().ok())),
    };
    if let Some(bound_key) = bound.filter(|b| *b != key) {
        return Ok(AppendOutcome::AgentKeyConflict { bound_key });
    }
    let sequence = state.next_seq;
    state.next_seq += 1;
    if bound.is_none() {
        let mut value = key.to_vec();
        value.extend_from_slice(&sequence.to_be_bytes());
        batch.insert(&shared.ks().agents, agent.as_bytes(), value);
        group.agents.insert(agent.clone(), key);
    }
    group.ids.insert(record.id, sequence);
    apply(shared, batch, sequence, now, record);
    Ok(AppendOutcome::Appended {
        sequence,
        recorded_at: now,
        derived: Derived::default(),
    })
}

/// Writes one decided record into the log and every index. This is the apply path a
/// replicated log will feed: it depends only on the record, its assigned sequence and
/// `recorded_at`.
pub(crate) fn apply(
    shared: &Shared,
    batch: &mut OwnedWriteBatch,
    seq: u64,
    recorded_at: Timestamp,
    record: &SignedAssertion,
) {
    let ks = shared.ks();
    let body = &record.body;
    batch.insert(
        &ks.log,
        seq_key(seq),
        encode_record(seq, recorded_at, &record.signature, &record.canonical),
    );
    batch.insert(&ks.ids, record.id.as_bytes().to_vec(), seq.to_be_bytes());
    // Control records (stemedb:*) are not data: they are indexed by target in the truth
    // keyspace, never by subject, so ordinary queries do not return them.
    if body.control.is_none() {
        batch.insert(
            &ks.by_subject,
            subject_predicate_key(&body.subject, &body.predicate, seq),
            [],
        );
    }
    batch.insert(&ks.by_agent, name_seq_key(&body.agent_id, seq), []);
    for source in &body.sources {
        batch.insert(&ks.by_source, name_seq_key(source, seq), []);
    }
    batch.insert(
        &ks.by_valid_time,
        valid_time_key(body.timestamp.micros(), seq),
        [],
    );
}
