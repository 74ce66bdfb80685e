//! The reliability table kept in the data directory (`crates/stemedb/src/reliability_file.rs`):
//! an open starts the evidence lens from the table the last run kept, the same to the bit, and
//! refuses one that is damaged, made with other settings, or made over another log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use stemedb::SystemClock;
use stemedb::core::{Clock, SecretKey};
use stemedb::{Db, DbConfig, RELIABILITY_FILE, ReliabilityAtOpen, ReliabilityTable};
use stemedb_client::Draft;

use crate::harness::open_retrying;

fn open(dir: &Path, config: &DbConfig) -> Db {
    open_retrying(dir, config.clone(), Arc::new(SystemClock) as Arc<dyn Clock>)
}

fn config() -> DbConfig {
    DbConfig {
        disk_free_min_bytes: 0,
        ..DbConfig::default()
    }
}

/// `groups` facts claimed by three agents: two agree, the third names another value on every
/// other fact. `tag` makes the records differ between stores.
fn claims(groups: u64, tag: &str) -> Vec<Value> {
    let keys: Vec<SecretKey> = (0..3u8)
        .map(|i| SecretKey::from_seed(&[i + 41; 32]))
        .collect();
    let mut drafts = Vec::new();
    for g in 0..groups {
        for (a, key) in keys.iter().enumerate() {
            let value = if a == 2 && g % 2 == 0 {
                json!(7)
            } else {
                json!(3)
            };
            drafts.push(
                Draft::new(
                    &format!("kept/agent-{a}"),
                    &format!("kept/{tag}/s{g}"),
                    "p",
                    value,
                    "2026-01-01T00:00:00Z",
                )
                .sign(key)
                .unwrap(),
            );
        }
    }
    drafts
}

fn write(db: &Db, items: Vec<Value>) {
    for result in db.ingest_batch(items).unwrap() {
        result.unwrap();
    }
}

/// A new store of `groups` facts with its table made and kept: its directory, the table, and
/// the kept file's path.
fn kept_store(groups: u64) -> (tempfile::TempDir, Arc<ReliabilityTable>, PathBuf) {
    kept_store_by(groups, None)
}

/// As `kept_store`, the table made and kept by a run that named `build` (`Db::set_build`).
fn kept_store_by(
    groups: u64,
    build: Option<&str>,
) -> (tempfile::TempDir, Arc<ReliabilityTable>, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let made = store_with_table(dir.path(), groups, "a", build);
    let kept = dir.path().join(RELIABILITY_FILE);
    (dir, made, kept)
}

/// A store in `dir` holding `groups` facts, with its table made and kept by a run that named
/// `build`.
fn store_with_table(
    dir: &Path,
    groups: u64,
    tag: &str,
    build: Option<&str>,
) -> Arc<ReliabilityTable> {
    let db = open(dir, &config());
    if let Some(build) = build {
        db.set_build(build.to_owned());
    }
    write(&db, claims(groups, tag));
    let table = db.refresh_reliability().unwrap();
    db.save_reliability(&table).unwrap();
    table
}

/// Everything a reader of the table sees, as text (accuracies to the bit).
fn lines(table: &ReliabilityTable) -> String {
    let mut agents: Vec<String> = table
        .agents()
        .map(|a| {
            format!(
                "{} {:x} {} {} {:?} {}",
                a.agent_id,
                a.accuracy.to_bits(),
                a.claims,
                a.agreed,
                a.copy_of,
                a.anchored
            )
        })
        .collect();
    agents.sort();
    format!(
        "{} {} {:?}\n{}",
        table.sequence,
        table.facts,
        table.disputed,
        agents.join("\n")
    )
}

#[test]
fn an_open_starts_from_the_table_the_last_run_kept() {
    let (dir, made, _) = kept_store(12);
    assert!(made.sequence > 0 && made.agent_count() == 3);
    let db = open(dir.path(), &config());
    assert_eq!(
        db.reliability_at_open(),
        &ReliabilityAtOpen::Loaded {
            sequence: made.sequence
        }
    );
    assert_eq!(lines(&db.reliability().unwrap()), lines(&made));
    let agent = db.agent_reliability("kept/agent-2").unwrap();
    assert_eq!(agent.table_sequence, made.sequence);
    assert!(agent.accuracy < db.agent_reliability("kept/agent-0").unwrap().accuracy);
}

/// Rewrites the kept file at `kept` with every agent's accuracy `accuracy` and a checksum that
/// matches: a table no pass over its log computes, as a build with other rules would keep.
fn set_every_accuracy(kept: &Path, accuracy: f64) {
    let text = std::fs::read_to_string(kept).unwrap();
    let mut body: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    for agent in body["agents"].as_array_mut().unwrap() {
        agent["accuracy"] = json!(accuracy);
    }
    let body = body.to_string();
    let header = format!(
        "stemedb reliability table 1 {}",
        blake3::hash(body.as_bytes()).to_hex()
    );
    std::fs::write(kept, format!("{header}\n{body}\n")).unwrap();
}

/// A table read back answers from the open on, and the first refresh makes it again (a kept
/// table of a build with other evidence rules is replaced by what this build computes, even
/// with no new record), unless the build that kept it is the one running and it covers the
/// whole log: then it is taken as current, with no pass. The kept file's accuracies are changed
/// (checksum matched), so the table in use after the first refresh tells whether a pass ran.
fn check_current(
    name: &str,
    kept_by: Option<&str>,
    running: Option<&str>,
    written_since: bool,
    current: bool,
) {
    let (dir, made, kept) = kept_store_by(12, kept_by);
    set_every_accuracy(&kept, 0.5);
    let db = open(dir.path(), &config());
    let read_back = db.reliability().unwrap();
    assert_eq!(
        read_back.agent("kept/agent-2").unwrap().accuracy,
        0.5,
        "{name}: the file's table in use from the open"
    );
    if let Some(build) = running {
        db.set_build(build.to_owned());
    }
    if written_since {
        write(&db, claims(1, "since"));
    }
    assert_eq!(
        db.reliability_read_back_current(),
        current.then_some(made.sequence),
        "{name}: taken as current"
    );
    let in_use = db.refresh_reliability().unwrap();
    let no_pass = in_use.agent("kept/agent-2").unwrap().accuracy == 0.5;
    assert_eq!(no_pass, current, "{name}: the first refresh made no pass");
    if !current && !written_since {
        assert_eq!(lines(&in_use), lines(&made), "{name}: made again");
    }
}

#[rustfmt::skip]
#[test]
fn a_table_read_back_is_current_only_when_this_build_made_it_over_the_whole_log() {
    check_current("no build named by either run", None, None, false, false);
    check_current("the kept file names none", None, Some("b1"), false, false);
    check_current("this run names none", Some("b1"), None, false, false);
    check_current("another build kept it", Some("b1"), Some("b2"), false, false);
    check_current("a record written since", Some("b1"), Some("b1"), true, false);
    check_current("this build, the whole log", Some("b1"), Some("b1"), false, true);
}

/// The server's pass at idle priority has a deadline (`refresh.rs`): past it, the pass gives up
/// and the table in use stays, to be made by the next pass.
#[test]
fn a_refresh_past_its_deadline_gives_up_and_leaves_the_table_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), &config());
    write(&db, claims(4, "first"));
    let made = db.refresh_reliability().unwrap();
    write(&db, claims(4, "later"));
    let now = std::time::Instant::now();
    let gave_up = db.refresh_reliability_by(Some(now));
    assert!(
        matches!(gave_up, Err(stemedb::DbError::DeadlineExceeded { .. })),
        "{gave_up:?}"
    );
    assert_eq!(
        db.reliability().unwrap().sequence,
        made.sequence,
        "the table in use stays"
    );
    let deadline = now + std::time::Duration::from_secs(600);
    let later = db.refresh_reliability_by(Some(deadline)).unwrap();
    assert_eq!(
        later.sequence,
        db.last_sequence(),
        "a pass in time makes the table"
    );
    assert!(later.sequence > made.sequence);
}

/// A table is not kept where free space would fall under the log's reserve: the save says so
/// by name, and the file kept before and the directory are as they were.
#[test]
fn a_save_under_the_free_space_reserve_is_refused_and_changes_nothing() {
    let (dir, made, kept) = kept_store(4);
    let before = std::fs::read(&kept).unwrap();
    let config = DbConfig {
        disk_free_min_bytes: u64::MAX / 2,
        ..config()
    };
    let db = open(dir.path(), &config);
    let refused = db.save_reliability(&made).unwrap_err().to_string();
    assert!(refused.contains("not enough free space"), "{refused}");
    assert_eq!(std::fs::read(&kept).unwrap(), before);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

/// How one case spoils the kept table before the open.
enum Spoil {
    /// Replace the file's bytes.
    Bytes(fn(Vec<u8>) -> Vec<u8>),
    /// Open with other evidence settings.
    Settings,
    /// Move the file into another store of `groups` facts.
    AnotherStore { groups: u64 },
}

fn check(name: &str, spoil: Spoil, reason: &str) {
    let (dir, _, kept) = kept_store(12);
    let mut config = config();
    let mut target = dir.path().to_owned();
    let other = tempfile::tempdir().unwrap();
    match spoil {
        Spoil::Bytes(change) => {
            std::fs::write(&kept, change(std::fs::read(&kept).unwrap())).unwrap()
        }
        Spoil::Settings => config.evidence.prior_accuracy = 0.7,
        Spoil::AnotherStore { groups } => {
            let db = open(other.path(), &config);
            write(&db, claims(groups, "b"));
            drop(db);
            std::fs::copy(&kept, other.path().join(RELIABILITY_FILE)).unwrap();
            target = other.path().to_owned();
        }
    }
    let db = open(&target, &config);
    match db.reliability_at_open() {
        ReliabilityAtOpen::Refused { reason: got } => {
            assert!(
                got.contains(reason),
                "{name}: refused for {got:?}, not {reason:?}"
            )
        }
        found => panic!("{name}: {found:?}, not refused"),
    }
    assert_eq!(
        db.reliability().unwrap().sequence,
        0,
        "{name}: a table in use"
    );
}

#[rustfmt::skip]
#[test]
fn a_kept_table_that_is_damaged_or_not_this_logs_is_refused() {
    fn flip_in_body(mut bytes: Vec<u8>) -> Vec<u8> {
        let at = bytes.len() - 10;
        bytes[at] ^= 0x01;
        bytes
    }
    fn first_line_only(bytes: Vec<u8>) -> Vec<u8> {
        bytes.split(|b| *b == b'\n').next().unwrap().to_vec()
    }
    fn not_this_file(_: Vec<u8>) -> Vec<u8> {
        b"hello\nworld\n".to_vec()
    }
    check("a byte flipped", Spoil::Bytes(flip_in_body), "checksum");
    check("cut short", Spoil::Bytes(first_line_only), "two lines");
    check("another file", Spoil::Bytes(not_this_file), "first line");
    check("other settings", Spoil::Settings, "other evidence or truth settings");
    check("another log, as long", Spoil::AnotherStore { groups: 12 }, "does not hold the record");
    check("another log, shorter", Spoil::AnotherStore { groups: 2 }, "does not hold the record");
}

/// `stemedb serve` on `dir` with its log (stderr) in `log`, until `line` is in it; the server
/// is stopped (SIGTERM) before returning the log's text.
fn serve_until_logged(dir: &Path, log: &Path, line: &str) -> String {
    use crate::child::ChildServer;
    use std::time::{Duration, Instant};
    let file = std::fs::File::create(log).unwrap();
    let server = ChildServer::start_logged(dir, &[], file.into());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    while !text.contains(line) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        text = std::fs::read_to_string(log).unwrap();
    }
    // The refresher's first refresh follows the line at once: a pass it made would be logged.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(server.terminate(), Some(0), "a clean stop");
    assert!(
        text.contains(line),
        "no {line:?} in the log within 60 s:\n{text}"
    );
    std::fs::read_to_string(log).unwrap()
}

/// A server started again on a store nobody wrote to since its last run, with the same
/// executable, uses the table that run kept and makes no pass; the first run, whose store had
/// no kept table, made one.
#[test]
fn a_server_restarted_on_an_unchanged_store_makes_no_pass() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let db = open(dir.path(), &config());
    write(&db, claims(12, "serve"));
    drop(db);
    let refreshed = "reliability table refreshed sequence=36";
    serve_until_logged(dir.path(), &logs.path().join("first.log"), refreshed);
    let second = serve_until_logged(
        dir.path(),
        &logs.path().join("second.log"),
        "covers the log: in use without a pass sequence=36",
    );
    assert!(!second.contains("reliability table refreshed"), "{second}");
}

/// Derived state rebuilt in place (the index rebuild, which repairs damaged indexes under its
/// own settings; a re-derivation at open) forgets the kept table: one made over the state
/// before may not be what a pass over the state after computes, whatever build kept it.
fn check_forgotten(name: &str, rebuild: fn(&Path)) {
    let (dir, _, kept) = kept_store_by(12, Some("b1"));
    rebuild(dir.path());
    assert!(!kept.exists(), "{name}: the kept table is gone");
    let db = open(dir.path(), &config());
    db.set_build("b1".to_owned());
    assert_eq!(
        db.reliability_at_open(),
        &ReliabilityAtOpen::Missing,
        "{name}"
    );
    assert_eq!(db.reliability_read_back_current(), None, "{name}");
}

#[test]
fn rebuilding_derived_state_in_place_forgets_the_kept_table() {
    check_forgotten("rebuild-indexes", |dir| {
        open(dir, &config())
            .rebuild_indexes(&mut |_, _| {})
            .unwrap();
    });
    check_forgotten("re-derivation at open", |dir| {
        let config = DbConfig {
            rederive_truth: true,
            ..config()
        };
        drop(open(dir, &config));
    });
}

/// A kept table that cannot be deleted (here a directory in its place, which no one, root
/// included, can unlink) stops a rebuild in place (a restore: the test below) before it starts, with an I/O error naming
/// the path: rebuilt state beside a table made over the old one would be trusted at the next
/// open. The store is left as it was and opens as before.
fn check_undeletable(name: &str, rebuild: fn(&Path) -> Result<(), stemedb::DbError>) {
    let (dir, _, kept) = kept_store_by(4, Some("b1"));
    std::fs::remove_file(&kept).unwrap();
    std::fs::create_dir(&kept).unwrap();
    std::fs::write(kept.join("inside"), b"x").unwrap();
    match rebuild(dir.path()) {
        Err(stemedb::DbError::Store(stemedb::StoreError::Io { path, .. })) => {
            assert_eq!(path, kept, "{name}: the error names the kept table's path");
        }
        other => panic!(
            "{name}: an I/O error naming {}, got {other:?}",
            kept.display()
        ),
    }
    assert!(kept.join("inside").exists(), "{name}: left as it was");
    let db = open(dir.path(), &config());
    assert!(
        matches!(db.reliability_at_open(), ReliabilityAtOpen::Refused { reason } if reason.contains("could not be read")),
        "{name}: {:?}",
        db.reliability_at_open()
    );
    assert_eq!(db.reliability_read_back_current(), None, "{name}");
}

#[test]
fn a_kept_table_that_cannot_be_deleted_stops_a_rebuild_in_place() {
    check_undeletable("rebuild-indexes", |dir| {
        open(dir, &config()).rebuild_indexes(&mut |_, _| {})?;
        Ok(())
    });
    check_undeletable("re-derivation at open", |dir| {
        let config = DbConfig {
            rederive_truth: true,
            ..config()
        };
        Db::open_with_clock(dir, config, Arc::new(SystemClock) as Arc<dyn Clock>)?;
        Ok(())
    });
}

/// A restore into an empty directory forgets a table left there, and one it cannot delete
/// stops it by name; a restore refused (the directory is not empty) changes nothing, the kept
/// table included.
#[test]
fn a_restore_forgets_a_kept_table_only_when_it_can_restore() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join(RELIABILITY_FILE);
    std::fs::create_dir(&kept).unwrap();
    std::fs::write(kept.join("inside"), b"x").unwrap();
    match open(dir.path(), &config()).restore(Vec::new(), &[], &mut |_| {}) {
        Err(stemedb::DbError::Store(stemedb::StoreError::Io { path, .. })) => {
            assert_eq!(path, kept);
        }
        other => panic!("an I/O error naming {}, got {other:?}", kept.display()),
    }
    let (dir, _, kept) = kept_store_by(4, Some("b1"));
    let before = std::fs::read(&kept).unwrap();
    let refused = open(dir.path(), &config()).restore(Vec::new(), &[], &mut |_| {});
    assert!(
        refused.is_err(),
        "a restore into a store holding records is refused"
    );
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        before,
        "the kept table is left as it was"
    );
}
