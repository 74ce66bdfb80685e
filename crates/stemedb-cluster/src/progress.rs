//! What this node's applier has done, shared with the writers waiting on it: the last stream
//! sequence applied (a watch channel, so a writer can wait for it) and the outcome of each
//! recent entry, kept for the writer that published it.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use stemedb::AppendOutcome;
use tokio::sync::watch;

/// Outcomes kept for waiting writers. A writer looks its outcome up right after the applier
/// passes its entry, so only a backlog far larger than any wait bound can push one out; it is
/// then read back from the store instead.
const OUTCOMES_MAX: usize = 65_536;

/// An entry's outcome: one per record it carried (none when this node refused the entry).
pub type EntryOutcome = Vec<AppendOutcome>;

pub struct Progress {
    applied: watch::Sender<u64>,
    outcomes: Mutex<BTreeMap<u64, EntryOutcome>>,
    /// Why the applier stopped for good (a gap the stream can no longer fill), if it did.
    failed: Mutex<Option<String>>,
}

impl Progress {
    /// Starts from the stream sequence the store has applied.
    pub fn new(applied: u64) -> Progress {
        Progress {
            applied: watch::Sender::new(applied),
            outcomes: Mutex::new(BTreeMap::new()),
            failed: Mutex::new(None),
        }
    }

    /// The last stream sequence applied and durable here.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Records what the applier did with a run of entries ending at `last` (already durable).
    pub fn record(&self, outcomes: Vec<(u64, EntryOutcome)>, last: u64) {
        if let Ok(mut kept) = self.outcomes.lock() {
            kept.extend(outcomes);
            while kept.len() > OUTCOMES_MAX {
                kept.pop_first();
            }
        }
        self.applied.send_if_modified(|applied| {
            let moved = last > *applied;
            *applied = (*applied).max(last);
            moved
        });
    }

    /// The outcome of the entry at `stream_seq`: `None` when it is not kept (never applied
    /// here yet, or pushed out by a large backlog).
    pub fn outcome(&self, stream_seq: u64) -> Option<EntryOutcome> {
        self.outcomes.lock().ok()?.get(&stream_seq).cloned()
    }

    /// Waits until the applier has passed `stream_seq`; false when `wait` ran out first.
    pub async fn wait_applied(&self, stream_seq: u64, wait: Duration) -> bool {
        let mut receiver = self.applied.subscribe();
        let reached = receiver.wait_for(|applied| *applied >= stream_seq);
        matches!(tokio::time::timeout(wait, reached).await, Ok(Ok(_)))
    }

    /// Marks the applier as stopped for good, with the reason operators see in health.
    pub fn fail(&self, reason: String) {
        if let Ok(mut failed) = self.failed.lock() {
            *failed = Some(reason);
        }
    }

    pub fn failure(&self) -> Option<String> {
        self.failed.lock().ok()?.clone()
    }
}
