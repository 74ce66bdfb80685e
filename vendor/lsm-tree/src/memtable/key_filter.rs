//! A filter of the user keys in one memtable (a StemeDB patch; vendor/README.md), so that a
//! point read of a key the memtable does not hold usually skips the skiplist search.
//!
//! Invariant: a "no" is never wrong for a reader entitled to see the key. `insert(key)` sets
//! the key's bits before the item goes into the skiplist, on the same thread, and bits are
//! only ever added. A reader is entitled to an item once it has synchronised with its insert:
//! through a sequence number published after the insert (fjall's snapshots and iterators;
//! StemeDB's own durable sequence, which its readers load with acquire ordering), or by having
//! seen the item's skiplist node (a scan, then a point read). Either way the bits, set before,
//! are visible to it. A point read racing the insert may get "absent", which is what it would
//! have read an instant earlier. A "maybe" for an absent key (a few percent at most) costs the
//! search it cost before.

use std::sync::atomic::{AtomicU64, Ordering};

/// Words of a filter: 512 KiB, 4 Mi bits, about 3 % of a 16 MiB memtable. A 16 MiB memtable of
/// ~116-byte items (16 of them the inline head of `head_key.rs`) holds ~145k keys (29 bits a
/// key: about 0.2 % false positives); fjall's default 64 MiB, ~580k keys (7 bits a key: about
/// 5 %). The filter is allocated zeroed when a
/// memtable is created (under the tree's lock, at each rotation: tens of microseconds) and is
/// all resident after a few hundred keys.
const WORDS: usize = 1 << 16;

/// A blocked Bloom filter: each key sets three bits of one 64-bit word, so a check is one
/// memory access.
pub struct KeyFilter {
    words: Box<[AtomicU64]>,
}

impl Default for KeyFilter {
    fn default() -> Self {
        Self {
            words: std::iter::repeat_with(AtomicU64::default)
                .take(WORDS)
                .collect(),
        }
    }
}

impl KeyFilter {
    /// Records `key`; call before the item is visible in the skiplist.
    pub fn insert(&self, key: &[u8]) {
        let (word, mask) = Self::place(key);
        if let Some(word) = self.words.get(word) {
            word.fetch_or(mask, Ordering::Release);
        }
    }

    /// False only when `key` was never inserted.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        let (word, mask) = Self::place(key);
        self.words
            .get(word)
            .is_none_or(|word| word.load(Ordering::Acquire) & mask == mask)
    }

    /// The word a key lives in (the hash's low bits) and its three bits (three 6-bit fields of
    /// the high bits).
    fn place(key: &[u8]) -> (usize, u64) {
        let hash = crate::hash::hash64(key);
        #[expect(clippy::cast_possible_truncation, reason = "masked to WORDS")]
        let word = (hash as usize) & (WORDS - 1);
        let mask = (1u64 << ((hash >> 46) & 63))
            | (1u64 << ((hash >> 52) & 63))
            | (1u64 << ((hash >> 58) & 63));
        (word, mask)
    }
}
