//! `stemedb check` on the `groups` keyspace and `by_subject` when the summaries are whole
//! (format 5; the invariant is in `groups.rs`): each ordinary record must be listed by its
//! group's summary, or, for a large group, keyed in `by_subject`; each summary and each run of
//! `by_subject` keys must agree; and the counts must match, so that nothing lists or keys a
//! record that is not its group's.
use std::collections::HashSet;

use stemedb_core::AssertionBody;

use crate::engine::Shared;
use crate::error::StoreError;
use crate::groups::{GROUP_SEQUENCES_MAX, GroupRuns, Summary, read, show};
use crate::keys::{group_prefix, group_sequence_key};

/// What the log implies for `groups` and `by_subject`, tallied a record at a time.
#[derive(Default)]
pub(super) struct GroupsExpected {
    /// Records whose group's summary lists them.
    pub(super) listed: u64,
    /// Records of large groups: each needs its `by_subject` key.
    pub(super) keyed: u64,
    /// Groups seen: a small one at its first sequence, a large one by name.
    pub(super) groups: u64,
    large: HashSet<Vec<u8>>,
}

impl GroupsExpected {
    /// Checks that the group of the record at `sequence` accounts for it; returns the
    /// `by_subject` key it needs (a large group's record), which the caller looks up.
    pub(super) fn record(
        &mut self,
        shared: &Shared,
        sequence: u64,
        body: &AssertionBody,
        problem: &mut dyn FnMut(String),
    ) -> Option<Vec<u8>> {
        let group = group_prefix(&body.subject, &body.predicate, 8);
        match read(shared, &group) {
            Ok(None) => problem(format!(
                "index groups: no summary for {} (sequence {sequence})",
                show(&group)
            )),
            Ok(Some(Summary::Sequences(seqs))) => {
                self.listed += 1;
                if seqs.first() == Some(&sequence) {
                    self.groups += 1;
                }
                if seqs.binary_search(&sequence).is_err() {
                    problem(format!(
                        "index groups: the summary of {} lacks sequence {sequence}",
                        show(&group)
                    ));
                }
            }
            Ok(Some(Summary::Large)) => {
                self.keyed += 1;
                let key = group_sequence_key(&group, sequence);
                if self.large.insert(group) {
                    self.groups += 1;
                }
                return Some(key);
            }
            Err(e) => problem(format!("{e} (group {}, sequence {sequence})", show(&group))),
        }
        None
    }
}

/// What the summaries and `by_subject` hold.
#[derive(Debug, Default)]
pub(super) struct GroupsFound {
    /// Summaries in `groups`.
    pub(super) summaries: u64,
    /// Sequences the summaries list.
    pub(super) listed: u64,
    /// `by_subject` keys of small groups (left by format 4), each one its summary lists.
    pub(super) small_keys: u64,
}

/// Walks `groups` beside `by_subject`'s runs: names a summary that cannot be decoded, a large
/// one without more than `GROUP_SEQUENCES_MAX` keys, a small one whose keys it does not list,
/// and a run of keys without a summary.
pub(super) fn check_summaries(
    shared: &Shared,
    problem: &mut dyn FnMut(String),
) -> Result<GroupsFound, StoreError> {
    let ks = shared.ks();
    let mut found = GroupsFound::default();
    let mut runs = GroupRuns::new(ks.by_subject.iter()).peekable();
    for guard in ks.groups.iter() {
        let (key, value) = guard.into_inner()?;
        found.summaries += 1;
        // Runs before this summary's key have none.
        let mut run = Vec::new();
        while let Some(next) = runs.next_if(|r| r.as_ref().map_or(true, |(k, _)| **k <= *key)) {
            let (k, seqs) = next?;
            if *k == *key {
                run = seqs;
            } else {
                problem(format!("index groups: no summary for {}", show(&k)));
            }
        }
        match Summary::decode(&value) {
            Ok(Summary::Sequences(seqs)) => {
                found.listed += seqs.len() as u64;
                found.small_keys += run.len() as u64;
                if let Some(s) = run.iter().find(|s| seqs.binary_search(s).is_err()) {
                    problem(format!(
                        "index by_subject: sequence {s} of {}, which its summary does not list",
                        show(&key)
                    ));
                }
            }
            Ok(Summary::Large) if run.len() <= GROUP_SEQUENCES_MAX => problem(format!(
                "index groups: the summary of {} says it is large, but by_subject holds {} of \
                 its records",
                show(&key),
                run.len()
            )),
            Ok(Summary::Large) => {}
            Err(e) => problem(format!("{e} (group {})", show(&key))),
        }
    }
    for next in runs {
        let (k, _) = next?;
        problem(format!("index groups: no summary for {}", show(&k)));
    }
    Ok(found)
}
