//! The single writer: drains waiting appends into one group, decides each record (duplicate,
//! agent-key conflict, or new), applies log + indexes + last applied sequence in one atomic
//! batch, fsyncs once, and only then answers every waiter. This file runs the thread (collecting
//! groups, fail-stop, reopening after a full disk); `commit.rs` commits one group, step by step;
//! `apply.rs` decides each record and writes it into the log and indexes; `completion.rs` hands
//! each job its answer.
mod apply;
mod commit;
mod completion;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, mpsc};

use stemedb_core::{SignedAssertion, Timestamp};

use crate::acked::AckMark;
use crate::engine::{EngineSlot, Shared, reopen};
use crate::error::StoreError;
use crate::groups::SummaryCache;
use crate::options::StoreOptions;
use crate::space::free_bytes;
use crate::truth::{CountsAtOpen, Derived};

pub(crate) use apply::apply;
use commit::commit_group;
pub use completion::AppendWait;
pub(crate) use completion::{Completion, completion};

/// What happened to one record handed to [`Store::append`](crate::Store::append).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Newly stored and durable.
    Appended {
        sequence: u64,
        recorded_at: Timestamp,
        /// What truth maintenance did with it.
        derived: Derived,
        /// The first sequence of its (subject, predicate) group, when the group's summary
        /// lists every sequence (`None`: a control record, a large group, or not known).
        group_first: Option<u64>,
    },
    /// The same id was already stored (idempotent re-send).
    Duplicate { sequence: u64 },
    /// The agent id is bound to another public key; nothing stored.
    AgentKeyConflict { bound_key: [u8; 32] },
    /// A control record names an assertion that is neither stored nor stored earlier in the
    /// same group (its batch's target was refused); nothing stored.
    TargetMissing { target: stemedb_core::AssertionId },
}

pub(crate) struct Job {
    pub records: Vec<SignedAssertion>,
    /// Set for records a replicated stream brought (cluster mode); `None` for local appends,
    /// which the writer stamps with its clock.
    pub stream: Option<StreamStamp>,
    pub reply: Completion,
}

/// What a replicated job carries besides its records.
pub(crate) struct StreamStamp {
    /// Each record's publish time, in record order: its `recorded_at`, raised to the last one
    /// stored if lower (the same on every node, because every node applies the same order).
    pub published_at: Vec<Timestamp>,
    /// The stream position the job starts at: it must be above the position already applied.
    pub first_stream_seq: u64,
    /// The stream position the job ends at, committed with its records.
    pub last_stream_seq: u64,
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
    /// The last stream sequence applied (cluster mode), advanced after each durable commit.
    stream_applied: Arc<AtomicU64>,
    /// Group summaries known durable (see its invariant).
    summaries: SummaryCache,
}

/// Free bytes a full disk must have again before the writer reopens the engine.
const REOPEN_FREE_MIN_BYTES: u64 = 16 * 1024 * 1024;

/// What the writer starts from besides the engine.
pub(crate) struct WriterStart {
    /// The acknowledgement mark to advance (none when opened under `AckLossPolicy::Report`,
    /// which must leave the mark as it is).
    pub mark: Option<AckMark>,
    /// The last stored record's `recorded_at` (the minimum for an empty log): the next group
    /// is stamped no earlier, whatever the clock says.
    pub last_recorded_at: Timestamp,
    /// The store's stream position counter (cluster mode), which the writer advances.
    pub stream_applied: Arc<AtomicU64>,
}

pub(crate) fn run_writer(
    shared: Arc<Shared>,
    slot: &EngineSlot,
    receiver: &mpsc::Receiver<Job>,
    options: &StoreOptions,
    start: WriterStart,
) {
    let mut state = WriterState {
        next_seq: shared.durable_seq() + 1,
        last_recorded_at: start.last_recorded_at,
        failed: None,
        mark: start.mark,
        dir: shared.dir().to_owned(),
        stream_applied: start.stream_applied,
        summaries: SummaryCache::default(),
    };
    let mut engine = Some(shared);
    while let Ok(first) = receiver.recv() {
        let jobs = collect_group(first, receiver, options.group_records_max);
        engine = recover_after_full_disk(engine, slot, &mut state, options);
        match &engine {
            Some(shared) => commit_group(shared, &mut state, jobs, options),
            None => {
                // A reopen failed: its reason (and whether a later one may succeed) stands.
                let (reason, disk_full) = state
                    .failed
                    .clone()
                    .unwrap_or_else(|| ("the engine is not open".into(), true));
                fail_group(&mut state, jobs, reason, disk_full)
            }
        }
    }
    // The new-subject counts, saved so that the next open need not count them again from the
    // log (which it does when this fails, or after a crash). Not by a store opened only to
    // report, which writes nothing.
    if let Some(shared) = &engine
        && state.failed.is_none()
        && CountsAtOpen::for_policy(options.acknowledged_loss) == CountsAtOpen::Save
    {
        let _ = crate::truth::save_counts(shared);
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
            // An engine that came back without acknowledged records is not a full disk: no
            // later write retries it, and a restart refuses it by name at open.
            let disk_full = !matches!(e, StoreError::AcknowledgedLost { .. });
            state.failed = Some((format!("reopening the engine failed: {e}"), disk_full));
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
    crate::truth::recover(&shared, shared.durable_seq(), CountsAtOpen::Save)?;
    // The reopen loads roles and derives records again, with no record of its own for
    // readers' kept answers to see (`answers_rebuilds`).
    shared.note_answers_rebuilt();
    slot.put(Arc::clone(&shared));
    Ok(shared)
}

/// A poisoned engine says only that an earlier write or a background flush failed; a disk
/// with less room than the writer needs to go on is taken as the reason.
fn poisoned_by_full_disk(shared: &Shared, options: &StoreOptions, error: &StoreError) -> bool {
    let room = options.disk_free_min_bytes.max(REOPEN_FREE_MIN_BYTES);
    matches!(error, StoreError::Engine(fjall::Error::Poisoned))
        && free_bytes(shared.dir()).is_ok_and(|free| free < room)
}

/// Fail-stop: answers every waiter of the group with the error and refuses all later groups.
/// After a failed journal write or fsync the engine's on-disk tail is unknown, so even a
/// failure for lack of space is not retried in place; a restart recovers from the last sync.
fn fail_group(state: &mut WriterState, jobs: Vec<Job>, reason: String, disk_full: bool) {
    state.failed = Some((reason.clone(), disk_full));
    for job in jobs {
        job.reply.send(Err(StoreError::FailStopped {
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
        job.reply.send(Err(refusal));
    }
}
