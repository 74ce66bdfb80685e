//! Power loss: the data files are copied at every durable sync (the writer's test-only
//! `after_sync` hook, called before any waiter is answered), so each copy is exactly what a
//! disk holds if power fails right after that sync. A crash point is a copy plus a seeded,
//! torn prefix of the journal bytes written after it but never synced — what a disk may keep
//! of an unsynced write. Reopened there, the store must open, pass a full check, and hold every
//! write acknowledged by that sync. Seeded: `STEMEDB_POWER_SEED`, `STEMEDB_POWER_POINTS`.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::json;
use stemedb::core::SplitMix64;
use stemedb::{Db, DbConfig, SyncHook};

use crate::harness::claim;

/// Batches written, one group commit (and one sync) each; sizes are seeded, 1 to 16.
const BATCHES: usize = 120;
/// (relative path, length, modification time) of every file under a directory.
type Listing = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

fn listing(root: &Path) -> Listing {
    let mut out = Listing::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.insert(rel.to_owned(), (meta.len(), meta.modified().ok()));
            }
        }
    }
    out
}

/// Copies `from` to `to`, again if the engine's background work changed a file meanwhile,
/// so that the copy is one state the directory really had.
fn copy_consistent(from: &Path, to: &Path) {
    for _ in 0..20 {
        let before = listing(from);
        let _ = std::fs::remove_dir_all(to);
        let copied = before.keys().all(|rel| {
            let target = to.join(rel);
            target
                .parent()
                .is_some_and(|p| std::fs::create_dir_all(p).is_ok())
                && copy_file(&from.join(rel), &target, is_journal(rel))
        });
        if copied && listing(from) == before {
            return;
        }
    }
    panic!("could not take a consistent copy of {}", from.display());
}

fn is_journal(rel: &Path) -> bool {
    rel.extension().is_some_and(|e| e == "jnl")
}

/// The engine preallocates each journal as a 64 MiB sparse file; a plain copy would fill in the
/// holes. This writes the bytes up to the last non-zero one and sets the length, so the copy
/// reads the same and stays sparse.
fn write_sparse(target: &Path, bytes: &[u8]) -> bool {
    let used = used_len(bytes);
    std::fs::write(target, &bytes[..used]).is_ok()
        && std::fs::OpenOptions::new()
            .write(true)
            .open(target)
            .and_then(|f| f.set_len(bytes.len() as u64))
            .is_ok()
}

const CHUNK: usize = 4096;

/// Length up to the last non-zero byte. Chunk comparisons are memcmp, fast in a debug build
/// too; a byte loop over a 64 MiB journal is not.
fn used_len(bytes: &[u8]) -> usize {
    let zero = [0u8; CHUNK];
    let chunks = bytes.len().div_ceil(CHUNK);
    let last = (0..chunks).rev().find(|c| {
        let chunk = &bytes[c * CHUNK..((c + 1) * CHUNK).min(bytes.len())];
        chunk != &zero[..chunk.len()]
    });
    last.map_or(0, |c| {
        let start = c * CHUNK;
        let chunk = &bytes[start..(start + CHUNK).min(bytes.len())];
        start + chunk.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1)
    })
}

/// The first and last offsets where two equally long buffers differ.
fn differing_range(a: &[u8], b: &[u8]) -> Option<(usize, usize)> {
    let chunks = a.len().div_ceil(CHUNK);
    let range = |c: usize| c * CHUNK..((c + 1) * CHUNK).min(a.len());
    let first_chunk = (0..chunks).find(|c| a[range(*c)] != b[range(*c)])?;
    let last_chunk = (0..chunks).rev().find(|c| a[range(*c)] != b[range(*c)])?;
    let (fa, fb) = (&a[range(first_chunk)], &b[range(first_chunk)]);
    let first = first_chunk * CHUNK + fa.iter().zip(fb).position(|(x, y)| x != y)?;
    let (la, lb) = (&a[range(last_chunk)], &b[range(last_chunk)]);
    let last = last_chunk * CHUNK + la.iter().zip(lb).rposition(|(x, y)| x != y)?;
    Some((first, last))
}

fn copy_file(from: &Path, to: &Path, journal: bool) -> bool {
    if journal {
        std::fs::read(from).is_ok_and(|bytes| write_sparse(to, &bytes))
    } else {
        std::fs::copy(from, to).is_ok()
    }
}

/// The state after a power cut between sync `k` and sync `k + 1`: copy `k`, and in every
/// journal a seeded prefix of what was written there after sync `k` (the region where copy
/// `k + 1` differs), as a disk that kept part of an unsynced write would hold it.
fn crash_state(synced: &Path, next: &Path, into: &Path, rng: &mut SplitMix64) -> u64 {
    copy_consistent(synced, into);
    let mut torn_bytes = 0;
    for rel in listing(next).into_keys().filter(|rel| is_journal(rel)) {
        let later = std::fs::read(next.join(&rel)).unwrap();
        let mut kept = std::fs::read(synced.join(&rel)).unwrap_or_else(|_| vec![0; later.len()]);
        if kept.len() != later.len() {
            continue; // a journal replaced or rotated, not written in place: the sync stands
        }
        let Some((first, last)) = differing_range(&kept, &later) else {
            continue;
        };
        let cut = first + (rng.next_u64() % (last - first + 2) as u64) as usize;
        kept[first..cut].copy_from_slice(&later[first..cut]);
        assert!(write_sparse(&into.join(&rel), &kept));
        torn_bytes += (cut - first) as u64;
    }
    torn_bytes
}

fn seed() -> u64 {
    crate::harness::env_number("STEMEDB_POWER_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    })
}

#[test]
fn power_loss_after_any_sync_keeps_every_acknowledged_write_and_the_store_opens() {
    let seed = seed();
    let points = (crate::harness::env_count("STEMEDB_POWER_POINTS", 12) as usize).min(BATCHES - 1);
    eprintln!("power-loss seed {seed} (replay: STEMEDB_POWER_SEED={seed}), {points} crash points");
    let mut rng = SplitMix64::new(seed);
    // Crash points: syncs k whose copy, and the next one's, are kept.
    let mut chosen = BTreeSet::new();
    while chosen.len() < points {
        chosen.insert((rng.next_u64() % (BATCHES as u64 - 1)) as usize);
    }
    let copied: BTreeSet<usize> = chosen.iter().flat_map(|k| [*k, k + 1]).collect();
    let root = tempfile::tempdir().unwrap();
    let (data, snaps) = (root.path().join("data"), root.path().join("snaps"));
    let synced: Arc<Mutex<Vec<u64>>> = Arc::default();
    let hook = {
        let (data, snaps, synced) = (data.clone(), snaps.clone(), synced.clone());
        SyncHook(Arc::new(move |durable: u64| {
            let mut synced = synced.lock().unwrap();
            if copied.contains(&synced.len()) {
                copy_consistent(&data, &snaps.join(synced.len().to_string()));
            }
            synced.push(durable);
        }))
    };
    let config = DbConfig {
        after_sync: Some(hook),
        disk_free_min_bytes: 0,
        ..DbConfig::default()
    };
    let db = Db::open(&data, config).unwrap();
    let mut acknowledged: Vec<(String, u64)> = Vec::new();
    for batch in 0..BATCHES {
        let size = 1 + (rng.next_u64() % 16) as usize;
        let items: Vec<_> = (0..size)
            .map(|i| {
                let subject = format!("power/b{batch}/s{i}");
                claim(9, &subject, "p", json!(i), 1.0, "2025-01-01T00:00:00Z")
            })
            .collect();
        for ingested in db.ingest_batch(items).unwrap() {
            let ingested = ingested.unwrap();
            acknowledged.push((ingested.id, ingested.sequence));
        }
    }
    db.close().unwrap();
    let synced = synced.lock().unwrap().clone();
    assert_eq!(synced.len(), BATCHES, "one sync per batch");

    let mut torn_total = 0;
    for k in chosen {
        let crashed = root.path().join(format!("crash{k}"));
        let (at, next) = (snaps.join(k.to_string()), snaps.join((k + 1).to_string()));
        torn_total += crash_state(&at, &next, &crashed, &mut rng);
        check_crash_point(&crashed, synced[k], &acknowledged, seed, k);
        let _ = std::fs::remove_dir_all(&crashed);
    }
    eprintln!(
        "{points} crash points checked over {} acknowledged writes; {torn_total} unsynced \
         journal bytes kept in all",
        acknowledged.len()
    );
}

/// Reopens a crash state: it opens, a full check is clean, and every write acknowledged by
/// sync `k` (sequence ≤ `durable`) is there at its sequence.
fn check_crash_point(
    dir: &Path,
    durable: u64,
    acknowledged: &[(String, u64)],
    seed: u64,
    k: usize,
) {
    let context = format!("seed {seed}, power cut after sync {k} (durable sequence {durable})");
    let db = Db::open(dir, DbConfig::default())
        .unwrap_or_else(|e| panic!("{context}: the store does not open: {e}"));
    assert!(
        db.last_sequence() >= durable,
        "{context}: last sequence went back"
    );
    let report = db.check(&mut |_, _| {}).unwrap();
    assert!(report.ok(), "{context}: check found {:?}", report.problems);
    for (id, sequence) in acknowledged.iter().filter(|(_, s)| *s <= durable) {
        let parsed = stemedb::core::AssertionId::parse_field(id, "id").unwrap();
        let record = db.get(&parsed).unwrap();
        assert_eq!(
            record.map(|r| r.sequence),
            Some(*sequence),
            "{context}: acknowledged {id} lost"
        );
    }
    db.close().unwrap();
}
