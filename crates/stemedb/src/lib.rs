//! The embeddable StemeDB: `Db` ties the model, the store and the lenses together.
//! Ingest (validate, verify, deduplicate, bind agents, append durably) and query (select,
//! time-travel filter, group, rank through a lens). Synchronous; callers on an async runtime
//! run it on blocking threads.
#![forbid(unsafe_code)]

mod answers;
mod audit;
pub mod backup;
mod backup_error;
mod config;
mod cursor;
mod disputed;
mod error;
mod ingest;
pub mod memory;
mod provenance;
mod query;
mod query_metrics;
mod record;
mod reliability;
mod reliability_file;
mod replicate;
mod single;
mod skeptic;
mod slots;
mod truth;
mod views;

use std::path::Path;
use std::sync::Arc;

pub use answers::Render;
pub use audit::AuditSummary;
/// The type of a rendered answer (`Db::query_if_small`).
pub use bytes::Bytes;
pub use config::{DbConfig, SystemClock};
pub use disputed::{DISPUTED_KEPT, DisputedGroup};
pub use error::DbError;
pub use ingest::Ingested;
pub use provenance::{ProvenanceTree, signature_valid};
pub use query::{DEADLINE_EVERY, GroupResult, Query, QueryResult, WinnerTrust, parse_query_time};
pub use record::{ENVELOPE_FIELDS, Lifecycle, RecordView};
pub use reliability::{AgentReliabilityNow, AgentReliabilityView, Lookups, ReliabilityTable};
pub use reliability_file::{RELIABILITY_FILE, ReliabilityAtOpen};
pub use replicate::LogSink;
pub use single::{IngestWait, Prepared, Verified};
pub use skeptic::ReadAt;
pub use stemedb_core as core;
pub use stemedb_lens::LensKind;
pub use stemedb_store::{
    AckLossPolicy, AckedAtOpen, AppendOutcome, Bound, CheckReport, CommitStats, Derived,
    EngineBacklog, QuarantineRule, Role, Stage, StoreError, StreamEntry, SyncHook,
    TRUTH_RULES_VERSION, TruthPolicy, VoteTally, free_bytes, group_mark_slot,
};
pub use truth::{AgentInfo, QuarantinedRecord, RetractionReach};

use stemedb_core::{AssertionId, Clock};
use stemedb_store::{Store, StoreOptions};

/// The on-disk format this build reads and writes.
#[derive(Debug)]
pub struct StoreFormat;

impl StoreFormat {
    pub const VERSION: u32 = stemedb_store::FORMAT_VERSION;
}

/// The part of `cache_bytes` that holds records' lens fields (`views.rs`): one in
/// `VIEW_CACHE_SHARE`. The store has the rest (its record cache, block cache and group
/// summaries: `stemedb-store`'s `engine.rs`). At 10 M stored (3 M groups) the lens fields of
/// every group weigh about 1.5 GB, within a quarter of the default on a 24 GiB machine.
const VIEW_CACHE_SHARE: u64 = 4;

/// The part of `cache_bytes` that holds winner answers (`answers.rs`): up to one in
/// `ANSWER_CACHE_SHARE` more, filled only by the winner queries asked. About 1.5 KB an
/// answer (kept as the response body rendered for it): the 300,000 groups of the PostgreSQL
/// benchmark's store weigh about 450 MB a lens, most of two lenses' worth within an eighth
/// of the default on a 24 GiB machine.
const ANSWER_CACHE_SHARE: u64 = 8;

/// An open StemeDB data directory.
pub struct Db {
    store: Store,
    config: DbConfig,
    clock: Arc<dyn Clock>,
    /// Bounds the reads (queries, skeptic, audit export) running at once.
    read_slots: slots::ReadSlots,
    /// How long opening took: mostly the engine replaying its journal after a crash.
    opened_in: std::time::Duration,
    /// Cluster mode: where appends go instead of the local writer.
    sink: std::sync::OnceLock<Arc<dyn LogSink>>,
    /// The evidence lens's tables of earned accuracy.
    reliability: reliability::ReliabilityCache,
    /// Records' lens fields by group (`views.rs`): a share of `cache_bytes`.
    views: Arc<views::ViewCache>,
    /// Winner answers by group (`answers.rs`): a share of `cache_bytes`.
    answers: answers::AnswerCache,
    /// What the open found of the last reliability table kept (`reliability_file.rs`).
    reliability_at_open: ReliabilityAtOpen,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({:?})", self.store)
    }
}

impl Db {
    /// Opens (or creates) the data directory with the system clock.
    pub fn open(dir: &Path, config: DbConfig) -> Result<Db, DbError> {
        Self::open_with_clock(dir, config, Arc::new(SystemClock))
    }

    /// Opens with an explicit clock (tests pass a fixed one).
    pub fn open_with_clock(
        dir: &Path,
        config: DbConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Db, DbError> {
        let options = StoreOptions {
            group_records_max: config.group_records_max,
            cache_bytes: config.cache_bytes - config.cache_bytes / VIEW_CACHE_SHARE,
            journal_bytes_max: config.journal_bytes_max,
            clock: Arc::clone(&clock),
            policy: config.policy.clone(),
            rederive_truth: config.rederive_truth,
            derive_at_open: config.derive_at_open,
            disk_free_min_bytes: config.disk_free_min_bytes,
            fail_fsync_after_commits: config.fail_fsync_after_commits,
            acknowledged_loss: config.acknowledged_loss,
            after_sync: config.after_sync.clone(),
            fsyncs_done: Arc::default(),
        };
        config.check()?;
        let started = std::time::Instant::now();
        let store = Store::open(dir, options)?;
        let views = Arc::new(views::ViewCache::new(config.cache_bytes / VIEW_CACHE_SHARE));
        let answers = answers::AnswerCache::new(config.cache_bytes / ANSWER_CACHE_SHARE);
        let mut db = Db {
            opened_in: started.elapsed(),
            store,
            read_slots: slots::ReadSlots::new(config.reads_concurrent_max),
            config,
            clock,
            sink: std::sync::OnceLock::new(),
            reliability: reliability::ReliabilityCache::default(),
            views,
            answers,
            reliability_at_open: ReliabilityAtOpen::Missing,
        };
        if db.config.rederive_truth {
            db.forget_kept_reliability()?;
        }
        let (table, found) = db.load_reliability();
        if let Some((table, build)) = table {
            db.start_reliability_from(table, build);
        }
        db.reliability_at_open = found;
        db.opened_in = started.elapsed();
        Ok(db)
    }

    /// What this open found of the last reliability table kept in the data directory: the
    /// evidence lens starts from it, or (refused) from the prior.
    pub fn reliability_at_open(&self) -> &ReliabilityAtOpen {
        &self.reliability_at_open
    }

    /// Now, by the database's clock (the time custodial records are stamped with).
    pub fn now(&self) -> stemedb_core::Timestamp {
        self.clock.now()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    pub fn config(&self) -> &DbConfig {
        &self.config
    }

    /// The record with this id, or `None`.
    pub fn get(&self, id: &AssertionId) -> Result<Option<RecordView>, DbError> {
        self.get_at(id, stemedb_store::Bound::latest())
    }

    /// Number of assertions stored (durably).
    pub fn assertion_count(&self) -> u64 {
        self.store.last_sequence()
    }

    /// Why this open left an older on-disk format as it was (docs/file-format.md, version
    /// 4): the directory serves, but `check` and `rebuild-indexes` are due.
    pub fn format_upgrade_failed(&self) -> Option<&str> {
        self.store.format_upgrade_failed()
    }

    /// Groups whose records' lens fields the readers' view cache holds (`views.rs`).
    pub fn view_cache_groups(&self) -> usize {
        self.views.len()
    }

    /// How long opening this database took (journal replay and truth recovery included).
    pub fn opened_in(&self) -> std::time::Duration {
        self.opened_in
    }

    /// Bytes the engine's journal files hold on disk (allocated, not their preallocated length):
    /// what a crash now would make the next open replay.
    pub fn journal_bytes(&self) -> u64 {
        self.store.journal_bytes()
    }

    /// The engine's background backlog: flushes and compactions it still owes.
    pub fn engine_backlog(&self) -> EngineBacklog {
        self.store.engine_backlog()
    }

    pub fn last_sequence(&self) -> u64 {
        self.store.last_sequence()
    }

    /// Group-commit figures since open.
    pub fn commit_stats(&self) -> CommitStats {
        self.store.commit_stats()
    }

    pub fn disk_bytes(&self) -> u64 {
        self.store.disk_bytes()
    }

    /// The full integrity scan (`stemedb check`): every record's checksum, body, id and
    /// signature, every index entry, and the index counts. `progress(done, total)`.
    pub fn check(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<CheckReport, DbError> {
        Ok(self.store.check(progress)?)
    }

    /// Rebuilds every index and the truth state from the log (`stemedb rebuild-indexes`).
    pub fn rebuild_indexes(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, DbError> {
        self.forget_kept_reliability()?;
        Ok(self.store.rebuild_indexes(progress)?)
    }

    /// Finishes the commits in flight and syncs; later writes fail.
    pub fn close(&self) -> Result<(), DbError> {
        self.store.close().map_err(DbError::from)
    }
}
