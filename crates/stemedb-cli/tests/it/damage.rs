//! Damage at rest never loses acknowledged records silently. A data directory holding tables,
//! a journal, version files and the acknowledgement mark is damaged in a seeded sweep (a run of
//! zeroed bytes, a flipped bit, a truncation, in every file kind), and each damaged copy must
//! either be refused at open with a named reason, or open and pass `check` only if every
//! acknowledged record is still there and verifies. A damaged copy that opens, passes `check`
//! and lacks an acknowledged record is silent loss: the test fails with its seed.
//! Seeded: `STEMEDB_DAMAGE_SEED`, `STEMEDB_DAMAGE_ROUNDS` (sweeps over every file; default 1).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use stemedb::core::{AssertionId, SplitMix64};
use stemedb::{Db, DbConfig};

use crate::harness::claim;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Damage {
    /// 16 bytes set to zero (what the journal's recovery mistook for its end).
    ZeroRun,
    BitFlip,
    Truncation,
}

/// What a damaged copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Open failed with a named reason.
    Refused,
    /// Opened; `check` named the damage.
    Detected,
    /// Opened; `check` clean and every acknowledged record present and verified.
    Harmless,
    /// The storage engine (fjall) panicked reading its own damaged files at open. Not silent
    /// (the process stops, and `stemedb serve` names the damage), but not a clean refusal
    /// either: counted and printed so that it stays visible (docs/reliability.md).
    EnginePanic,
}

const JUDGE_DIR_ENV: &str = "STEMEDB_DAMAGE_JUDGE_DIR";

/// Judges one damaged copy in a child process: the engine may panic while a lock is held and
/// then abort in its destructor, which no `catch_unwind` survives.
fn judge_in_child(dir: &Path) -> Result<Outcome, String> {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "damage::judge_one_damaged_copy",
            "--nocapture",
        ])
        .env(JUDGE_DIR_ENV, dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict = stdout.lines().find_map(|l| l.strip_prefix("VERDICT "));
    match verdict {
        Some("Refused") => Ok(Outcome::Refused),
        Some("Detected") => Ok(Outcome::Detected),
        Some("Harmless") => Ok(Outcome::Harmless),
        Some(loss) => Err(loss.to_owned()),
        None if engine_panicked(&String::from_utf8_lossy(&output.stderr)) => {
            Ok(Outcome::EnginePanic)
        }
        None => Err(format!(
            "the judge gave no verdict ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .filter(|l| {
                    ["panicked", "assert", "memory allocation"]
                        .iter()
                        .any(|said| l.contains(said))
                })
                .collect::<Vec<_>>()
                .join(" / ")
        )),
    }
}

/// Whether a child's stderr holds a panic raised in the engine's code: the crates as cargo's
/// registry unpacks them (`…/lsm-tree-3.1.10/src/…`) or as this repository vendors them
/// (`vendor/lsm-tree/src/…`, `vendor/fjall/src/…`).
fn engine_panicked(stderr: &str) -> bool {
    ["/fjall-", "/lsm-tree-", "vendor/fjall/", "vendor/lsm-tree/"]
        .iter()
        .any(|place| stderr.contains(place))
}

/// The child side of [`judge_in_child`]; run only by it.
#[test]
#[ignore = "run by no_damage_at_rest_loses_acknowledged_records_silently in a child process"]
fn judge_one_damaged_copy() {
    let dir = PathBuf::from(std::env::var(JUDGE_DIR_ENV).expect("run by the damage sweep"));
    let acknowledged: Vec<(String, u64)> =
        serde_json::from_slice(&std::fs::read(dir.with_extension("acknowledged")).unwrap())
            .unwrap();
    match judge(&dir, &acknowledged) {
        Ok(outcome) => println!("VERDICT {outcome:?}"),
        Err(loss) => println!("VERDICT silent loss: {loss}"),
    }
}

fn config() -> DbConfig {
    DbConfig {
        disk_free_min_bytes: 0,
        ..DbConfig::default()
    }
}

/// Writes `batches` batches of 20, returning (id, sequence) of each acknowledged record.
fn write(db: &Db, phase: &str, batches: usize) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for b in 0..batches {
        let items: Vec<_> = (0..20)
            .map(|i| {
                let subject = format!("damage/{phase}/b{b}/s{}", i % 7);
                claim(
                    11 + (i % 3) as u8,
                    &subject,
                    "p",
                    json!(i),
                    0.5,
                    "2025-01-01T00:00:00Z",
                )
            })
            .collect();
        for ingested in db.ingest_batch(items).unwrap() {
            let ingested = ingested.unwrap();
            out.push((ingested.id, ingested.sequence));
        }
    }
    out
}

/// A data directory with every file kind: tables (flushed at a clean close), then a journal
/// holding more acknowledged records (the second open is dropped without flushing).
fn pristine(dir: &Path) -> Vec<(String, u64)> {
    let db = Db::open(dir, config()).unwrap();
    let mut acknowledged = write(&db, "flushed", 10);
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir, config()).unwrap();
    acknowledged.extend(write(&db, "journal", 10));
    drop(db);
    acknowledged
}

/// The files worth damaging, by kind (the lock files hold nothing).
fn files(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let kind = if name.ends_with(".jnl") {
                "journal"
            } else if rel.contains("/tables/") {
                "table"
            } else if name == "LOCK" || name == "lock" {
                continue;
            } else if rel.starts_with("engine") {
                "engine version"
            } else {
                // ACKED, FORMAT
                "stemedb file"
            };
            if std::fs::metadata(&path).unwrap().len() > 0 {
                out.push((kind.to_owned(), path.strip_prefix(root).unwrap().to_owned()));
            }
        }
    }
    out.sort();
    out
}

/// Length up to the last non-zero byte (journals are preallocated and mostly holes).
fn used_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1)
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn apply(path: &Path, damage: Damage, rng: &mut SplitMix64) -> String {
    let mut bytes = std::fs::read(path).unwrap();
    let used = used_len(&bytes).max(1);
    let at = (rng.next_u64() % used as u64) as usize;
    match damage {
        Damage::ZeroRun => {
            let end = (at + 16).min(bytes.len());
            bytes[at..end].fill(0);
        }
        Damage::BitFlip => bytes[at] ^= 1 << (rng.next_u64() % 8),
        Damage::Truncation => bytes.truncate(at),
    }
    std::fs::write(path, &bytes).unwrap();
    format!("{damage:?} at byte {at} of {used}")
}

/// Opens a damaged copy and classifies what happened; `Err` is silent loss.
fn judge(dir: &Path, acknowledged: &[(String, u64)]) -> Result<Outcome, String> {
    let db = match Db::open(dir, config()) {
        Err(e) => {
            let reason = e.to_string();
            return if reason.is_empty() {
                Err("refused without a reason".into())
            } else {
                Ok(Outcome::Refused)
            };
        }
        Ok(db) => db,
    };
    let report = db.check(&mut |_, _| {}).unwrap();
    let mut missing = Vec::new();
    for (id, sequence) in acknowledged {
        let parsed = AssertionId::parse_field(id, "id").unwrap();
        match db.get(&parsed) {
            Ok(Some(record)) if record.sequence == *sequence => {}
            other => missing.push(format!(
                "{id} (sequence {sequence}): {:?}",
                other.map(|r| r.map(|r| r.sequence))
            )),
        }
    }
    let _ = db.close();
    match (report.ok(), missing.is_empty()) {
        (true, true) => Ok(Outcome::Harmless),
        (false, _) => Ok(Outcome::Detected),
        (true, false) => Err(format!(
            "opened, `check` clean, but {} acknowledged records are missing, first {}",
            missing.len(),
            missing[0]
        )),
    }
}

/// Files damaged in one round: the journal several times over (it is where acknowledged
/// records live until a flush), the stemedb files, and up to `SAMPLED_MAX` of each other kind.
fn sample<'a>(targets: &'a [(String, PathBuf)], rng: &mut SplitMix64) -> Vec<(&'a str, &'a Path)> {
    const SAMPLED_MAX: usize = 6;
    const JOURNAL_REPEATS: usize = 4;
    let mut out = Vec::new();
    for kind in ["journal", "stemedb file", "table", "engine version"] {
        let mut of_kind: Vec<_> = targets.iter().filter(|(k, _)| k == kind).collect();
        match kind {
            "journal" => {
                for _ in 0..JOURNAL_REPEATS {
                    out.extend(of_kind.iter().map(|(k, p)| (k.as_str(), p.as_path())));
                }
            }
            "stemedb file" => out.extend(of_kind.iter().map(|(k, p)| (k.as_str(), p.as_path()))),
            _ => {
                while of_kind.len() > SAMPLED_MAX {
                    of_kind.swap_remove((rng.next_u64() % of_kind.len() as u64) as usize);
                }
                out.extend(of_kind.iter().map(|(k, p)| (k.as_str(), p.as_path())));
            }
        }
    }
    out
}

/// A pristine store in `root/clean`, and the records it acknowledged written where the judge
/// of a copy at `root/case` reads them (`case.acknowledged`).
fn pristine_beside_its_copies(root: &Path) -> (PathBuf, Vec<(String, u64)>) {
    let clean = root.join("clean");
    let acknowledged = pristine(&clean);
    std::fs::write(
        root.join("case.acknowledged"),
        serde_json::to_vec(&acknowledged).unwrap(),
    )
    .unwrap();
    (clean, acknowledged)
}

fn seed() -> u64 {
    crate::harness::env_number("STEMEDB_DAMAGE_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    })
}

#[test]
fn no_damage_at_rest_loses_acknowledged_records_silently() {
    let seed = seed();
    let rounds = crate::harness::env_count("STEMEDB_DAMAGE_ROUNDS", 1) as usize;
    eprintln!("damage sweep seed {seed} (replay: STEMEDB_DAMAGE_SEED={seed}), {rounds} round(s)");
    let mut rng = SplitMix64::new(seed);
    let root = tempfile::tempdir().unwrap();
    let (clean, acknowledged) = pristine_beside_its_copies(root.path());
    let targets = files(&clean);
    assert!(
        ["journal", "table", "engine version", "stemedb file"]
            .iter()
            .all(|kind| targets.iter().any(|(k, _)| k == kind)),
        "every file kind is present: {targets:?}"
    );
    let mut counts: BTreeMap<(String, Damage, Outcome), u64> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut case = 0;
    for _ in 0..rounds {
        for (kind, rel) in sample(&targets, &mut rng) {
            for damage in [Damage::ZeroRun, Damage::BitFlip, Damage::Truncation] {
                case += 1;
                let copy = root.path().join("case");
                std::fs::create_dir_all(&copy).unwrap();
                copy_dir(&clean, &copy);
                let what = apply(&copy.join(rel), damage, &mut rng);
                let verdict = judge_in_child(&copy);
                match verdict {
                    Ok(outcome) => {
                        *counts
                            .entry((kind.to_owned(), damage, outcome))
                            .or_default() += 1
                    }
                    Err(why) => failures.push(format!("{}: {what}: {why}", rel.display())),
                }
                let _ = std::fs::remove_dir_all(&copy);
            }
        }
    }
    eprintln!(
        "{case} damaged copies of a directory with {} acknowledged records:",
        acknowledged.len()
    );
    for ((kind, damage, outcome), n) in &counts {
        eprintln!("  {kind:<15} {damage:<10?} {outcome:<9?} {n}");
    }
    // An engine panic is a loud failure, not a silent loss, so it passes one copy; a sweep
    // where every copy panicked (or none was made) would have judged nothing.
    let panics: u64 = counts
        .iter()
        .filter(|((_, _, outcome), _)| *outcome == Outcome::EnginePanic)
        .map(|(_, n)| n)
        .sum();
    assert!(case > 0, "seed {seed}: no damaged copy was made");
    assert!(
        panics < case,
        "seed {seed}: all {case} damaged copies panicked inside the engine: nothing was judged"
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} silent losses or panics:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A table whose table of contents claims billions of sections (the count is read before the
/// checksum that covers it) gets a verdict: the process asked for gigabytes at once and
/// aborted, with no verdict, in a CI run of the sweep above (vendor/README.md, `sfa/`).
#[test]
fn a_table_claiming_billions_of_sections_is_judged_not_an_abort() {
    let root = tempfile::tempdir().unwrap();
    let (clean, _) = pristine_beside_its_copies(root.path());
    let copy = root.path().join("case");
    std::fs::create_dir_all(&copy).unwrap();
    copy_dir(&clean, &copy);
    let tables: Vec<PathBuf> = files(&clean)
        .into_iter()
        .filter(|(kind, _)| kind == "table")
        .map(|(_, rel)| copy.join(rel))
        .collect();
    assert!(!tables.is_empty(), "the pristine store has tables");
    for table in &tables {
        set_section_count(table, u32::MAX / 2);
    }
    let verdict = judge_in_child(&copy);
    assert!(verdict.is_ok(), "{verdict:?}");
}

/// Sets the section count of the table file at `path` (an `sfa` archive: its trailer is "SFA!",
/// a version byte, a checksum type byte, the ToC's checksum (16 bytes), its position and its
/// length (8 bytes each); the ToC opens with "TOC!" and the count, little-endian).
fn set_section_count(path: &Path, count: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    let trailer = bytes.len() - (4 + 1 + 1 + 16 + 8 + 8);
    assert_eq!(&bytes[trailer..trailer + 4], b"SFA!", "{}", path.display());
    let position_at = trailer + 4 + 1 + 1 + 16;
    let position: [u8; 8] = bytes[position_at..position_at + 8].try_into().unwrap();
    let toc = u64::from_le_bytes(position) as usize;
    assert_eq!(&bytes[toc..toc + 4], b"TOC!", "{}", path.display());
    bytes[toc + 4..toc + 8].copy_from_slice(&count.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}
