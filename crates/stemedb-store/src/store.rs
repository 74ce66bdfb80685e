//! The `Store`: opening a data directory, the read paths, and the handle to the writer thread.
//! Its reads of truth-maintenance state are in `store/truth.rs`.
mod stream;
mod truth;

pub use stream::StreamEntry;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stemedb_core::{AssertionId, SignedAssertion, Timestamp};

use crate::acked::{ACKED_FILE, AckMark, AckedAtOpen};
use crate::codec::StoredRecord;
use crate::engine::{ENGINE_DIR, Engine, EngineSlot, Shared};
use crate::error::StoreError;
use crate::group_walk::{Page, fill};
use crate::keys::{GroupKey, decode_binding, decode_seq};
use crate::options::{AckLossPolicy, StoreOptions};
use crate::role::Role;
use crate::stats::{CommitStats, EngineBacklog};
use crate::writer::{
    AppendOutcome, AppendWait, Job, StreamStamp, WriterStart, completion, run_writer,
};

/// The on-disk format this build reads and writes (docs/file-format.md).
pub const FORMAT_VERSION: u32 = 5;
/// The earlier formats a build upgrades at open (docs/file-format.md, version history).
const FORMAT_VERSIONS_UPGRADED: [u32; 3] = [2, 3, 4];
/// The first format with the `groups` keyspace.
const FORMAT_GROUPS: u32 = 4;
const FORMAT_FILE: &str = "FORMAT";
const LOCK_FILE: &str = "LOCK";
/// Longest `close` waits for memtable flushes before giving up on them.
const FLUSH_WAIT_MS: u64 = 2_000;

/// Groups found by [`Store::scan_groups`] with their sequences, and whether more follow.
pub type GroupPage = (Vec<(GroupKey, Vec<u64>)>, bool);

pub struct Store {
    /// The open engine; the writer replaces it after a full disk poisoned it.
    slot: Arc<EngineSlot>,
    sender: Mutex<Option<mpsc::SyncSender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
    /// Why this open could not upgrade an older format, if it tried.
    upgrade_failed: Option<String>,
    _lock: File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.dir.display())
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Store {
    /// Opens (or creates) a data directory. Fails if another process holds it, or if it was
    /// written in an unknown format version.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock = lock_dir(dir)?;
        let format = check_or_write_format(dir)?;
        let acked = AckMark::read(dir)?;
        let mut engine = Engine::open(dir, &options)?;
        let found = engine.last_applied.min(engine.log_last);
        let mark = check_acknowledged(
            dir,
            acked,
            engine.last_applied,
            found,
            options.acknowledged_loss,
        )?;
        // The log ends before `last_applied_sequence`: it lost records the engine had committed
        // (an open under `Refuse` has refused above). `check` opens such a directory to name it
        // and derives nothing from records that are gone; `--accept-loss` takes the engine at
        // the log's end and derives the truth state again, which may name lost records.
        let log_short = engine.log_last < engine.last_applied;
        let accept_log_end = log_short && options.acknowledged_loss == AckLossPolicy::Accept;
        if accept_log_end {
            engine.accept_log_end()?;
        }
        // Only a directory that opens cleanly for writing is upgraded: `check` (which opens
        // under `Report` and writes nothing) and a refused open leave an older format as it
        // was, so the release that wrote it can still open it.
        let upgrade =
            format != FORMAT_VERSION && options.acknowledged_loss != AckLossPolicy::Report;
        if upgrade && format == 2 {
            engine.drop_retired_keyspaces()?;
        }
        let slot = Arc::new(EngineSlot::new(engine.last_applied, engine.stream_applied));
        let last = engine.last_applied;
        let shared = engine.into_shared(&slot, &options, acked, CommitStats::default());
        // A build that fails (damage in `by_subject`, a full disk) leaves the old format and
        // the summaries unread, so that the directory still opens: `check` names the damage
        // and `rebuild-indexes` repairs it; the next open builds them again.
        let upgraded = upgrade.then(|| upgrade_format(dir, &shared, format));
        let upgrade_failed = upgraded
            .as_ref()
            .and_then(|r| r.as_ref().err().map(|e| e.to_string()));
        let upgraded_now = matches!(upgraded, Some(Ok(())));
        if format >= FORMAT_GROUPS || upgraded_now {
            slot.set_group_summaries();
        }
        if format == FORMAT_VERSION || upgraded_now {
            slot.set_by_subject_large_only();
        }
        // State derived under older rules is derived again, except by an open that only
        // reports (`check` without `--accept-loss`), which writes nothing; the rules' version is
        // recorded only once the whole log is derived, so a crash in between derives again.
        let rederive = options.rederive_truth
            || accept_log_end
            || (options.acknowledged_loss != AckLossPolicy::Report
                && !crate::truth::rules_are_current(&shared)?);
        if rederive {
            crate::truth::rederive(&shared, last)?;
        } else if options.derive_at_open && !log_short {
            let counts = crate::truth::CountsAtOpen::for_policy(options.acknowledged_loss);
            crate::truth::recover(&shared, last, counts)?;
        } else {
            crate::truth::load(&shared, last.min(found))?;
        }
        // `recorded_at` never decreases, across opens too: the writer starts from the last
        // stored record's, so a clock stepped back (or a restore onto a slower clock) cannot
        // make `known_at` and `restore --to-time` see time run backwards.
        // A store opened to report a loss (`check`) must open even when that record is the
        // damage; it never writes.
        let last_recorded_at = match shared.read_record(found) {
            Ok(record) => record.recorded_at,
            Err(e) if found > 0 && options.acknowledged_loss == AckLossPolicy::Refuse => {
                return Err(e);
            }
            Err(_) => Timestamp::from_micros(i64::MIN),
        };
        let (sender, receiver) = mpsc::sync_channel::<Job>(4096);
        slot.put(Arc::clone(&shared));
        let writer_slot = Arc::clone(&slot);
        let writer = std::thread::Builder::new()
            .name("stemedb-writer".into())
            .spawn(move || {
                let start = WriterStart {
                    mark,
                    last_recorded_at,
                    stream_applied: writer_slot.stream_applied_counter(),
                };
                run_writer(shared, &writer_slot, &receiver, &options, start)
            })
            .map_err(io_err(dir))?;
        Ok(Store {
            slot,
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            dir: dir.to_owned(),
            upgrade_failed,
            _lock: lock,
        })
    }

    /// Appends verified assertions. Returns once the group commit holding them is durable
    /// (fsynced); the outcomes are in input order.
    pub fn append(&self, records: Vec<SignedAssertion>) -> Result<Vec<AppendOutcome>, StoreError> {
        self.send(records, None)?.wait()
    }

    /// Hands verified assertions to the writer and returns at once; the [`AppendWait`]
    /// resolves (awaited, or [`AppendWait::wait`]) once the group commit holding them is
    /// durable, with the outcomes in input order. An async caller awaits it without a thread
    /// of its own blocked on the writer.
    pub fn begin_append(&self, records: Vec<SignedAssertion>) -> Result<AppendWait, StoreError> {
        self.send(records, None)
    }

    /// Hands one job to the writer; its waiter resolves with the durable outcome.
    fn send(
        &self,
        records: Vec<SignedAssertion>,
        stream: Option<StreamStamp>,
    ) -> Result<AppendWait, StoreError> {
        let (reply, wait) = completion();
        let sender = match self.sender.lock() {
            Ok(guard) => guard.clone(),
            Err(_) => None,
        };
        let sender = sender.ok_or(StoreError::ShuttingDown)?;
        sender
            .send(Job {
                records,
                stream,
                reply,
            })
            .map_err(|_| StoreError::ShuttingDown)?;
        Ok(wait)
    }

    /// The open engine and the state derived from it. Waits while the writer reopens the
    /// engine after a full disk (`StoreError::Reopening` past `REOPEN_WAIT_MS`).
    pub(crate) fn shared(&self) -> Result<Arc<Shared>, StoreError> {
        self.slot.get()
    }

    /// The highest durable sequence (0 when empty). Every sequence up to it holds one record.
    pub fn last_sequence(&self) -> u64 {
        self.slot.durable_seq()
    }

    /// What every answer rests on besides its own group's records (`AnswersVersion`).
    pub fn answers_version(&self) -> crate::AnswersVersion {
        self.slot.answers_version()
    }

    /// A sequence at or after the last commit that added a record to `group` (`subject 0x00
    /// predicate 0x00`): nothing was added to it after this, up to the durable sequence read
    /// before asking. It may be later than that commit (another group shares its mark, or a
    /// commit is being published), never earlier; 0 when none since the store was opened.
    /// Read `last_sequence` first (`group_marks.rs`).
    pub fn group_changed_through(&self, group: &[u8]) -> u64 {
        self.slot.group_changed_through(group)
    }

    pub fn get_by_sequence(&self, sequence: u64) -> Result<Option<StoredRecord>, StoreError> {
        if sequence == 0 || sequence > self.last_sequence() {
            return Ok(None);
        }
        self.shared()?.read_record(sequence).map(Some)
    }

    /// The highest durable sequence whose `recorded_at` is at or before `t` (0 if none).
    /// `recorded_at` never decreases along the log, so this is a binary search.
    pub fn last_sequence_recorded_by(&self, t: Timestamp) -> Result<u64, StoreError> {
        let (mut low, mut high) = (0u64, self.last_sequence());
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            let recorded_at = self
                .get_by_sequence(mid)?
                .map_or(Timestamp::from_micros(i64::MAX), |r| r.recorded_at);
            if recorded_at <= t {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        Ok(low)
    }

    /// The record with this id, checked against the id on the way out.
    pub fn get_by_id(&self, id: &AssertionId) -> Result<Option<StoredRecord>, StoreError> {
        let Some(seq_bytes) = self.shared()?.ks().ids.get(id.as_bytes())? else {
            return Ok(None);
        };
        let sequence = decode_seq(&seq_bytes, "ids")?;
        let Some(record) = self.get_by_sequence(sequence)? else {
            return Ok(None);
        };
        if record.id() != *id {
            return Err(StoreError::CorruptRecord {
                sequence,
                reason: format!("body does not hash to id {id}"),
            });
        }
        Ok(Some(record))
    }

    /// The public key an agent id is bound to, if its binding is durable: the binding is
    /// written with the agent's first record (its sequence after the key), visible to the
    /// engine's readers before that record's fsync.
    pub fn bound_key(&self, agent_id: &str) -> Result<Option<[u8; 32]>, StoreError> {
        let durable = self.last_sequence();
        let Some(v) = self.shared()?.ks().agents.get(agent_id.as_bytes())? else {
            return Ok(None);
        };
        let (key, first) = decode_binding(agent_id, &v)?;
        Ok(first.is_none_or(|first| first <= durable).then_some(key))
    }

    /// Why this open left an older format as it was (format 3: its `groups` keyspace could not
    /// be built, so named groups are scanned; format 4: `FORMAT` could not be rewritten, so
    /// the writer keys every record as format 4 does), for the server to say at start.
    pub fn format_upgrade_failed(&self) -> Option<&str> {
        self.upgrade_failed.as_deref()
    }

    /// Whether the `groups` keyspace is whole (see `EngineSlot::group_summaries`).
    pub(crate) fn slot_group_summaries(&self) -> bool {
        self.slot.group_summaries()
    }

    /// Says the `groups` keyspace is whole and `FORMAT` says 5: a rebuild has built every
    /// index from the log.
    pub(crate) fn set_rebuilt_whole(&self) {
        self.slot.set_group_summaries();
        self.slot.set_by_subject_large_only();
    }

    /// The sequences (≤ `sequence_max`, ascending) of the one group whose `by_subject` prefix
    /// is `group` (`subject 0x00 predicate 0x00`); empty when it has none. One point read of
    /// its summary (`groups.rs`); a large group, or a directory whose summaries are not whole
    /// (an older format opened by `check`), is read from `by_subject` through `scan_groups`.
    pub fn group_sequences(&self, group: &[u8], sequence_max: u64) -> Result<Vec<u64>, StoreError> {
        // The durable sequence first, then the rebuild count, then the cache or the engine:
        // the order `group_cache.rs`'s invariant rests on.
        let durable = self.last_sequence();
        let bound = sequence_max.min(durable);
        if self.slot_group_summaries() {
            let shared = self.shared()?;
            match read_summary(&shared, group, durable)? {
                None => return Ok(Vec::new()),
                Some(crate::groups::Summary::Sequences(mut seqs)) => {
                    seqs.retain(|s| *s <= bound);
                    return Ok(seqs);
                }
                Some(crate::groups::Summary::Large) => {}
            }
        }
        let (groups, _) = self.scan_groups(group, None, bound, 1, &|_| true)?;
        Ok(groups
            .into_iter()
            .next()
            .map(|(_, s)| s)
            .unwrap_or_default())
    }

    /// Walks the groups under `prefix`, starting at `start` (inclusive; a cursor is a group's
    /// `resume_after`) when given, and returns up to `groups_max` groups that `keep` accepts,
    /// with their sequences (≤ `sequence_max`; a group with none is skipped), in key order,
    /// plus whether more groups follow.
    pub fn scan_groups(
        &self,
        prefix: &[u8],
        start: Option<&[u8]>,
        sequence_max: u64,
        groups_max: usize,
        keep: &dyn Fn(&GroupKey) -> bool,
    ) -> Result<GroupPage, StoreError> {
        let bound = sequence_max.min(self.last_sequence());
        let mut page = Page::new(groups_max, usize::MAX);
        let more = fill(&*self.shared()?, prefix, start, bound, keep, &mut page)?;
        Ok((page.groups, more))
    }

    /// The sequence after which `agent` holds `role` (its grant record's, or a legacy
    /// grant's), if it does and that grant is durable. A grant being synced is derived into
    /// the roles map before its fsync: answered from here, a second grant of the same role
    /// would be acknowledged before the first is on disk (and a failed sync would leave it
    /// answered and lost).
    pub fn role_granted_after(&self, role: Role, agent: &str) -> Result<Option<u64>, StoreError> {
        let durable = self.last_sequence();
        Ok(self
            .shared()?
            .truth_cache()?
            .roles
            .get(&(role, agent.to_owned()))
            .copied()
            .filter(|&granted| granted <= durable))
    }

    /// Group-commit figures since open.
    pub fn commit_stats(&self) -> CommitStats {
        self.shared()
            .map(|shared| shared.commit_stats())
            .unwrap_or_default()
    }

    /// Bytes the engine uses on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.shared().map_or(0, |shared| shared.disk_bytes())
    }

    /// Work the engine still owes in the background: sealed memtables not yet flushed, level-0
    /// tables not yet compacted (the read amplification an operator watches grow when
    /// compaction falls behind), compactions running now. Zero when the engine is reopening.
    pub fn engine_backlog(&self) -> EngineBacklog {
        self.shared().map_or_else(
            |_| EngineBacklog::default(),
            |shared| shared.engine_backlog(),
        )
    }

    /// Allocated bytes of the engine's journal files (they are preallocated sparse, so their
    /// length says little).
    pub fn journal_bytes(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let Ok(entries) = std::fs::read_dir(self.dir.join(ENGINE_DIR)) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jnl"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.blocks() * 512)
            .sum()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the writer after the commits in flight and syncs, then asks the engine to flush
    /// its memtables to tables so that the next open replays little journal. The flush wait is
    /// bounded (`FLUSH_WAIT_MS`): correctness never depends on it, only restart time does.
    /// Later appends fail with `ShuttingDown`; a second call does nothing.
    pub fn close(&self) -> Result<(), StoreError> {
        if !self.stop_writer()? {
            return Ok(());
        }
        let shared = self.shared()?;
        let keyspaces = shared.ks().all();
        for keyspace in keyspaces {
            keyspace.rotate_memtable()?;
        }
        let deadline = Instant::now() + Duration::from_millis(FLUSH_WAIT_MS);
        while Instant::now() < deadline && keyspaces.iter().any(|k| k.sealed_memtable_count() > 0) {
            std::thread::sleep(Duration::from_millis(10));
        }
        shared.sync()?;
        Ok(())
    }

    /// Closes the channel, joins the writer (finishing commits in flight) and syncs the journal.
    /// Returns false when the writer was already stopped.
    pub(crate) fn stop_writer(&self) -> Result<bool, StoreError> {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        let Some(handle) = handle else {
            return Ok(false);
        };
        let _ = handle.join();
        self.shared()?.sync()?;
        Ok(true)
    }
}

impl Drop for Store {
    /// Dropping without `close` still finishes the commits in flight and syncs; it skips the
    /// memtable flush (a faster restart is not worth a slow drop).
    fn drop(&mut self) {
        let _ = self.stop_writer();
    }
}

/// Compares what the engine holds (`found`: the lower of the log's last sequence and
/// `last_applied_sequence`) with the acknowledgement mark, and opens the mark for the writer
/// (none under `Report`, which must leave it as it is).
fn check_acknowledged(
    dir: &Path,
    acked: AckedAtOpen,
    last_applied: u64,
    found: u64,
    policy: AckLossPolicy,
) -> Result<Option<AckMark>, StoreError> {
    if policy == AckLossPolicy::Refuse {
        // `last_applied_sequence` above the log's last record is damage too: the log lost
        // records that the engine had committed.
        let claimed = match acked {
            AckedAtOpen::Sequence(acknowledged) => acknowledged.max(last_applied),
            _ => last_applied,
        };
        if claimed > found {
            return Err(StoreError::AcknowledgedLost {
                path: dir.to_owned(),
                acknowledged: claimed,
                found,
            });
        }
        if acked == AckedAtOpen::Damaged {
            return Err(StoreError::AckMarkDamaged {
                path: dir.join(ACKED_FILE),
            });
        }
    }
    if policy == AckLossPolicy::Report {
        return Ok(None);
    }
    AckMark::open(dir, found).map(Some)
}

fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Io { path, source: e }),
    }
}

/// A group's summary as committed, from the cache or else from `groups` (then offered to the
/// cache). `durable` is the durable sequence the caller read before calling: the invariant in
/// `group_cache.rs` needs it read before the rebuild count and the engine.
fn read_summary(
    shared: &Shared,
    key: &[u8],
    durable: u64,
) -> Result<Option<crate::groups::Summary>, StoreError> {
    let rebuilds = shared.groups_rebuilds();
    let cache = shared.group_cache();
    if let Some(summary) = cache.get(key, rebuilds) {
        return Ok(Some(summary));
    }
    let read = crate::groups::read(shared, key)?;
    if let Some(summary) = &read {
        cache.offer(key, summary, durable, rebuilds);
    }
    Ok(read)
}

/// Format 2 → 3 dropped the `by_valid_time` index (written for every record, never read;
/// the caller drops it); 3 → 4 adds the `groups` keyspace, built here from `by_subject`. Both
/// are made durable before `FORMAT` says 5, so a crash in between leaves the old format, which
/// the next open upgrades again (the build starts over). 4 → 5 rewrites nothing: format 5
/// stops keying small groups' records in `by_subject`, and the keys format 4 left there are
/// never read (`check` accepts them when they match their group's summary).
fn upgrade_format(dir: &Path, shared: &Shared, format: u32) -> Result<(), StoreError> {
    if format < FORMAT_GROUPS {
        crate::groups::build(shared)?;
        shared.sync()?;
    }
    write_format(dir)
}

/// Writes `FORMAT` with the current version through a temporary file and a rename, both
/// fsynced, so that it is either the old contents or the new.
fn write_format(dir: &Path) -> Result<(), StoreError> {
    write_format_version(dir, FORMAT_VERSION)
}

/// Says the current format once a rebuild has built the `groups` keyspace whole (a directory
/// whose upgrade had failed is then upgraded too).
pub(crate) fn mark_groups_built(dir: &Path) -> Result<(), StoreError> {
    write_format(dir)
}

fn write_format_version(dir: &Path, version: u32) -> Result<(), StoreError> {
    let path = dir.join(FORMAT_FILE);
    let temporary = dir.join("FORMAT.tmp");
    let mut file = File::create(&temporary).map_err(io_err(&temporary))?;
    file.write_all(format!("stemedb-format {version}\n").as_bytes())
        .map_err(io_err(&temporary))?;
    file.sync_all().map_err(io_err(&temporary))?;
    std::fs::rename(&temporary, &path).map_err(io_err(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// `FORMAT` holds `stemedb-format <N>`. A new directory gets the current version (fsynced
/// before any data); an existing one must hold it or the version upgraded at open. Returns
/// the version found.
fn check_or_write_format(dir: &Path) -> Result<u32, StoreError> {
    let path = dir.join(FORMAT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found = text
                .trim()
                .strip_prefix("stemedb-format ")
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or(StoreError::CorruptMeta {
                    key: "FORMAT",
                    reason: format!("unreadable contents {text:?}"),
                })?;
            if found != FORMAT_VERSION && !FORMAT_VERSIONS_UPGRADED.contains(&found) {
                return Err(StoreError::UnsupportedFormat {
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Ok(found)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join(ENGINE_DIR).exists() {
                return Err(StoreError::CorruptMeta {
                    key: "FORMAT",
                    reason: "missing beside existing data".into(),
                });
            }
            write_format(dir)?;
            Ok(FORMAT_VERSION)
        }
        Err(e) => Err(StoreError::Io { path, source: e }),
    }
}
