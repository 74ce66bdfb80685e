//! One group commit, a step per function: decide the group into one batch (`apply.rs`), derive
//! truth from it (into that batch when its records are plain) and commit, make both durable
//! (fault injection, fsync, the sync hook, the `ACKED` mark), count it, check the invariants,
//! publish the durable sequence, answer.
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fjall::OwnedWriteBatch;
use stemedb_core::{SignedAssertion, Timestamp};

use super::apply::{Decided, decide_group};
use super::{AppendOutcome, Job, WriterState, fail_group, poisoned_by_full_disk, refuse_group};
use crate::engine::Shared;
use crate::error::StoreError;
use crate::keys::{META_LAST_APPLIED, META_STREAM_APPLIED};
use crate::options::StoreOptions;
use crate::space::{check_reserve, injected_fsync_failure, is_out_of_space};
use crate::stats::observe_commit;
use crate::truth::{
    Derived, all_plain, derive_plain_into, derive_records, forget_new_subject_windows,
};

/// Each job's outcomes, or the error that refused the job.
type Outcomes = Vec<Result<Vec<AppendOutcome>, StoreError>>;

/// Commits one group and answers its waiters: after a fail-stop or below the free-space
/// reserve the group is refused whole; otherwise nobody is answered before the group, and the
/// truth derived from it, are durable and the acknowledgement mark says so.
pub(super) fn commit_group(
    shared: &Shared,
    state: &mut WriterState,
    jobs: Vec<Job>,
    options: &StoreOptions,
) {
    if let Some((reason, disk_full)) = state.failed.clone() {
        fail_group(state, jobs, reason, disk_full);
        return;
    }
    if let Err(e) = check_reserve(shared.dir(), options.disk_free_min_bytes) {
        refuse_group(jobs, &e);
        return;
    }
    let jobs = refuse_stale_stream_jobs(state, jobs);
    if jobs.is_empty() {
        return;
    }
    let decided = decide_group(shared, state, &jobs, options.clock.now());
    if decided.outcomes.iter().any(Result::is_err) {
        // A job whose records could not be decided (a storage error reading the duplicate or
        // agent-key state) is refused whole, and the group is decided again without it: left
        // in the batch, its records decided before the error would be stored while their
        // writer was told the write failed.
        let failed: Vec<Option<StoreError>> =
            decided.outcomes.into_iter().map(Result::err).collect();
        state.next_seq = decided.start_seq;
        let kept = answer_failed(jobs, failed);
        return commit_group(shared, state, kept, options);
    }
    let Decided {
        batch,
        mut outcomes,
        applied,
        start_seq,
        last_recorded_at,
        stream_last,
        summaries,
    } = decided;
    // A replicated group commits even without a new record: its stream position must be
    // durable, or a restart would apply (harmlessly, but needlessly) the same entries again.
    let derived = if state.next_seq > start_seq || stream_last.is_some() {
        match make_durable(shared, state, options, batch, &applied, stream_last) {
            Ok(derived) => {
                // Before the durable sequence is published below (`group_cache.rs`, `group_marks.rs`).
                let durable = state.next_seq - 1;
                shared
                    .group_cache()
                    .write_through(summaries.entries(), durable);
                shared
                    .group_marks()
                    .raise(summaries.entries().map(|(group, _)| group), durable);
                state.summaries.absorb(summaries);
                derived
            }
            Err(e) => return fail_after(shared, state, jobs, options, &e),
        }
    } else {
        Vec::new()
    };
    fill_derived(&mut outcomes, &applied, derived);
    check_invariants(shared, state, &applied, start_seq, stream_last);
    state.last_recorded_at = last_recorded_at;
    if let Some(stream_seq) = stream_last {
        state.stream_applied.store(stream_seq, Ordering::Release);
    }
    shared.publish_durable(state.next_seq - 1);
    reply(jobs, outcomes);
}

/// Answers each job that `failed` holds an error for, and returns the others in order.
fn answer_failed(jobs: Vec<Job>, failed: Vec<Option<StoreError>>) -> Vec<Job> {
    let mut kept = Vec::with_capacity(jobs.len());
    for (job, error) in jobs.into_iter().zip(failed) {
        match error {
            Some(e) => {
                job.reply.send(Err(e));
            }
            None => kept.push(job),
        }
    }
    kept
}

/// Answers `StreamOutOfOrder` to every replicated job that does not start above the stream
/// position (the store's, or an earlier job's in this group) and keeps the rest: an applier
/// that restarts while its last run is still queued here sends entries twice, and that must be
/// refused by name, never applied twice or asserted on.
fn refuse_stale_stream_jobs(state: &WriterState, jobs: Vec<Job>) -> Vec<Job> {
    let mut position = state.stream_applied.load(Ordering::Acquire);
    let mut kept = Vec::with_capacity(jobs.len());
    for job in jobs {
        match &job.stream {
            Some(stamp) if stamp.first_stream_seq <= position => {
                job.reply.send(Err(StoreError::StreamOutOfOrder {
                    applied: position,
                    first: stamp.first_stream_seq,
                }));
            }
            Some(stamp) => {
                position = stamp.last_stream_seq;
                kept.push(job);
            }
            None => kept.push(job),
        }
    }
    kept
}

/// Commits the group's batch, derives truth from its new records and makes both durable;
/// returns what each new record derived.
fn make_durable(
    shared: &Shared,
    state: &mut WriterState,
    options: &StoreOptions,
    batch: OwnedWriteBatch,
    applied: &[(u64, Timestamp, &SignedAssertion)],
    stream_last: Option<u64>,
) -> Result<Vec<Derived>, StoreError> {
    let last = state.next_seq - 1;
    let started = Instant::now();
    // Truth maintenance is derived with the log commit (a group of plain records, in its
    // batch) or after it, and made durable by the same fsync; nothing is acknowledged before
    // both are on disk.
    let derived = if all_plain(applied) {
        let (derived, batch) = derive_plain_into(shared, batch, applied)?;
        commit_log(shared, batch, last, stream_last)?;
        derived
    } else {
        commit_log(shared, batch, last, stream_last)?;
        derive_records(shared, applied)?
    };
    let fsync_started = Instant::now();
    sync(shared, options)?;
    mark_acknowledged(state, options, last)?;
    let fsync = fsync_started.elapsed();
    record_stats(shared, started.elapsed(), fsync, applied.len());
    Ok(derived)
}

/// Commits the log and index writes of the group with `last_applied_sequence` and, for a
/// replicated group, `last_stream_sequence` (not synced).
fn commit_log(
    shared: &Shared,
    mut batch: OwnedWriteBatch,
    last: u64,
    stream_last: Option<u64>,
) -> Result<(), StoreError> {
    batch.insert(&shared.ks().meta, META_LAST_APPLIED, last.to_be_bytes());
    if let Some(stream_seq) = stream_last {
        batch.insert(
            &shared.ks().meta,
            META_STREAM_APPLIED,
            stream_seq.to_be_bytes(),
        );
    }
    Ok(batch.commit()?)
}

/// The journal fsync, failing instead when a test injects a dying disk.
fn sync(shared: &Shared, options: &StoreOptions) -> Result<(), StoreError> {
    injected_fsync_failure(options.fail_fsync_after_commits, &options.fsyncs_done)?;
    shared.sync()
}

/// After the durable sync: the tests' sync hook, then the acknowledgement mark `ACKED`
/// (written now, fsynced every 32 commits), before any waiter is answered.
fn mark_acknowledged(
    state: &mut WriterState,
    options: &StoreOptions,
    last: u64,
) -> Result<(), StoreError> {
    if let Some(hook) = &options.after_sync {
        (hook.0)(last);
    }
    if let Some(mark) = &mut state.mark {
        mark.record(last)?;
    }
    Ok(())
}

/// Commit figures: Prometheus histograms and the running stats behind `admin status`.
fn record_stats(shared: &Shared, total: Duration, fsync: Duration, records: usize) {
    observe_commit(total, fsync, records);
    shared.add_commit(total, fsync, records);
}

/// Fail-stop after a failed commit, derivation or sync, naming a full disk as the reason
/// when it was one.
fn fail_after(
    shared: &Shared,
    state: &mut WriterState,
    jobs: Vec<Job>,
    options: &StoreOptions,
    e: &StoreError,
) {
    state.summaries.clear();
    // The new-subject windows may count records that are not committed (a derivation into
    // the log's batch, or counts taken for a save, before a commit that failed). Nothing reads
    // them before the engine is opened again; emptied all the same, so that nothing can.
    forget_new_subject_windows(shared);
    let disk_full = is_out_of_space(e) || poisoned_by_full_disk(shared, options, e);
    let reason = if disk_full {
        format!("the disk holding {} is full: {e}", shared.dir().display())
    } else {
        e.to_string()
    };
    fail_group(state, jobs, reason, disk_full);
}

/// Puts what truth maintenance derived for each new record into its outcome. `applied` and the
/// `Appended` outcomes are in the same order (`decide_group` pushes both together), and
/// `derived` is in `applied`'s, so one walk pairs them. Invariant, asserted: every new record's
/// derivation reaches its outcome (a record answered without it would be told it is active
/// when truth maintenance quarantined or retracted it).
fn fill_derived(
    outcomes: &mut Outcomes,
    applied: &[(u64, Timestamp, &SignedAssertion)],
    derived: Vec<Derived>,
) {
    let mut by_seq = applied
        .iter()
        .map(|(seq, _, _)| *seq)
        .zip(derived)
        .peekable();
    for outcome in outcomes.iter_mut().flatten().flatten() {
        if let AppendOutcome::Appended {
            sequence, derived, ..
        } = outcome
            && let Some((_, d)) = by_seq.next_if(|(seq, _)| seq == sequence)
        {
            *derived = d;
        }
    }
    assert!(
        by_seq.next().is_none(),
        "every new record's derived truth reaches its outcome"
    );
}

/// Invariants (ARCHITECTURE.md): sequences are dense, so this group's records are exactly the
/// ones after the last durable sequence; `recorded_at` never decreases; the stream position
/// only moves forward.
fn check_invariants(
    shared: &Shared,
    state: &WriterState,
    applied: &[(u64, Timestamp, &SignedAssertion)],
    start_seq: u64,
    stream_last: Option<u64>,
) {
    assert_eq!(
        applied.first().map_or(start_seq, |(seq, _, _)| *seq),
        shared.durable_seq() + 1,
        "a group starts right after the last durable sequence"
    );
    assert!(
        applied.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "a group's sequences are dense"
    );
    assert!(
        applied
            .first()
            .is_none_or(|(_, t, _)| *t >= state.last_recorded_at)
            && applied.windows(2).all(|w| w[1].1 >= w[0].1),
        "recorded_at never decreases"
    );
    assert!(
        stream_last.is_none_or(|s| s > state.stream_applied.load(Ordering::Acquire)),
        "the stream position only moves forward"
    );
}

/// Answers every waiter of the group, in order.
fn reply(jobs: Vec<Job>, outcomes: Outcomes) {
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        job.reply.send(outcome);
    }
}
