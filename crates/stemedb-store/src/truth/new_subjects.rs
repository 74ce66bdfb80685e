//! The new-subject burst rule's counts (docs/truth.md, `new_subject_burst`): each agent's new
//! subjects per tenth of the window, kept by the writer in `NewSubjectWindows` and saved to the
//! truth keyspace's `N` keys, with `meta/new_subjects_saved_sequence`, once every
//! `SAVE_RECORDS` derived records, at the end of an open and when the writer stops. Saving them
//! at every commit rewrote one key per new subject: about 2 µs of the writer's 30 a single
//! write (docs/benchmarks.md, "Forty-third session"). After a crash, an open counts the records
//! after the saved sequence again from the log (`replay_counts`): a record was counted when its
//! subject's `F` key names it and says so (`first_seen_value`), which its derivation decided
//! once, with the trust of its time, so the count is the same as the live writer's.
use fjall::OwnedWriteBatch;
use stemedb_core::Timestamp;

use super::derive::Deriver;
use super::{TAG_FIRST_SEEN, TAG_NEW_SUBJECT, name_key};
use crate::cache::NewSubjectWindows;
use crate::engine::Shared;
use crate::error::StoreError;
use crate::keys::{META_NEW_SUBJECTS_SAVED, decode_seq};

/// Counters the new-subject window is split into.
const NEW_SUBJECT_BUCKETS: i64 = 10;

/// Derived records between two saves of the counts: the most an open after a crash reads
/// again (a few milliseconds; the unsaved counts held meanwhile are at most one a record).
const SAVE_RECORDS: u64 = 4096;

/// An `F` key's value: the sequence of the record that first had the subject, then 1 when
/// the burst rule counted that record (0 when not). Older stores wrote the sequence alone.
pub(super) fn first_seen_value(seq: u64, counted: bool) -> [u8; 9] {
    let mut value = [0u8; 9];
    value[..8].copy_from_slice(&seq.to_be_bytes());
    value[8] = u8::from(counted);
    value
}

/// Reads an `F` value: (first sequence, counted). Eight bytes (an older store's) read as not
/// counted: such a store saved its counts at every commit and never replays them.
fn decode_first_seen(value: &[u8]) -> Result<(u64, bool), StoreError> {
    match value.len() {
        8 => Ok((decode_seq(value, "truth/first_seen")?, false)),
        9 if value[8] <= 1 => Ok((decode_seq(&value[..8], "truth/first_seen")?, value[8] == 1)),
        _ => Err(StoreError::CorruptIndex {
            index: "truth/first_seen",
            reason: format!("a value of {} bytes", value.len()),
        }),
    }
}

impl Deriver<'_> {
    /// Counts this record's new subject in its agent's window and returns how many the agent
    /// created in the window before it (`count_new_subject`).
    pub(super) fn new_subject_count(&mut self) -> Result<u64, StoreError> {
        count_new_subject(self.shared, &self.record.body.agent_id, self.recorded_at)
    }
}

/// Counts a new subject of `agent` recorded at `recorded_at` and returns how many the agent
/// created in the window before it. The window is kept as `NEW_SUBJECT_BUCKETS` counters of
/// `window / NEW_SUBJECT_BUCKETS` each (keyed by bucket number), so one check is
/// `NEW_SUBJECT_BUCKETS` point reads whatever the limit; the window is therefore sliding to
/// within one bucket. Point reads, not a range scan: a range scan walked every version of a
/// counter still in the write table (the top of a cluster follower's profile at 5,000
/// writes/s; docs/benchmarks.md, "Cluster mode"). Each bucket is read once per agent: the
/// counts are then kept in `NewSubjectWindows` (its invariant in `cache.rs`).
fn count_new_subject(
    shared: &Shared,
    agent: &str,
    recorded_at: Timestamp,
) -> Result<u64, StoreError> {
    let window_us = (shared.policy().new_subjects_window_ms.max(1) as i64).saturating_mul(1000);
    let bucket_us = (window_us / NEW_SUBJECT_BUCKETS).max(1);
    let bucket = (recorded_at.micros() / bucket_us).max(0) as u64;
    let first = bucket.saturating_sub(NEW_SUBJECT_BUCKETS as u64 - 1);
    let mut windows = shared.new_subject_windows()?;
    let mut known: Vec<(u64, u64)> = windows.get(agent).to_vec();
    for b in first..=bucket {
        if !known.iter().any(|&(k, _)| k == b) {
            known.push((b, count_read(shared, &windows, agent, b)?));
        }
    }
    let before: u64 = known
        .iter()
        .filter(|&&(b, _)| (first..=bucket).contains(&b))
        .map(|&(_, count)| count)
        .sum();
    let mut current = 0;
    for (b, count) in known.iter_mut() {
        if *b == bucket {
            *count += 1;
            current = *count;
        }
    }
    windows.put(agent, known);
    windows.set_unsaved(agent.to_owned(), bucket, current);
    Ok(before)
}

/// `agent`'s count in `bucket`: the unsaved one, else the truth keyspace's.
fn count_read(
    shared: &Shared,
    windows: &NewSubjectWindows,
    agent: &str,
    bucket: u64,
) -> Result<u64, StoreError> {
    if let Some(count) = windows.unsaved(agent, bucket) {
        return Ok(count);
    }
    let key = name_key(TAG_NEW_SUBJECT, agent, bucket);
    match shared.ks().truth.get(key)? {
        Some(value) => decode_seq(&value, "truth/new_subjects"),
        None => Ok(0),
    }
}

/// Writes the counts into `batch`, which derives up to `derived_upto`, once `SAVE_RECORDS`
/// records have been derived since the last save.
pub(super) fn save_counts_if_due(
    shared: &Shared,
    batch: &mut OwnedWriteBatch,
    derived_upto: u64,
) -> Result<(), StoreError> {
    let mut windows = shared.new_subject_windows()?;
    windows.note_derived(derived_upto);
    if derived_upto.saturating_sub(windows.saved_upto()) >= SAVE_RECORDS {
        write_counts(shared, &mut windows, batch, derived_upto);
    }
    Ok(())
}

/// Saves the counts of every record derived so far, in a commit of its own (synced by the
/// caller): the writer stopping, or an open done deriving. Writes nothing when the saved
/// counts already cover every derived record (so an open of a store stopped cleanly, `check`'s
/// too, writes nothing here), and never claims a sequence the derived state does not reach.
pub(crate) fn save_counts(shared: &Shared) -> Result<(), StoreError> {
    let mut windows = shared.new_subject_windows()?;
    let Some(derived_upto) = windows.unsaved_upto() else {
        return Ok(());
    };
    let mut batch = shared.batch();
    write_counts(shared, &mut windows, &mut batch, derived_upto);
    Ok(batch.commit()?)
}

fn write_counts(
    shared: &Shared,
    windows: &mut NewSubjectWindows,
    batch: &mut OwnedWriteBatch,
    derived_upto: u64,
) {
    for ((agent, bucket), count) in windows.take_unsaved(derived_upto) {
        batch.insert(
            &shared.ks().truth,
            name_key(TAG_NEW_SUBJECT, &agent, bucket),
            count.to_be_bytes(),
        );
    }
    batch.insert(
        &shared.ks().meta,
        META_NEW_SUBJECTS_SAVED,
        derived_upto.to_be_bytes(),
    );
}

/// Whether a store writes the counts: at the end of its open, the saved sequence a store
/// without one gets, and when its writer stops. A store opened only to report (`check`) writes
/// nothing (`store.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountsAtOpen {
    Save,
    Leave,
}

impl CountsAtOpen {
    /// What a store opened under `policy` does with the counts.
    pub(crate) fn for_policy(policy: crate::AckLossPolicy) -> CountsAtOpen {
        match policy {
            crate::AckLossPolicy::Report => CountsAtOpen::Leave,
            _ => CountsAtOpen::Save,
        }
    }
}

/// At open, after the in-memory views are loaded: counts again the new subjects of the
/// records derived after the last save (`last_derived` is the derived state's end), which
/// a crash left unsaved.
pub(super) fn replay_counts(
    shared: &Shared,
    last_derived: u64,
    counts: CountsAtOpen,
) -> Result<(), StoreError> {
    let saved = match shared.ks().meta.get(META_NEW_SUBJECTS_SAVED)? {
        Some(v) => decode_seq(&v, "meta/new_subjects_saved_sequence")?,
        // A new store, or one from before the counts were saved this way (which saved them at
        // every commit): they cover the derived state. Said on disk now, once, since from here
        // on the counts are saved only now and then (synced by `recover`).
        None => {
            if counts == CountsAtOpen::Save {
                shared
                    .ks()
                    .meta
                    .insert(META_NEW_SUBJECTS_SAVED, last_derived.to_be_bytes())?;
            }
            last_derived
        }
    };
    // The counts are saved in a batch that derives at least as far. Read from disk, so a
    // violation is damage to report, not a bug to assert.
    if saved > last_derived {
        return Err(StoreError::CorruptMeta {
            key: "new_subjects_saved_sequence",
            reason: format!("{saved} is above last_derived_sequence {last_derived}"),
        });
    }
    {
        let mut windows = shared.new_subject_windows()?;
        windows.take_unsaved(saved);
        windows.note_derived(last_derived);
    }
    for seq in saved + 1..=last_derived {
        let Some((stored, record)) = readable_record(shared, seq)? else {
            continue;
        };
        let body = &record.body;
        if body.control.is_some() {
            continue;
        }
        let key = name_key(TAG_FIRST_SEEN, &body.subject, 0);
        let Some(value) = shared.ks().truth.get(key)? else {
            continue;
        };
        if decode_first_seen(&value)? == (seq, true) {
            count_new_subject(shared, &body.agent_id, stored.recorded_at)?;
        }
    }
    Ok(())
}

/// The record at `seq` and its assertion, or `None` when its bytes are damaged. A damaged
/// record is not counted again: the open goes on, as it would have had the counts been saved
/// past it, and the damage stays named where the record is read (`check`, a query). Refusing
/// here would keep a server from starting, and `check` from reporting, over one record after
/// a crash; skipping it costs at most one count in its agent's window, for one window.
fn readable_record(
    shared: &Shared,
    seq: u64,
) -> Result<Option<(crate::codec::StoredRecord, stemedb_core::SignedAssertion)>, StoreError> {
    let read = shared
        .read_record(seq)
        .and_then(|stored| stored.parse().map(|record| (stored, record)));
    match read {
        Ok(pair) => Ok(Some(pair)),
        Err(StoreError::CorruptRecord { .. } | StoreError::Damaged { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
