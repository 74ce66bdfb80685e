//! `Db` settings, each with its default, and the system clock.
use std::time::{SystemTime, UNIX_EPOCH};

use stemedb_core::{Clock, Limits, Timestamp};
use stemedb_store::TruthPolicy;

use crate::DbError;

#[derive(Debug, Clone)]
pub struct DbConfig {
    /// Field limits of the assertion contract.
    pub limits: Limits,
    /// How far ahead of the server clock a `timestamp` may be (default 5 minutes).
    pub future_skew_ms: i64,
    /// Most assertions in one batch request (default 10,000).
    pub batch_len_max: usize,
    /// Groups per query page when `limit` is absent (default 100).
    pub query_groups_default: usize,
    /// Largest `limit` a query may ask for (default 1,000).
    pub query_groups_max: usize,
    /// Assertions per group page when `assertions_limit` is absent (default 100).
    pub query_assertions_default: usize,
    /// Largest `assertions_limit` a query may ask for (default 1,000).
    pub query_assertions_max: usize,
    /// Queries, skeptic reports and audit exports running at once; more wait (until their
    /// deadline) for a slot, which bounds the memory concurrent reads of large groups hold
    /// (default: 2 × the cores, at least 4).
    pub reads_concurrent_max: usize,
    /// Most records one group commit holds (default 20,000).
    pub group_records_max: usize,
    /// Storage caches: a quarter for records' lens fields by group (`views.rs`), a quarter for
    /// decoded log records, half for the engine's block cache, up to a tenth more for group
    /// summaries and an eighth more for winner answers (default a quarter of the memory this process may use, at least
    /// 16 MiB; 512 MiB where that cannot be read: `crate::memory`): a cap, filled only by
    /// blocks that are read, so an idle server costs no more with it. A cache that holds the
    /// working set kept a winner query's cost at 1.15× from 1 M to 10 M stored, against 1.8×
    /// with 512 MiB (docs/benchmarks.md, "Tenth session").
    pub cache_bytes: u64,
    /// Journal kept before memtables are flushed (default and minimum 64 MiB); bounds the
    /// replay after a crash.
    pub journal_bytes_max: u64,
    /// Trust chains and quarantine rules (docs/truth.md).
    pub policy: TruthPolicy,
    /// Deepest derived_from chain a provenance answer follows (default 16).
    pub provenance_depth_max: usize,
    /// Records one provenance answer lists, its nodes and its sources' describing records
    /// together (default 10,000): past it the walk stops and the nodes it did not finish say
    /// `truncated`. A source described by many records, cited by many nodes, made one request
    /// read and verify them all once for every citation.
    pub provenance_records_max: usize,
    /// Conflict score above which the skeptic calls a group disputed (default 0.3).
    pub disputed_score_min: f64,
    /// Relative distance from the weighted median beyond which a numeric value is an outlier
    /// (default 0.5, i.e. 50 %).
    pub outlier_distance_min: f64,
    /// Most records (assertions and dependencies) one audit export holds (default 200,000; the
    /// export is built in memory, about 600 bytes per record).
    pub audit_records_max: usize,
    /// The evidence lens's settings (docs/lenses.md §Evidence): its prior, rounds, and the
    /// copy search's window and limits (`copy_claimants_max`, `copy_pairs_max`).
    pub evidence: stemedb_lens::EvidenceParams,
    /// Reliability tables of past bounds kept in memory (default 4; each about 100 bytes per
    /// agent, made by a pass over the store).
    pub reliability_past_tables_max: usize,
    /// Derive all truth-maintenance state again from the log at open (default false).
    pub rederive_truth: bool,
    /// Derive at open the records stored but not yet derived (default true; false only for an
    /// open that rebuilds every index and derives everything again: `rebuild-indexes`).
    pub derive_at_open: bool,
    /// Free space the data directory's filesystem must keep; below it writes are refused
    /// (507) until space returns (default 64 MiB; 0 turns the check off).
    pub disk_free_min_bytes: u64,
    /// Fault injection, for tests only: after this many successful group commits every fsync
    /// fails (default none).
    pub fail_fsync_after_commits: Option<u64>,
    /// Fault injection, for tests only: called after every durable sync (default none).
    pub after_sync: Option<stemedb_store::SyncHook>,
    /// What opening does when acknowledged records are missing (default: refuse, naming them;
    /// `stemedb check` reports; `stemedb check --accept-loss` accepts).
    pub acknowledged_loss: stemedb_store::AckLossPolicy,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            future_skew_ms: 5 * 60 * 1000,
            batch_len_max: 10_000,
            query_groups_default: 100,
            query_groups_max: 1_000,
            query_assertions_default: 100,
            query_assertions_max: 1_000,
            reads_concurrent_max: std::thread::available_parallelism()
                .map_or(4, |n| (2 * n.get()).max(4)),
            group_records_max: 20_000,
            cache_bytes: crate::memory::cache_bytes_for_memory(crate::memory::memory_limit_bytes()),
            journal_bytes_max: 64 * 1024 * 1024,
            policy: TruthPolicy::default(),
            provenance_depth_max: 16,
            provenance_records_max: 10_000,
            disputed_score_min: 0.3,
            outlier_distance_min: 0.5,
            audit_records_max: 200_000,
            evidence: stemedb_lens::EvidenceParams::default(),
            reliability_past_tables_max: 4,
            rederive_truth: false,
            derive_at_open: true,
            disk_free_min_bytes: 64 * 1024 * 1024,
            fail_fsync_after_commits: None,
            acknowledged_loss: stemedb_store::AckLossPolicy::Refuse,
            after_sync: None,
        }
    }
}

impl DbConfig {
    /// Refuses settings outside their meaningful range, naming the setting.
    pub fn check(&self) -> Result<(), DbError> {
        let unit = |name: &'static str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(DbError::Invalid(stemedb_core::ValidationError::new(
                    name,
                    "unit_interval",
                    format!("must be in [0, 1]; got {v}"),
                )))
            }
        };
        unit("trust_default", self.policy.trust.default_trust)?;
        unit("trust_decay", self.policy.trust.decay)?;
        unit("quarantine_trust_min", self.policy.quarantine_trust_min)?;
        unit(
            "quarantine_gold_tolerance",
            self.policy.gold_number_tolerance,
        )?;
        unit("disputed_score_min", self.disputed_score_min)?;
        if self.journal_bytes_max < stemedb_store::JOURNAL_BYTES_MIN {
            return Err(DbError::Invalid(stemedb_core::ValidationError::new(
                "journal_bytes_max",
                "range",
                format!(
                    "must be at least {} (64 MiB, the storage engine's minimum)",
                    stemedb_store::JOURNAL_BYTES_MIN
                ),
            )));
        }
        if self.policy.trust.hops_max == 0 || self.policy.trust.hops_max > 64 {
            return Err(DbError::Invalid(stemedb_core::ValidationError::new(
                "trust_hops_max",
                "range",
                "must be 1 to 64",
            )));
        }
        Ok(())
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        Timestamp::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}
