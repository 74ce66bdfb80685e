//! For each slot of groups, the last sequence of a commit that added a record to one of them
//! (`GroupMarks`): how a reader learns, without reading a group's summary, that the group has
//! not changed since some sequence.
//!
//! Why: a winner answer kept by `stemedb`'s `answers.rs` is valid while its group has gained
//! no record. Checking that through the group's summary (the reader cache's lock, a hash of
//! the key, a copy of the sequences) was about half of a kept answer's own cost
//! (docs/benchmarks.md, "Thirty-second session"); one atomic load of a mark answers it for
//! groups whose slot no commit has touched since.
//!
//! Invariant: once a reader has read the durable sequence `D`, the mark of a group's slot is at
//! least the last sequence `≤ D` of every commit that added a record to that group. It holds
//! because the writer raises the marks of every group a commit changed after the commit is
//! durable and before it publishes the new durable sequence (`writer/commit.rs`, with release
//! ordering), and a reader loads the durable sequence (acquire) before the mark. A mark may be
//! higher than that (a commit not yet published, or another group of the slot): a reader then
//! only does more work. The marks live in the engine's slot, so a reopened engine keeps them.
//! Records reach groups outside the writer's commit in two ways: an engine reopened after a
//! failed commit may bring that commit's records back from its journal, and the reopen raises
//! every mark to its durable sequence (`raise_all`) before it publishes it; a restore fills
//! only an empty store, before any answer was kept from it (and a rebuild adds no record),
//! and both void every kept answer through `AnswersVersion::rebuilds` too.
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots of groups: 512 KiB of marks. More slots, fewer groups share a mark, so fewer
/// answers are checked the long way while other groups are written.
const SLOTS: usize = 1 << 16;

/// Which mark a group (`subject 0x00 predicate 0x00`) shares with the other groups of its
/// slot. Public for tests that need two groups sharing one (a write to either sends a reader
/// of the other's kept answer the long way).
pub fn group_mark_slot(group: &[u8]) -> usize {
    // A collision only costs a reader the long way, never a wrong answer.
    (crate::keys::fnv1a(group) % SLOTS as u64) as usize
}

pub(crate) struct GroupMarks {
    slots: Box<[AtomicU64]>,
    /// A mark under every slot: raised for records that came back without the writer's
    /// commit (an engine reopened after a failed one, whose journal held them).
    floor: AtomicU64,
}

impl GroupMarks {
    pub(crate) fn new() -> GroupMarks {
        GroupMarks {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            floor: AtomicU64::new(0),
        }
    }

    fn slot(&self, group: &[u8]) -> Option<&AtomicU64> {
        self.slots.get(group_mark_slot(group))
    }

    /// Raises the marks of `groups`, changed by a durable commit whose last sequence is
    /// `durable`; the writer calls it before it publishes `durable`.
    pub(crate) fn raise<'a>(&self, groups: impl Iterator<Item = &'a [u8]>, durable: u64) {
        for group in groups {
            if let Some(mark) = self.slot(group) {
                mark.fetch_max(durable, Ordering::Release);
            }
        }
    }

    /// Raises every mark to `durable`: records up to it may have come to any group without
    /// a commit that named them (an engine reopened with what its journal held). Called
    /// before `durable` is published.
    pub(crate) fn raise_all(&self, durable: u64) {
        self.floor.fetch_max(durable, Ordering::Release);
    }

    /// The mark of `group`'s slot (see the invariant).
    pub(crate) fn changed_through(&self, group: &[u8]) -> u64 {
        let floor = self.floor.load(Ordering::Acquire);
        self.slot(group)
            .map_or(u64::MAX, |mark| mark.load(Ordering::Acquire).max(floor))
    }
}

#[cfg(test)]
mod tests {
    use super::GroupMarks;

    /// Raises `(group, durable)` in order, then each group's mark must be at least `want`
    /// (another group of its slot may have raised it further).
    #[rustfmt::skip]
    fn check(name: &str, raises: &[(&[u8], u64)], want: &[(&[u8], u64)]) {
        let marks = GroupMarks::new();
        for (group, durable) in raises {
            marks.raise([*group].into_iter(), *durable);
        }
        for (group, at_least) in want {
            assert!(marks.changed_through(group) >= *at_least, "{name}: {group:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn marks_hold_the_last_commit_of_each_group() {
        check("untouched", &[], &[(b"s\0p\0", 0)]);
        check("raised", &[(b"s\0p\0", 7)], &[(b"s\0p\0", 7)]);
        check("never lowered", &[(b"s\0p\0", 9), (b"s\0p\0", 4)], &[(b"s\0p\0", 9)]);
        check("each group its own", &[(b"a\0p\0", 3), (b"b\0p\0", 5)], &[(b"a\0p\0", 3), (b"b\0p\0", 5)]);
    }

    /// `raise_all` lifts every group's mark, and a later raise of one group goes above it.
    #[test]
    fn a_floor_lifts_every_mark() {
        let marks = GroupMarks::new();
        marks.raise([&b"a\0p\0"[..]].into_iter(), 3);
        marks.raise_all(10);
        assert_eq!(marks.changed_through(b"a\0p\0"), 10);
        assert_eq!(marks.changed_through(b"never\0written\0"), 10);
        marks.raise([&b"a\0p\0"[..]].into_iter(), 12);
        assert_eq!(marks.changed_through(b"a\0p\0"), 12);
    }

    /// The marks are not all one: a group another commit never touched keeps a low mark.
    #[test]
    fn groups_spread_over_slots() {
        let marks = GroupMarks::new();
        let groups: Vec<Vec<u8>> = (0..1000)
            .map(|i| format!("s{i}\0p\0").into_bytes())
            .collect();
        marks.raise(groups.iter().take(1).map(Vec::as_slice), 100);
        let untouched = groups
            .iter()
            .filter(|g| marks.changed_through(g) == 0)
            .count();
        assert!(
            untouched >= 990,
            "only {untouched} of 999 groups kept a mark of 0"
        );
    }
}
