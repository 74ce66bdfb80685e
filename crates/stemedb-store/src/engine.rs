//! The open storage engine (fjall database, keyspaces, and the state derived from them) and
//! the slot that holds it. A background flush that meets a full disk poisons a fjall database
//! for good; the writer then closes it and opens it again from its files once space is back,
//! so that writes resume without a restart (docs/reliability.md, "disk full"). Readers take the
//! engine from the slot per operation; while it is being reopened they wait, briefly.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};

use crate::acked::AckedAtOpen;
use crate::cache::{AgentCounts, AgentKeys, NewSubjectWindows, RecordCache, TruthCache};
use crate::codec::{StoredRecord, decode_record};
use crate::error::StoreError;
use crate::group_cache::GroupCache;
use crate::group_marks::GroupMarks;
use crate::keys::{META_LAST_APPLIED, META_STREAM_APPLIED, decode_seq, seq_key};
use crate::options::{StoreOptions, TruthPolicy};
use crate::stats::{CommitStats, EngineBacklog};

/// The engine's directory inside a data directory.
pub(crate) const ENGINE_DIR: &str = "engine";

/// Longest a reader waits for a reopening engine before `StoreError::Reopening`.
const REOPEN_WAIT_MS: u64 = 10_000;
/// Longest a reopen waits for readers to let go of the old engine.
const READERS_DRAIN_MS: u64 = 30_000;
/// Poll interval of both waits.
const POLL_MS: u64 = 5;

/// The part of `cache_bytes` that holds decoded records (`RecordCache`): one in
/// `RECORD_CACHE_SHARE`; the engine's block cache has the rest. (A `Db` gives the store three
/// quarters of its own `cache_bytes`, so records get a quarter of that, as before the lens
/// fields had a cache of their own; at 10 M stored they hold the groups' winners.)
const RECORD_CACHE_SHARE: u64 = 3;
/// The most of `cache_bytes` that cached group summaries (`GroupCache`) may take: one in
/// `GROUP_CACHE_SHARE`, filled only by what queries read (at 10 M stored, 3 M groups' summaries
/// take about 400 MB, at the edge of the sixteenth they had before).
const GROUP_CACHE_SHARE: u64 = 8;

/// The keyspaces of one data directory.
pub(crate) struct Keyspaces {
    pub meta: Keyspace,
    pub log: Keyspace,
    pub ids: Keyspace,
    pub by_subject: Keyspace,
    pub by_agent: Keyspace,
    pub by_source: Keyspace,
    pub agents: Keyspace,
    pub truth: Keyspace,
    /// Each group's sequences under one key (`groups.rs`).
    pub groups: Keyspace,
}

impl Keyspaces {
    pub(crate) fn all(&self) -> [&Keyspace; 9] {
        self.named().map(|(_, keyspace)| keyspace)
    }

    /// Every keyspace with its name on disk.
    pub(crate) fn named(&self) -> [(&'static str, &Keyspace); 9] {
        [
            ("meta", &self.meta),
            ("log", &self.log),
            ("ids", &self.ids),
            ("by_subject", &self.by_subject),
            ("by_agent", &self.by_agent),
            ("by_source", &self.by_source),
            ("agents", &self.agents),
            ("truth", &self.truth),
            ("groups", &self.groups),
        ]
    }
}

/// The open engine and the state kept beside it, shared by the writer and every reader. Its
/// fields are private: what only the writer may change (`durable_seq`, the commit figures)
/// has a method that says so, and everything else is read through accessors.
pub(crate) struct Shared {
    /// The data directory (for the free-space check).
    dir: PathBuf,
    db: Database,
    ks: Keyspaces,
    /// Highest sequence known durable; readers never see past it. One counter for the life
    /// of the store, handed from an engine to the one that replaces it. Only the writer thread
    /// advances it (`publish_durable`).
    durable_seq: Arc<AtomicU64>,
    /// The sequence of the last record whose derivation may change the answer of a group it
    /// is not in (`may_change_other_groups`: a control record, a `supersedes`, a
    /// `derived_from`). A plain assertion changes only its own group, which a reader sees by
    /// the group's sequences. Readers' caches of answers (`stemedb`'s `answers.rs`) hold an
    /// answer only while this is unchanged. Set by the writer while it derives the record,
    /// before the record is durable and published, so a reader whose bound is below it must
    /// neither keep nor use such an answer. It never goes back.
    answers_changed_at: Arc<AtomicU64>,
    /// Counts the rebuilds of derived state in place (a restore, a rebuild of the indexes, the
    /// engine's reopen after a full disk), which change answers without a record of their
    /// own and can show readers half-built state while they run; bumped once each is done,
    /// so that no answer kept before or during it is used after it.
    answers_rebuilds: Arc<AtomicU64>,
    /// Each slot of groups' last changing commit (see its invariant); handed on likewise.
    group_marks: Arc<GroupMarks>,
    /// See `EngineSlot::group_summaries`; handed on likewise.
    group_summaries: Arc<AtomicBool>,
    /// See `EngineSlot::by_subject_large_only`; handed on likewise.
    by_subject_large_only: Arc<AtomicBool>,
    truth: RwLock<TruthCache>,
    /// Only derivation uses it (see its invariant).
    new_subjects: Mutex<NewSubjectWindows>,
    /// Only the writer's key check, a rebuild and a restore use it (see its invariant).
    agent_keys: Mutex<AgentKeys>,
    /// Readers' counts of each agent's records (see its invariant).
    agent_counts: Mutex<AgentCounts>,
    policy: TruthPolicy,
    /// Only the writer thread adds to it (`add_commit`).
    commit_stats: Mutex<CommitStats>,
    /// The acknowledgement mark and the log's last sequence as found at open (for `check`).
    acked_at_open: AckedAtOpen,
    log_last_at_open: u64,
    /// Decoded log records (see its invariant).
    records: RecordCache,
    /// Group summaries for readers (see its invariant in `group_cache.rs`).
    group_cache: GroupCache,
    /// Bumped by each rebuild of the `groups` keyspace; the writer's `SummaryCache` is dropped
    /// when it sees a new value (see its invariant).
    groups_rebuilds: AtomicU64,
}

impl Shared {
    /// The data directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn ks(&self) -> &Keyspaces {
        &self.ks
    }

    /// A new atomic write batch.
    pub(crate) fn batch(&self) -> OwnedWriteBatch {
        self.db.batch()
    }

    /// Makes everything committed so far durable (journal fsync).
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        Ok(self.db.persist(PersistMode::SyncAll)?)
    }

    /// Bytes the engine uses on disk (0 when unknown).
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }

    /// Flushes and compactions the engine still owes.
    pub(crate) fn engine_backlog(&self) -> EngineBacklog {
        EngineBacklog {
            flushes_outstanding: self.db.outstanding_flushes(),
            l0_tables: self.ks.all().iter().map(|ks| ks.l0_table_count()).sum(),
            compactions_active: self.db.active_compactions(),
        }
    }

    /// Records that the record at `sequence` may change other groups' answers (see the
    /// field; readers read it through `EngineSlot`). Called by
    /// derivation before the record is published, and by a restore.
    pub(crate) fn note_answers_change(&self, sequence: u64) {
        self.answers_changed_at
            .fetch_max(sequence, Ordering::AcqRel);
    }

    /// Voids every answer readers kept (see `answers_rebuilds`); called once derived state
    /// has been rebuilt in place.
    pub(crate) fn note_answers_rebuilt(&self) {
        self.answers_rebuilds.fetch_add(1, Ordering::AcqRel);
    }

    /// Each slot of groups' last changing commit (`group_marks.rs`).
    pub(crate) fn group_marks(&self) -> &GroupMarks {
        &self.group_marks
    }

    /// Whether the `groups` keyspace is whole (`EngineSlot::group_summaries`): readers then
    /// answer groups from it.
    pub(crate) fn group_summaries(&self) -> bool {
        self.group_summaries.load(Ordering::Acquire)
    }

    /// Whether the writer keys only large groups' records in `by_subject`
    /// (`EngineSlot::by_subject_large_only`).
    pub(crate) fn by_subject_large_only(&self) -> bool {
        self.by_subject_large_only.load(Ordering::Acquire)
    }

    /// The highest durable sequence.
    pub(crate) fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// Makes every sequence up to `sequence` visible to readers. Called only by the writer
    /// thread, after the fsync that made them durable and before any waiter is answered (and
    /// by a restore, which stops the writer first). It never goes back.
    pub(crate) fn publish_durable(&self, sequence: u64) {
        let previous = self.durable_seq.load(Ordering::Acquire);
        assert!(sequence >= previous, "the durable sequence never decreases");
        self.durable_seq.store(sequence, Ordering::Release);
    }

    /// The new-subject windows (derivation only).
    pub(crate) fn new_subject_windows(
        &self,
    ) -> Result<MutexGuard<'_, NewSubjectWindows>, StoreError> {
        self.new_subjects
            .lock()
            .map_err(|_| StoreError::ShuttingDown)
    }

    /// How many times `groups` was rebuilt in this engine's life.
    pub(crate) fn groups_rebuilds(&self) -> u64 {
        self.groups_rebuilds.load(Ordering::Acquire)
    }

    /// Group summaries for readers; the writer keeps them current (`write_through`).
    pub(crate) fn group_cache(&self) -> &GroupCache {
        &self.group_cache
    }

    /// Says that `groups` is being rebuilt: what the writer remembers of it is void.
    pub(crate) fn note_groups_rebuild(&self) {
        self.groups_rebuilds.fetch_add(1, Ordering::AcqRel);
    }

    /// The agents' bound keys as far as the writer has read them.
    pub(crate) fn agent_keys(&self) -> Result<MutexGuard<'_, AgentKeys>, StoreError> {
        self.agent_keys.lock().map_err(|_| StoreError::ShuttingDown)
    }

    /// Each agent's record count as readers last made it.
    pub(crate) fn agent_counts(&self) -> Result<MutexGuard<'_, AgentCounts>, StoreError> {
        self.agent_counts
            .lock()
            .map_err(|_| StoreError::ShuttingDown)
    }

    /// The in-memory truth views, for reading.
    pub(crate) fn truth_cache(&self) -> Result<RwLockReadGuard<'_, TruthCache>, StoreError> {
        self.truth.read().map_err(|_| StoreError::ShuttingDown)
    }

    /// The in-memory truth views, for changing: by derivation (writer thread), role grants
    /// and the memo of the latest trust map.
    pub(crate) fn truth_cache_mut(&self) -> Result<RwLockWriteGuard<'_, TruthCache>, StoreError> {
        self.truth.write().map_err(|_| StoreError::ShuttingDown)
    }

    pub(crate) fn policy(&self) -> &TruthPolicy {
        &self.policy
    }

    /// Group-commit figures since open.
    pub(crate) fn commit_stats(&self) -> CommitStats {
        self.commit_stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Adds one group commit to the figures. Called only by the writer thread.
    pub(crate) fn add_commit(&self, total: Duration, fsync: Duration, records: usize) {
        if let Ok(mut stats) = self.commit_stats.lock() {
            stats.add(total, fsync, records);
        }
    }

    pub(crate) fn acked_at_open(&self) -> AckedAtOpen {
        self.acked_at_open
    }

    pub(crate) fn log_last_at_open(&self) -> u64 {
        self.log_last_at_open
    }

    /// The log record at `sequence`, its checksum checked: the one way the store reads the
    /// log. A sequence the log should hold but does not is damage (`CorruptRecord`).
    pub(crate) fn read_record(&self, sequence: u64) -> Result<StoredRecord, StoreError> {
        if let Some(record) = self.records.get(sequence) {
            return Ok(StoredRecord::clone(&record));
        }
        let bytes = self
            .ks
            .log
            .get(seq_key(sequence))?
            .ok_or(StoreError::CorruptRecord {
                sequence,
                reason: "missing from the log".into(),
            })?;
        let record = decode_record(sequence, &bytes)?;
        // Derivation reads the records of the group being committed before they are durable;
        // only durable ones are kept (the cache's invariant).
        if sequence <= self.durable_seq() {
            self.records.insert(Arc::new(record.clone()));
        }
        Ok(record)
    }

    /// Removes every key of a keyspace, in batches.
    pub(crate) fn clear_keyspace(&self, keyspace: &Keyspace) -> Result<(), StoreError> {
        loop {
            let mut batch = self.db.batch();
            for guard in keyspace.iter().take(10_000) {
                batch.remove(keyspace, guard.key()?);
            }
            if batch.is_empty() {
                return Ok(());
            }
            batch.commit()?;
        }
    }
}

/// What every answer rests on besides its own group's records. An answer computed at a bound
/// at or above `changed_at`, for a group whose sequences have not changed since, holds for as
/// long as this is unchanged; one computed at a bound below `changed_at` does not hold at all
/// (that change is not yet visible to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswersVersion {
    /// The sequence of the last record that may have changed the answer of a group it is not
    /// in (a control record, a `supersedes`, a `derived_from`), set while the writer derives
    /// it, before it is durable.
    pub changed_at: u64,
    /// Rebuilds of derived state in place (a restore, a rebuild of the indexes, the engine's
    /// reopen after a full disk), counted once each is done.
    pub rebuilds: u64,
}

/// Holds the open engine. Empty only while the writer reopens it.
pub(crate) struct EngineSlot {
    current: RwLock<Option<Arc<Shared>>>,
    durable_seq: Arc<AtomicU64>,
    /// See `Shared::answers_changed_at`; handed from an engine to the one that replaces it,
    /// as `durable_seq` is, so that it never goes back.
    answers_changed_at: Arc<AtomicU64>,
    /// See `Shared::answers_rebuilds`; handed on likewise.
    answers_rebuilds: Arc<AtomicU64>,
    /// See `Shared::group_marks`; handed on likewise.
    group_marks: Arc<GroupMarks>,
    /// Cluster mode: the last stream sequence applied (0 for a store that never applied a
    /// replicated stream). Only the writer advances it, with the commit that applied it.
    stream_applied: Arc<AtomicU64>,
    /// Whether the `groups` keyspace holds every group (format 4 or 5, or upgraded to 5 at
    /// this open, or rebuilt whole by `rebuild-indexes`). False for an open that reports and
    /// writes nothing (`check`) on a format 3 directory, or one whose upgrade failed: readers
    /// then scan `by_subject`, and `check` leaves `groups` alone.
    group_summaries: Arc<AtomicBool>,
    /// Whether `FORMAT` says 5 (as found, or upgraded at this open, or after a rebuild): only
    /// then does the writer key only large groups' records in `by_subject`. Otherwise it keys
    /// every record, as formats 3 and 4 do, so that a directory still saying 4 (its rewrite
    /// failed) stays what the release before reads.
    by_subject_large_only: Arc<AtomicBool>,
}

impl EngineSlot {
    pub(crate) fn new(durable_seq: u64, stream_applied: u64) -> EngineSlot {
        EngineSlot {
            current: RwLock::new(None),
            durable_seq: Arc::new(AtomicU64::new(durable_seq)),
            // Everything up to the log's end changed before any reader of this open.
            answers_changed_at: Arc::new(AtomicU64::new(durable_seq)),
            answers_rebuilds: Arc::new(AtomicU64::new(0)),
            group_marks: Arc::new(GroupMarks::new()),
            stream_applied: Arc::new(AtomicU64::new(stream_applied)),
            group_summaries: Arc::new(AtomicBool::new(false)),
            by_subject_large_only: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether readers may answer a group from its summary (`groups.rs`).
    pub(crate) fn group_summaries(&self) -> bool {
        self.group_summaries.load(Ordering::Acquire)
    }

    /// Marks the `groups` keyspace whole: at open, or once a rebuild has built it.
    pub(crate) fn set_group_summaries(&self) {
        self.group_summaries.store(true, Ordering::Release);
    }

    /// Marks the directory format 5: the writer keys only large groups in `by_subject`.
    pub(crate) fn set_by_subject_large_only(&self) {
        self.by_subject_large_only.store(true, Ordering::Release);
    }

    /// The last stream sequence applied and durable (cluster mode).
    pub(crate) fn stream_applied(&self) -> u64 {
        self.stream_applied.load(Ordering::Acquire)
    }

    /// The counter the writer advances after each durable commit of a replicated group.
    pub(crate) fn stream_applied_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.stream_applied)
    }

    /// The highest durable sequence, whichever engine is open.
    pub(crate) fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// `Shared::answers_changed_at` and `answers_rebuilds`, whichever engine is open.
    pub(crate) fn answers_version(&self) -> crate::AnswersVersion {
        crate::AnswersVersion {
            rebuilds: self.answers_rebuilds.load(Ordering::Acquire),
            changed_at: self.answers_changed_at.load(Ordering::Acquire),
        }
    }

    /// The mark of `group`'s slot, whichever engine is open (`group_marks.rs`).
    pub(crate) fn group_changed_through(&self, group: &[u8]) -> u64 {
        self.group_marks.changed_through(group)
    }

    pub(crate) fn put(&self, shared: Arc<Shared>) {
        if let Ok(mut current) = self.current.write() {
            *current = Some(shared);
        }
    }

    fn take(&self) -> Option<Arc<Shared>> {
        self.current.write().ok().and_then(|mut c| c.take())
    }

    /// The open engine, waiting up to `REOPEN_WAIT_MS` while it is being reopened.
    pub(crate) fn get(&self) -> Result<Arc<Shared>, StoreError> {
        let deadline = Instant::now() + Duration::from_millis(REOPEN_WAIT_MS);
        loop {
            if let Some(shared) = self.current.read().ok().and_then(|c| c.clone()) {
                return Ok(shared);
            }
            if Instant::now() >= deadline {
                return Err(StoreError::Reopening);
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }
}

/// A freshly opened engine, before it is wrapped with the derived state.
pub(crate) struct Engine {
    /// The data directory (the engine lives in its `engine/`).
    dir: PathBuf,
    db: Database,
    ks: Keyspaces,
    /// `meta/last_applied_sequence`.
    pub(crate) last_applied: u64,
    /// `meta/last_stream_sequence` (0 when absent: never applied a replicated stream).
    pub(crate) stream_applied: u64,
    /// The key of the log's last record.
    pub(crate) log_last: u64,
}

/// Keyspaces that earlier formats had and this one does not (`upgrade_format`).
const RETIRED_KEYSPACES: [&str; 1] = ["by_valid_time"];

impl Engine {
    /// Takes the engine at what its log holds when `meta/last_applied_sequence` claims more
    /// (the log lost records the engine had committed): sets the key back to the log's last
    /// record, durably. Only for an open that accepts a loss (`AckLossPolicy::Accept`), which
    /// then derives the truth state again from the log that is left.
    pub(crate) fn accept_log_end(&mut self) -> Result<(), StoreError> {
        self.ks
            .meta
            .insert(META_LAST_APPLIED, self.log_last.to_be_bytes())?;
        self.db.persist(PersistMode::SyncAll)?;
        self.last_applied = self.log_last;
        Ok(())
    }

    /// Removes the keyspaces of earlier formats, durably.
    pub(crate) fn drop_retired_keyspaces(&self) -> Result<(), StoreError> {
        for name in RETIRED_KEYSPACES {
            if self.db.keyspace_exists(name) {
                let handle = self.db.keyspace(name, KeyspaceCreateOptions::default)?;
                self.db.delete_keyspace(handle)?;
            }
        }
        Ok(self.db.persist(PersistMode::SyncAll)?)
    }

    pub(crate) fn open(dir: &Path, options: &StoreOptions) -> Result<Engine, StoreError> {
        let engine_dir = dir.join(ENGINE_DIR);
        // An I/O error (permissions, a missing mount) is itself the reason; anything else at
        // open means the engine found its files damaged.
        let opening = |source| match source {
            fjall::Error::Io(source) => StoreError::Io {
                path: engine_dir.clone(),
                source,
            },
            source => StoreError::EngineOpen {
                path: engine_dir.clone(),
                source,
            },
        };
        // The journal bound: fjall keeps 512 MiB of journal by default, and this setting was
        // never passed on, so a restart after SIGKILL under ingest replayed up to that much.
        let db = Database::builder(&engine_dir)
            .cache_size(options.cache_bytes - options.cache_bytes / RECORD_CACHE_SHARE)
            .max_journaling_size(
                options
                    .journal_bytes_max
                    .max(crate::options::JOURNAL_BYTES_MIN),
            )
            .open()
            .map_err(opening)?;
        let keyspace = |name: &str| db.keyspace(name, keyspace_options).map_err(opening);
        let ks = Keyspaces {
            meta: keyspace("meta")?,
            log: keyspace("log")?,
            ids: keyspace("ids")?,
            by_subject: db
                .keyspace("by_subject", group_index_options)
                .map_err(opening)?,
            by_agent: keyspace("by_agent")?,
            by_source: keyspace("by_source")?,
            agents: keyspace("agents")?,
            truth: keyspace("truth")?,
            groups: keyspace("groups")?,
        };
        let last_applied =
            read_u64(&ks.meta, META_LAST_APPLIED, "last_applied_sequence")?.unwrap_or(0);
        let stream_applied =
            read_u64(&ks.meta, META_STREAM_APPLIED, "last_stream_sequence")?.unwrap_or(0);
        let log_last = last_log_sequence(&ks.log)?;
        Ok(Engine {
            dir: dir.to_owned(),
            db,
            ks,
            last_applied,
            stream_applied,
            log_last,
        })
    }

    pub(crate) fn into_shared(
        self,
        slot: &EngineSlot,
        options: &StoreOptions,
        acked_at_open: AckedAtOpen,
        commit_stats: CommitStats,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            dir: self.dir,
            db: self.db,
            ks: self.ks,
            durable_seq: Arc::clone(&slot.durable_seq),
            answers_changed_at: Arc::clone(&slot.answers_changed_at),
            answers_rebuilds: Arc::clone(&slot.answers_rebuilds),
            group_marks: Arc::clone(&slot.group_marks),
            group_summaries: Arc::clone(&slot.group_summaries),
            by_subject_large_only: Arc::clone(&slot.by_subject_large_only),
            truth: RwLock::new(TruthCache::default()),
            new_subjects: Mutex::new(NewSubjectWindows::default()),
            agent_keys: Mutex::new(AgentKeys::default()),
            agent_counts: Mutex::new(AgentCounts::default()),
            policy: options.policy.clone(),
            commit_stats: Mutex::new(commit_stats),
            acked_at_open,
            log_last_at_open: self.log_last,
            records: RecordCache::new(options.cache_bytes / RECORD_CACHE_SHARE),
            group_cache: GroupCache::new(options.cache_bytes / GROUP_CACHE_SHARE),
            groups_rebuilds: AtomicU64::new(0),
        })
    }
}

/// Closes `old` and opens the engine again from its files: the writer's way back from a
/// poisoned engine once the disk has room. Waits for readers to let go of `old` (they get the
/// new engine after); what the journal replays is synced, and the durable sequence set to it,
/// never below what it was (an engine holding fewer records is `AcknowledgedLost`).
/// The caller derives what the failed group left underived and then puts the engine in the
/// slot; until then (and on failure) the slot stays empty.
pub(crate) fn reopen(
    slot: &EngineSlot,
    old: Option<Arc<Shared>>,
    dir: &Path,
    options: &StoreOptions,
) -> Result<Arc<Shared>, StoreError> {
    let (mut acked, mut stats) = (AckedAtOpen::Missing, CommitStats::default());
    if let Some(old) = old {
        acked = old.acked_at_open;
        stats = old.commit_stats();
        drop(slot.take());
        let deadline = Instant::now() + Duration::from_millis(READERS_DRAIN_MS);
        while Arc::strong_count(&old) > 1 {
            if Instant::now() >= deadline {
                slot.put(old);
                return Err(StoreError::Reopening);
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
        // The last handle: dropping it closes the poisoned database and its threads.
        drop(old);
    }
    let durable_before = slot.durable_seq.load(Ordering::Acquire);
    let engine = Engine::open(dir, options)?;
    // Readers have seen every sequence up to `durable_before` (and the readers' view cache in
    // `stemedb` keeps what they read, beyond this engine's life): an engine that comes back
    // holding fewer has lost acknowledged records, and the writer would reuse their sequences.
    if engine.last_applied < durable_before {
        return Err(StoreError::AcknowledgedLost {
            path: dir.to_owned(),
            acknowledged: durable_before,
            found: engine.last_applied,
        });
    }
    engine.db.persist(PersistMode::SyncAll)?;
    // The journal may bring back the failed group's records, which raised no group mark and
    // no `answers_changed_at`; readers' kept answers (`stemedb`'s `answers.rs`) are checked by
    // both without the engine, so both rise first, as the writer's commit raises them before
    // it publishes (`group_marks.rs`).
    if engine.last_applied > durable_before {
        slot.group_marks.raise_all(engine.last_applied);
        slot.answers_changed_at
            .fetch_max(engine.last_applied, Ordering::AcqRel);
    }
    slot.durable_seq
        .store(engine.last_applied, Ordering::Release);
    slot.stream_applied
        .store(engine.stream_applied, Ordering::Release);
    Ok(engine.into_shared(slot, options, acked, stats))
}

/// Options for every keyspace (fixed when a data directory is created). Memtables of 16 MiB
/// (fjall's default is 64 MiB) flush sooner, so that the journal a crash leaves behind, and the
/// time a restart spends replaying it, stay small.
fn keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().max_memtable_size(16 * 1024 * 1024)
}

/// Options of `by_subject`, which every query reads by a range scan of one group (a seek in
/// one table of each level): restart points every 2 keys in its data blocks (fjall's default
/// is 10 to 16, which a seek then decodes one by one) and index blocks pinned in memory at
/// every level (by default L0 and L1; from L3 on fjall partitions the index, and pinning does
/// not apply there, so this adds L2's, a few MB at 10 M records, outside `cache_bytes`).
/// Measured on a 1 M store made with each:
/// 7 % less server CPU per winner query (docs/benchmarks.md, "Twelfth session"), 0.6 % more
/// disk. Fixed when the directory is created: stores made before keep fjall's defaults.
fn group_index_options() -> KeyspaceCreateOptions {
    keyspace_options()
        .data_block_restart_interval_policy(fjall::config::RestartIntervalPolicy::all(2))
        .index_block_pinning_policy(fjall::config::PinningPolicy::all(true))
}

/// The sequence of the log's last record (0 when empty).
fn last_log_sequence(log: &Keyspace) -> Result<u64, StoreError> {
    match log.last_key_value() {
        None => Ok(0),
        Some(guard) => decode_seq(&guard.key()?, "log"),
    }
}

fn read_u64(ks: &Keyspace, key: &[u8], name: &'static str) -> Result<Option<u64>, StoreError> {
    match ks.get(key)? {
        None => Ok(None),
        Some(v) => <[u8; 8]>::try_from(&v[..])
            .map(|b| Some(u64::from_be_bytes(b)))
            .map_err(|_| StoreError::CorruptMeta {
                key: name,
                reason: format!("{} bytes", v.len()),
            }),
    }
}
