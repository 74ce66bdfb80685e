//! A memtable's skiplist key: the first 16 bytes of the user key, held inline beside the key
//! (a StemeDB patch; vendor/README.md), so that most comparisons of a skiplist search do not
//! read the user key's bytes.
//!
//! Why: a user key longer than 20 bytes lives out of line, and a `ByteView` holds only its
//! first 4 bytes inline. Keys that share those 4 bytes (`load/…`, `drug/…`, one keyspace's
//! tag) made nearly every comparison load a second, cold cache line.
//!
//! Invariant: `HeadKey`'s order is `InternalKey`'s order. The head is the user key's first 16
//! bytes, zero-padded, read big-endian, and the heads are compared first. If two heads differ,
//! they differ first at some byte i < 16: either both keys have a byte there, and the one with
//! the smaller byte is the smaller key, or one key ended before i (its pad byte 0 against a
//! byte above 0), and a key that is a proper prefix of the other is the smaller one. Either
//! way the heads order the user keys as the keys themselves do. Equal heads fall through to
//! the full comparison (user key, then sequence number descending).

use crate::key::InternalKey;
use std::cmp::Ordering;

/// Bytes of a user key held inline.
const HEAD_BYTES: usize = 16;

/// An `InternalKey` with its user key's first 16 bytes as two big-endian words. Two `u64`s
/// rather than a `u128`, whose 16-byte alignment would pad every skiplist node.
#[derive(Clone)]
pub struct HeadKey {
    head: (u64, u64),
    pub key: InternalKey,
}

impl HeadKey {
    pub fn new(key: InternalKey) -> Self {
        let mut bytes = [0u8; HEAD_BYTES];
        for (slot, byte) in bytes.iter_mut().zip(key.user_key.iter()) {
            *slot = *byte;
        }
        // Unsigned, big-endian: the words compare as the bytes do.
        let head = u128::from_be_bytes(bytes);
        #[expect(clippy::cast_possible_truncation, reason = "the two halves of the head")]
        Self {
            head: ((head >> 64) as u64, head as u64),
            key,
        }
    }

    /// Bytes a skiplist node holds for the head, beyond the `InternalKey`'s.
    pub const EXTRA_BYTES: usize =
        std::mem::size_of::<HeadKey>() - std::mem::size_of::<InternalKey>();
}

impl PartialEq for HeadKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for HeadKey {}

impl PartialOrd for HeadKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HeadKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.head
            .cmp(&other.head)
            .then_with(|| self.key.cmp(&other.key))
    }
}
