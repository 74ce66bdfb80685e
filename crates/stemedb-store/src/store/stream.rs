//! Cluster mode's way into the store: entries of a replicated stream, applied in stream order,
//! each record stamped with its entry's publish time, and the stream position recorded in the
//! same atomic batch as the records (docs/cluster.md). A node that applies the same stream
//! therefore holds the same sequences, ids and `recorded_at` as every other node.
use stemedb_core::{SignedAssertion, Timestamp};

use super::Store;
use crate::error::StoreError;
use crate::writer::{AppendOutcome, StreamStamp};

/// One entry of a replicated log, as a node's applier read it.
#[derive(Debug, Clone)]
pub struct StreamEntry {
    /// Its position in the stream; entries are handed over in strictly increasing order,
    /// each once.
    pub stream_seq: u64,
    /// When the stream stored it: its records' `recorded_at` (never lower than the last one
    /// stored), the same on every node.
    pub published_at: Timestamp,
    /// The verified records it carries, in order (a batch travels in chunks); none for an
    /// entry this node refuses to store (it fails its checks), which only moves the stream
    /// position on.
    pub records: Vec<SignedAssertion>,
}

impl Store {
    /// Applies stream entries durably, in order; for each entry, one outcome per record.
    /// Returns once the records and the new stream position are fsynced.
    pub fn append_stream(
        &self,
        entries: Vec<StreamEntry>,
    ) -> Result<Vec<Vec<AppendOutcome>>, StoreError> {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(Vec::new());
        };
        let applied = self.stream_applied();
        let ordered = entries
            .windows(2)
            .all(|w| w[0].stream_seq < w[1].stream_seq);
        if first.stream_seq <= applied || !ordered {
            return Err(StoreError::StreamOutOfOrder {
                applied,
                first: first.stream_seq,
            });
        }
        let (first_stream_seq, last_stream_seq) = (first.stream_seq, last.stream_seq);
        let counts: Vec<usize> = entries.iter().map(|e| e.records.len()).collect();
        let mut records = Vec::with_capacity(counts.iter().sum());
        let mut published_at = Vec::with_capacity(records.capacity());
        for entry in entries {
            published_at.extend(std::iter::repeat_n(entry.published_at, entry.records.len()));
            records.extend(entry.records);
        }
        let stamp = StreamStamp {
            published_at,
            first_stream_seq,
            last_stream_seq,
        };
        let mut outcomes = self.send(records, Some(stamp))?.wait()?.into_iter();
        Ok(counts
            .into_iter()
            .map(|n| outcomes.by_ref().take(n).collect())
            .collect())
    }

    /// The last stream sequence applied and durable (0: none; always 0 outside cluster mode).
    pub fn stream_applied(&self) -> u64 {
        self.slot.stream_applied()
    }
}
