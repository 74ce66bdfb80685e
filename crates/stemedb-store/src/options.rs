//! The settings a store is opened with: the engine's, the writer's, truth maintenance's, and
//! what to do about a lost acknowledged record.
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use stemedb_core::Clock;
use stemedb_lens::TrustParams;

use crate::space::SyncHook;

/// The least `journal_bytes_max` the engine accepts (fjall panics below it).
pub const JOURNAL_BYTES_MIN: u64 = 64 * 1024 * 1024;

/// Settings of the storage engine.
#[derive(Clone)]
pub struct StoreOptions {
    /// Most records one group commit holds; more wait for the next commit.
    pub group_records_max: usize,
    /// Memory for the engine's block cache and the decoded-record cache together (a third to
    /// records: `engine.rs`, `RECORD_CACHE_SHARE`), and the most the group summaries' cache
    /// takes beside them (an eighth, `GROUP_CACHE_SHARE`).
    pub cache_bytes: u64,
    /// Most journal bytes kept before memtables are flushed to tables (at least 64 MiB). This
    /// bounds how much a restart after a crash must replay.
    pub journal_bytes_max: u64,
    /// Source of `recorded_at`.
    pub clock: Arc<dyn Clock>,
    /// Trust and quarantine settings.
    pub policy: TruthPolicy,
    /// Drop the derived truth-maintenance state at open and derive it again from the log
    /// (roles are kept; they are administrator state, not derived).
    pub rederive_truth: bool,
    /// Derive at open the records the log holds beyond the derived state (a crash between a
    /// group's commit and its derivation leaves some). Off only for `rebuild-indexes`, which
    /// derives everything again from the log: a derivation that fails on damaged derived
    /// state must not keep the repair from opening the directory.
    pub derive_at_open: bool,
    /// Free bytes the filesystem must keep; below it group commits are refused with
    /// `DiskFull` (0 turns the check off).
    pub disk_free_min_bytes: u64,
    /// Fault injection for tests: after this many successful group commits, every fsync fails.
    pub fail_fsync_after_commits: Option<u64>,
    /// Fault injection for tests: called after every durable sync (see [`SyncHook`]).
    pub after_sync: Option<SyncHook>,
    /// Counts fsync attempts for the injection above.
    pub fsyncs_done: Arc<AtomicU64>,
    /// What to do when the engine holds fewer records than were acknowledged (`ACKED`).
    pub acknowledged_loss: AckLossPolicy,
}

/// What `Store::open` does when the engine holds fewer records than the acknowledgement mark
/// says were acknowledged, or the mark itself is damaged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AckLossPolicy {
    /// Refuse to open, naming the missing sequences (the server's default).
    #[default]
    Refuse,
    /// Open without touching the mark, so that `check` can name what is missing.
    Report,
    /// Open and set the mark to what the engine holds: an operator's decision to go on
    /// without the lost records (`stemedb check --accept-loss`).
    Accept,
}

/// Content-defence and trust settings the writer applies while deriving.
#[derive(Debug, Clone)]
pub struct TruthPolicy {
    pub trust: TrustParams,
    /// Agents below this trust who contradict a gold standard are quarantined.
    pub quarantine_trust_min: f64,
    /// How far a number may lie from a gold standard and still agree with it: a relative
    /// distance `|a − b| / max(|a|, |b|)` (0 asks for the same number).
    pub gold_number_tolerance: f64,
    /// An agent below `quarantine_trust_min` creating more new subjects than this within the
    /// window is quarantined; 0 turns the rule off.
    pub new_subjects_burst_max: u64,
    pub new_subjects_window_ms: u64,
}

impl Default for TruthPolicy {
    fn default() -> Self {
        Self {
            trust: TrustParams::default(),
            quarantine_trust_min: 0.3,
            gold_number_tolerance: 0.001,
            new_subjects_burst_max: 10_000,
            new_subjects_window_ms: 60_000,
        }
    }
}
