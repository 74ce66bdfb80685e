//! The figures of the group commits since open (`stemedb admin status`) and their Prometheus
//! histograms; the engine's background backlog (`/metrics`).
use std::time::Duration;

/// Running figures of the group commits since open (for `stemedb admin status`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CommitStats {
    pub commits: u64,
    pub records: u64,
    pub last_micros: u64,
    pub total_micros: u64,
    pub max_micros: u64,
    pub fsync_last_micros: u64,
    pub fsync_total_micros: u64,
}

impl CommitStats {
    /// Adds one group commit of `records` records that took `total`, `fsync` of it syncing.
    pub(crate) fn add(&mut self, total: Duration, fsync: Duration, records: usize) {
        let micros = total.as_micros() as u64;
        self.commits += 1;
        self.records += records as u64;
        self.last_micros = micros;
        self.total_micros += micros;
        self.max_micros = self.max_micros.max(micros);
        self.fsync_last_micros = fsync.as_micros() as u64;
        self.fsync_total_micros += fsync.as_micros() as u64;
    }
}

/// Records one group commit in the Prometheus histograms.
pub(crate) fn observe_commit(total: Duration, fsync: Duration, records: usize) {
    metrics::histogram!("stemedb_fsync_latency_seconds").record(fsync.as_secs_f64());
    metrics::histogram!("stemedb_commit_latency_seconds").record(total.as_secs_f64());
    metrics::histogram!("stemedb_commit_batch_size").record(records as f64);
}

/// The engine's background backlog (`Store::engine_backlog`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineBacklog {
    /// Sealed memtables waiting to be written as tables.
    pub flushes_outstanding: usize,
    /// Level-0 tables over all keyspaces, waiting to be compacted into deeper levels.
    pub l0_tables: usize,
    /// Compactions running now.
    pub compactions_active: usize,
}
