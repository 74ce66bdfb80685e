//! Groups under a name prefix (a subject, a subject prefix, every group), in key order, with
//! their sequences: one `groups` key a group, its summary's sequences, and a range scan of
//! `by_subject` only for a group too large for its summary (format 5 keys only those groups'
//! records there). A directory whose summaries are not whole (an older format opened by
//! `check`, or one whose upgrade failed) is walked in `by_subject`, a key a record: the writer
//! then keys every record there (docs/file-format.md).
use fjall::Keyspace;

use crate::engine::Shared;
use crate::error::StoreError;
use crate::keys::GroupKey;
use crate::summary::Summary;

/// A page of groups being filled: stops at `groups_max`, reporting that more follow, and
/// keeps each group's first `sequences_max` sequences (a large group's `by_subject` keys are
/// then read no further: a caller that lists the first few of a subject's records does not read
/// millions).
pub(crate) struct Page {
    pub(crate) groups: Vec<(GroupKey, Vec<u64>)>,
    groups_max: usize,
    sequences_max: usize,
}

impl Page {
    pub(crate) fn new(groups_max: usize, sequences_max: usize) -> Page {
        Page {
            groups: Vec::new(),
            groups_max,
            sequences_max,
        }
    }

    /// Adds sequences of `group` (keys arrive in order; the `by_subject` walk brings a group a
    /// sequence at a time, ascending); `false` once a group past the page's last would start.
    fn push(&mut self, group: GroupKey, sequences: Vec<u64>) -> bool {
        match self.groups.last_mut() {
            Some((last, seqs)) if *last == group => seqs.extend(sequences),
            _ => {
                if self.groups.len() == self.groups_max {
                    return false;
                }
                self.groups.push((group, sequences));
            }
        }
        if let Some((_, seqs)) = self.groups.last_mut() {
            seqs.truncate(self.sequences_max);
        }
        true
    }
}

/// Every sequence (≤ `bound`) of every group under `prefix`, a group after another in key
/// order, each group's ascending: what the truth deriver reads for an epoch or a subject's
/// records. Unlike `Store::scan_groups`, not bounded by the durable sequence, since the writer
/// derives a group commit before publishing it.
pub(crate) fn sequences_under(
    shared: &Shared,
    prefix: &[u8],
    bound: u64,
) -> Result<Vec<u64>, StoreError> {
    let mut page = Page::new(usize::MAX, usize::MAX);
    fill(shared, prefix, None, bound, &|_| true, &mut page)?;
    Ok(page.groups.into_iter().flat_map(|(_, s)| s).collect())
}

/// Fills `page` from `groups` when its summaries are whole (format 5 keys only large groups
/// in `by_subject`), else from `by_subject`, which then holds every record.
pub(crate) fn fill(
    shared: &Shared,
    prefix: &[u8],
    start: Option<&[u8]>,
    bound: u64,
    keep: &dyn Fn(&GroupKey) -> bool,
    page: &mut Page,
) -> Result<bool, StoreError> {
    let ks = shared.ks();
    if shared.group_summaries() {
        let first = FirstSequences {
            bound,
            count_max: page.sequences_max,
        };
        let summary =
            |key: &[u8], value: &[u8]| summary_entry(&ks.by_subject, key, value, keep, first);
        walk(&ks.groups, prefix, start, bound, &summary, page)
    } else {
        let record = |key: &[u8], _: &[u8]| record_entry(key, keep);
        walk(&ks.by_subject, prefix, start, bound, &record, page)
    }
}

/// A key (and value) of a walk read as a group and some of its sequences; `None` for a group
/// the caller does not keep.
type Entry<'a> = dyn Fn(&[u8], &[u8]) -> Result<Option<(GroupKey, Vec<u64>)>, StoreError> + 'a;

/// Walks `keyspace` under `prefix` from `start`, filling `page` with the sequences (≤
/// `bound`) that `entry` reads; returns whether more groups follow the page.
fn walk(
    keyspace: &Keyspace,
    prefix: &[u8],
    start: Option<&[u8]>,
    bound: u64,
    entry: &Entry<'_>,
    page: &mut Page,
) -> Result<bool, StoreError> {
    let iter = match start {
        Some(s) if s > prefix => keyspace.range(s.to_vec()..),
        _ => keyspace.prefix(prefix),
    };
    for guard in iter {
        let (key, value) = guard.into_inner()?;
        if !key.starts_with(prefix) {
            break;
        }
        let Some((group, mut sequences)) = entry(&key, &value)? else {
            continue;
        };
        sequences.retain(|s| *s <= bound);
        if !sequences.is_empty() && !page.push(group, sequences) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Which of a large group's sequences a walk needs: the first `count_max` at or below `bound`.
#[derive(Clone, Copy)]
struct FirstSequences {
    bound: u64,
    count_max: usize,
}

/// A `groups` key and its summary: the group's sequences, from `by_subject` for a large one.
fn summary_entry(
    by_subject: &Keyspace,
    key: &[u8],
    value: &[u8],
    keep: &dyn Fn(&GroupKey) -> bool,
    first: FirstSequences,
) -> Result<Option<(GroupKey, Vec<u64>)>, StoreError> {
    let group = GroupKey::parse_prefix(key)?;
    if !keep(&group) {
        return Ok(None);
    }
    let sequences = match Summary::decode(value)? {
        Summary::Sequences(seqs) => seqs,
        Summary::Large => large_group(by_subject, key, first)?,
    };
    Ok(Some((group, sequences)))
}

/// A `by_subject` key: one record of its group.
fn record_entry(
    key: &[u8],
    keep: &dyn Fn(&GroupKey) -> bool,
) -> Result<Option<(GroupKey, Vec<u64>)>, StoreError> {
    let (group, sequence) = GroupKey::parse(key)?;
    Ok(keep(&group).then(|| (group, vec![sequence])))
}

/// The first sequences (`first`) of the large group whose `by_subject` prefix is `group`, read
/// in key order, which is sequence order (a big-endian sequence ends each key); a damaged key
/// is named as the `by_subject` walk names it.
fn large_group(
    by_subject: &Keyspace,
    group: &[u8],
    first: FirstSequences,
) -> Result<Vec<u64>, StoreError> {
    let mut sequences = Vec::new();
    for guard in by_subject.prefix(group) {
        let (_, sequence) = GroupKey::parse(&guard.key()?)?;
        if sequence > first.bound || sequences.len() == first.count_max {
            break;
        }
        sequences.push(sequence);
    }
    Ok(sequences)
}
