//! What this node's applier has done, shared with the writers waiting on it: the last stream
//! sequence applied (a watch channel, so a writer can wait for it) and the outcome of each
//! recent entry, kept for the writer that published it; and what went wrong on the way, for
//! health: consumers made again after an error, entries refused.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stemedb::AppendOutcome;
use stemedb::core::Timestamp;
use stemedb_wire::{ClusterConsumerError, ClusterRefusedEntry};
use tokio::sync::watch;

/// Outcomes kept for waiting writers. A writer looks its outcome up right after the applier
/// passes its entry, so only a backlog far larger than any wait bound can push one out; it is
/// then read back from the store instead.
const OUTCOMES_MAX: usize = 65_536;

/// The most of an error's text health carries (an error is a line, not a dump).
const ERROR_CHARS_MAX: usize = 500;

/// How often something went wrong since the node started, and the last time's details with
/// the monotonic time to order them by (the wall clock in the details may step back).
#[derive(Clone, Debug)]
pub struct Tally<T> {
    pub count: u64,
    pub last: Option<(Instant, T)>,
}

impl<T> Default for Tally<T> {
    fn default() -> Self {
        Tally {
            count: 0,
            last: None,
        }
    }
}

impl<T: Clone> Tally<T> {
    fn note(tally: &Mutex<Tally<T>>, what: T) {
        if let Ok(mut tally) = tally.lock() {
            tally.count += 1;
            tally.last = Some((Instant::now(), what));
        }
    }

    fn read(tally: &Mutex<Tally<T>>) -> Tally<T> {
        tally.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// The two tallies summed, with the later of their last details.
    pub fn join(self, other: Tally<T>) -> (u64, Option<T>) {
        let last = self
            .last
            .into_iter()
            .chain(other.last)
            .max_by_key(|(at, _)| *at)
            .map(|(_, what)| what);
        (self.count + other.count, last)
    }
}

/// An error's text as health carries it: a line, not a dump.
fn error_line(error: &str) -> String {
    error.chars().take(ERROR_CHARS_MAX).collect()
}

/// An entry's outcome: one per record it carried (none when this node refused the entry).
pub type EntryOutcome = Vec<AppendOutcome>;

pub struct Progress {
    applied: watch::Sender<u64>,
    outcomes: Mutex<BTreeMap<u64, EntryOutcome>>,
    /// Why the applier stopped for good (a gap the stream can no longer fill), if it did.
    failed: Mutex<Option<String>>,
    /// Consumers made again after an error, and the last error (health shows both).
    restarts: Mutex<Tally<ClusterConsumerError>>,
    /// Entries refused (their tag, their layout, a body), and the last one.
    refusals: Mutex<Tally<ClusterRefusedEntry>>,
}

impl Progress {
    /// Starts from the stream sequence the store has applied.
    pub fn new(applied: u64) -> Progress {
        Progress {
            applied: watch::Sender::new(applied),
            outcomes: Mutex::new(BTreeMap::new()),
            failed: Mutex::new(None),
            restarts: Mutex::default(),
            refusals: Mutex::default(),
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

    /// Counts a consumer of `stream` made again after `error` at `at_micros` (Unix, this
    /// node's clock): in the metric, so that one failing over and over (the stream's messages
    /// unreadable, not only a NATS restart) shows on a dashboard, and in health, by name.
    pub fn consumer_restarted(&self, stream: &'static str, error: &str, at_micros: i64) {
        metrics::counter!("stemedb_replication_consumer_restarts_total", "stream" => stream)
            .increment(1);
        let error = ClusterConsumerError {
            stream: stream.into(),
            error: error_line(error),
            at: Timestamp::from_micros(at_micros).to_rfc3339(),
        };
        Tally::note(&self.restarts, error);
    }

    /// Consumers made again after an error so far, and the last error.
    pub fn consumer_restarts(&self) -> Tally<ClusterConsumerError> {
        Tally::read(&self.restarts)
    }

    /// Counts the entry at `stream_sequence` of `stream` refused as `kind` for `error` at
    /// `at_micros`: in `stemedb_replication_entries_refused_total{kind}`, and in health. Every
    /// node refuses the same entry the same way (the entry keeps no record), so replicas stay
    /// equal; health shows an operator that something without the cluster's key writes to it.
    pub fn entry_refused(
        &self,
        stream: &'static str,
        stream_sequence: u64,
        kind: &'static str,
        error: &str,
        at_micros: i64,
    ) {
        metrics::counter!("stemedb_replication_entries_refused_total", "kind" => kind).increment(1);
        let refused = ClusterRefusedEntry {
            stream: stream.into(),
            stream_sequence,
            kind: kind.into(),
            error: error_line(error),
            at: Timestamp::from_micros(at_micros).to_rfc3339(),
        };
        Tally::note(&self.refusals, refused);
    }

    /// Entries refused so far, and the last one.
    pub fn entries_refused(&self) -> Tally<ClusterRefusedEntry> {
        Tally::read(&self.refusals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After each restart in turn: the count, and the last error's stream and text.
    fn check(restarts: &[(&'static str, &str, i64)], count: u64, last: Option<(&str, &str)>) {
        let progress = Progress::new(0);
        for (stream, error, at_micros) in restarts {
            progress.consumer_restarted(stream, error, *at_micros);
        }
        let (got_count, got_last) = progress.consumer_restarts().join(Tally::default());
        assert_eq!(got_count, count, "{restarts:?}");
        let got_last = got_last.map(|l| (l.stream, l.error, l.at));
        let expected = last.map(|(stream, error)| {
            let at_micros = restarts.last().map_or(0, |r| r.2);
            let at = Timestamp::from_micros(at_micros).to_rfc3339();
            (stream.to_owned(), error.to_owned(), at)
        });
        assert_eq!(got_last, expected, "{restarts:?}");
    }

    #[test]
    fn consumer_restarts_are_counted_and_the_last_error_named() {
        let long = "x".repeat(ERROR_CHARS_MAX + 10);
        check(&[], 0, None);
        check(&[("log", "timed out", 5)], 1, Some(("log", "timed out")));
        check(
            &[("log", "timed out", 5), ("admin", "no responders", 9)],
            2,
            Some(("admin", "no responders")),
        );
        check(
            &[("log", &long, 1)],
            1,
            Some(("log", &long[..ERROR_CHARS_MAX])),
        );
    }

    #[test]
    fn two_tallies_join_with_the_later_last_details() {
        let (log, admin) = (Progress::new(0), Progress::new(0));
        log.entry_refused("log", 7, "malformed", "a short frame", 1);
        admin.entry_refused("admin", 3, "unauthenticated_admin", "its tag", 2);
        let (count, last) = log.entries_refused().join(admin.entries_refused());
        assert_eq!(count, 2);
        assert_eq!(
            last.map(|l| (l.stream, l.stream_sequence)),
            Some(("admin".into(), 3))
        );
        log.entry_refused("log", 9, "unauthenticated", "its tag", 0);
        let (count, last) = admin.entries_refused().join(log.entries_refused());
        assert_eq!(count, 3);
        assert_eq!(
            last.map(|l| (l.stream, l.kind)),
            Some(("log".into(), "unauthenticated".into())),
            "the later by the monotonic clock, not by the wall clock's 0"
        );
    }
}
