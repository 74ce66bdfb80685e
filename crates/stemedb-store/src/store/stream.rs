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
    /// When the stream stored it: the record's `recorded_at` (never lower than the last one
    /// stored), the same on every node.
    pub published_at: Timestamp,
    /// The verified record it carries; `None` for an entry this node refuses to store (it
    /// fails its checks), which only moves the stream position on.
    pub record: Option<SignedAssertion>,
}

impl Store {
    /// Applies stream entries durably, in order; one outcome per entry (`None` for an entry
    /// without a record). Returns once the records and the new stream position are fsynced.
    pub fn append_stream(
        &self,
        entries: Vec<StreamEntry>,
    ) -> Result<Vec<Option<AppendOutcome>>, StoreError> {
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
        let last_stream_seq = last.stream_seq;
        let mut records = Vec::with_capacity(entries.len());
        let mut published_at = Vec::with_capacity(entries.len());
        let has_record: Vec<bool> = entries.iter().map(|e| e.record.is_some()).collect();
        for entry in entries {
            if let Some(record) = entry.record {
                records.push(record);
                published_at.push(entry.published_at);
            }
        }
        let stamp = StreamStamp {
            published_at,
            last_stream_seq,
        };
        let mut outcomes = self.send(records, Some(stamp))?.into_iter();
        Ok(has_record
            .into_iter()
            .map(|has| if has { outcomes.next() } else { None })
            .collect())
    }

    /// The last stream sequence applied and durable (0: none; always 0 outside cluster mode).
    pub fn stream_applied(&self) -> u64 {
        self.slot.stream_applied()
    }
}
