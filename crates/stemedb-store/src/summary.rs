//! What a group's summary in the `groups` keyspace says, and its encoding (the keyspace
//! itself, its invariant and its writers: `groups.rs`). A module of its own so that the
//! engine's reader cache (`group_cache.rs`) can hold summaries without depending on the
//! keyspace's code.
use crate::error::StoreError;

/// The most sequences a summary lists; a larger group's summary is the empty value.
pub(crate) const GROUP_SEQUENCES_MAX: usize = 64;

/// The keyspace named in damage reports.
const INDEX: &str = "groups";

/// What a group's summary says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Summary {
    /// Every sequence of the group, ascending (1 to `GROUP_SEQUENCES_MAX` of them).
    Sequences(Vec<u64>),
    /// More than `GROUP_SEQUENCES_MAX`: read `by_subject`.
    Large,
}

impl Summary {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Summary::Sequences(seqs) => seqs.iter().flat_map(|s| s.to_be_bytes()).collect(),
            Summary::Large => Vec::new(),
        }
    }

    /// Decodes a stored summary, refusing (by name) a length that is not whole sequences, too
    /// many of them, or sequences out of order.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Summary, StoreError> {
        let bad = |reason: String| StoreError::CorruptIndex {
            index: INDEX,
            reason,
        };
        if bytes.is_empty() {
            return Ok(Summary::Large);
        }
        if !bytes.len().is_multiple_of(8) || bytes.len() / 8 > GROUP_SEQUENCES_MAX {
            return Err(bad(format!("a summary of {} bytes", bytes.len())));
        }
        let mut seqs = Vec::with_capacity(bytes.len() / 8);
        for chunk in bytes.chunks_exact(8) {
            let mut be = [0u8; 8];
            be.copy_from_slice(chunk);
            let seq = u64::from_be_bytes(be);
            if seqs.last().is_some_and(|last| *last >= seq) {
                return Err(bad(format!("sequence {seq} out of order in a summary")));
            }
            seqs.push(seq);
        }
        Ok(Summary::Sequences(seqs))
    }

    /// The summary with `sequence` added (the writer adds in ascending order).
    pub(crate) fn with(self, sequence: u64) -> Result<Summary, StoreError> {
        match self {
            Summary::Large => Ok(Summary::Large),
            Summary::Sequences(mut seqs) => {
                if seqs.last().is_some_and(|last| *last >= sequence) {
                    return Err(StoreError::CorruptIndex {
                        index: INDEX,
                        reason: format!("sequence {sequence} added after a later one"),
                    });
                }
                if seqs.len() == GROUP_SEQUENCES_MAX {
                    return Ok(Summary::Large);
                }
                seqs.push(sequence);
                Ok(Summary::Sequences(seqs))
            }
        }
    }
}
