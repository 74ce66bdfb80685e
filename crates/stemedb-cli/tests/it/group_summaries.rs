//! The `groups` keyspace (a named group's sequences in one point read; a subject's or a
//! prefix's groups walked a key a group) against the writes' own record of which sequence
//! went to which group (`Model`). Seeded batches of writes whose groups cross the summary's
//! size limit (64) are answered after every batch, at the latest sequence and in the past: a
//! query naming the group, the same query without the predicate (cut to the group), and a
//! walk of every group two a page, with and without a predicate. Then across a reopen, a
//! rebuild, an upgrade from format 3 (the keyspace removed, `FORMAT` set back), and a format 3
//! directory whose upgrade failed (walked in `by_subject`, a key a record), with `check`
//! holding the summaries to `by_subject`; a damaged summary is refused by name by a read, a
//! scan and `check`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use stemedb::core::{SecretKey, SplitMix64};
use stemedb::{Db, DbConfig, DbError, LensKind, Query, StoreError, SystemClock};
use stemedb_client::Draft;

use crate::harness::open_retrying;

/// Groups written; group 0 takes a share of every batch, so it passes the summary's limit.
const GROUPS: u64 = 12;
const BATCHES: u64 = 20;
const BATCH_LEN: u64 = 12;
/// A subject with a predicate of its own (the scan of the subject must cut it out).
const SUBJECT: &str = "sum/s";
/// Two groups a subject; `s1` is a prefix of `s10`, and `s2` of `s20` (a walk of `s1` must
/// not reach `s10`'s groups, whose keys sort after `s1`'s since names hold no `0x00`).
const SUBJECT_NUMBERS: [u64; 6] = [0, 1, 10, 2, 20, 3];

fn subject(group: u64) -> String {
    format!("{SUBJECT}{}", SUBJECT_NUMBERS[(group / 2) as usize])
}

/// `p0` and `p1` for the first six groups; `p1` and `p1x` (a prefix and its extension) after.
fn predicate(group: u64) -> String {
    let names = if group < 6 {
        ["p0", "p1"]
    } else {
        ["p1", "p1x"]
    };
    names[(group % 2) as usize].to_owned()
}

fn open(dir: &Path) -> Db {
    open_retrying(dir, DbConfig::default(), Arc::new(SystemClock))
}

/// Each group's sequences, as the writes answered them.
type Model = Vec<Vec<u64>>;

/// A batch: each item in a random group (group 0 for every third), by one of four agents.
fn batch(rng: &mut SplitMix64, keys: &[SecretKey], n: u64) -> Vec<(u64, Value)> {
    (0..BATCH_LEN)
        .map(|i| {
            let group = if i % 3 == 0 {
                0
            } else {
                rng.next_u64() % GROUPS
            };
            let agent = (rng.next_u64() % 4) as usize;
            let value = json!(n * BATCH_LEN + i);
            let wire = Draft::new(
                &format!("sum/agent-{agent}"),
                &subject(group),
                &predicate(group),
                value,
                "2026-01-01T00:00:00Z",
            )
            .sign(&keys[agent])
            .unwrap();
            (group, wire)
        })
        .collect()
}

/// Every record of a group, answered by the query's own path, as sequences.
fn sequences(db: &Db, group: u64, named: bool, at: u64) -> Result<Vec<u64>, DbError> {
    let mut query = Query::new(subject(group));
    if named {
        query.predicate = Some(predicate(group));
    }
    query.lens = LensKind::Recency;
    query.include_superseded = true;
    query.assertions_limit = Some(1_000);
    query.at_sequence = Some(at);
    let answer = db.query(&query)?;
    let mut seqs: Vec<u64> = answer
        .groups
        .iter()
        .filter(|g| g.predicate == predicate(group))
        .flat_map(|g| g.assertions.iter().map(|r| r.sequence))
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// The named read and the subject scan answer every group alike, now and at two past
/// sequences (where no `Model` is kept: after writes outside `written`).
fn check(db: &Db, label: &str) {
    let last = db.last_sequence();
    for at in [last, last / 2, 1] {
        for group in 0..GROUPS {
            let summary = sequences(db, group, true, at).unwrap();
            let scan = sequences(db, group, false, at).unwrap();
            assert_eq!(summary, scan, "{label}: group {group} at sequence {at}");
        }
    }
}

/// Every group under `sum/` (of `predicate` alone when given), walked two groups a page by the
/// query's cursors, at `at`.
fn walked(db: &Db, at: u64, predicate: Option<&str>) -> Vec<((String, String), Vec<u64>)> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let mut query = Query::new("sum/*");
        query.predicate = predicate.map(str::to_owned);
        query.lens = LensKind::Recency;
        query.include_superseded = true;
        query.assertions_limit = Some(1_000);
        query.at_sequence = Some(at);
        query.limit = Some(2);
        query.cursor = cursor;
        let answer = db.query(&query).unwrap();
        for group in &answer.groups {
            let mut seqs: Vec<u64> = group.assertions.iter().map(|r| r.sequence).collect();
            seqs.sort_unstable();
            out.push(((group.subject.clone(), group.predicate.clone()), seqs));
        }
        match answer.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

/// Both paths of each group, and the walk of every group, answer as `model`, now and at two
/// past sequences.
fn check_model(db: &Db, model: &Model, label: &str) {
    let last = db.last_sequence();
    for at in [last, last / 2, 1] {
        let upto = |g: u64| -> Vec<u64> {
            model[g as usize]
                .iter()
                .copied()
                .filter(|s| *s <= at)
                .collect()
        };
        let mut want: Vec<((String, String), Vec<u64>)> = (0..GROUPS)
            .map(|g| ((subject(g), predicate(g)), upto(g)))
            .filter(|(_, seqs)| !seqs.is_empty())
            .collect();
        want.sort();
        for group in 0..GROUPS {
            let named = sequences(db, group, true, at).unwrap();
            let scanned = sequences(db, group, false, at).unwrap();
            assert_eq!(named, upto(group), "{label}: group {group} named at {at}");
            assert_eq!(
                scanned,
                upto(group),
                "{label}: group {group} scanned at {at}"
            );
        }
        assert_eq!(
            walked(db, at, None),
            want,
            "{label}: every group, paged, at {at}"
        );
        let p1: Vec<_> = want
            .iter()
            .filter(|((_, p), _)| p == "p1")
            .cloned()
            .collect();
        assert_eq!(
            walked(db, at, Some("p1")),
            p1,
            "{label}: every p1 group, paged, at {at}"
        );
    }
}

fn check_passes(db: &Db, label: &str) -> (u64, u64) {
    let report = db.check(&mut |_, _| {}).unwrap();
    assert!(report.ok(), "{label}: {:?}", report.problems);
    let groups = report.indexes.iter().find(|(name, _, _)| *name == "groups");
    let &(_, found, want) = groups.unwrap_or_else(|| panic!("{label}: groups not checked"));
    assert_eq!(found, want, "{label}");
    (found, want)
}

/// Writes the seeded batches, checking both paths after each; returns the open Db and what
/// the writes answered.
fn written(dir: &Path, seed: u64) -> (Db, Model) {
    let mut rng = SplitMix64::new(seed);
    let keys: Vec<SecretKey> = (0..4u8)
        .map(|i| SecretKey::from_seed(&[i + 1; 32]))
        .collect();
    let db = open(dir);
    let mut model: Model = vec![Vec::new(); GROUPS as usize];
    for n in 0..BATCHES {
        let (groups, wires): (Vec<u64>, Vec<Value>) = batch(&mut rng, &keys, n).into_iter().unzip();
        for (group, result) in groups.into_iter().zip(db.ingest_batch(wires).unwrap()) {
            model[group as usize].push(result.unwrap().sequence);
        }
        let label = format!("seed {seed:#x}, batch {n}");
        check(&db, &label);
        check_model(&db, &model, &label);
    }
    let large = sequences(&db, 0, true, db.last_sequence()).unwrap().len();
    assert!(large > 64, "group 0 passes the summary's limit ({large})");
    (db, model)
}

#[test]
fn a_named_group_reads_its_summary_and_answers_as_the_scan() {
    for seed in [0x6A0, 0x6A1, 0x6A2] {
        let dir = tempfile::tempdir().unwrap();
        let (db, model) = written(dir.path(), seed);
        drop(db);
        // `check` holds the log to the state found at open, so it runs on a reopened Db.
        let db = open(dir.path());
        check_model(&db, &model, "reopened");
        let (groups, _) = check_passes(&db, "reopened");
        assert_eq!(groups, GROUPS, "one summary per group");
        db.rebuild_indexes(&mut |_, _| {}).unwrap();
        check_model(&db, &model, "rebuilt");
        check_passes(&db, "rebuilt");
    }
}

fn format_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("FORMAT")).unwrap()
}

/// Every record of `model` as (subject, predicate, sequence).
fn records_of(model: &Model) -> Vec<(String, String, u64)> {
    (0..GROUPS)
        .flat_map(|g| {
            model[g as usize]
                .iter()
                .map(move |s| (subject(g), predicate(g), *s))
        })
        .collect()
}

/// Makes `dir` a directory of format `version` as that release wrote it.
fn make_format(dir: &Path, version: u32, model: &Model) {
    crate::harness::as_older_format(dir, version, &records_of(model));
}

#[test]
fn a_format_3_directory_gets_its_summaries_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (db, model) = written(dir.path(), 0x6B0);
    drop(db);
    make_format(dir.path(), 3, &model);
    let db = open(dir.path());
    assert_eq!(format_of(dir.path()), "stemedb-format 5\n");
    assert_eq!(db.format_upgrade_failed(), None);
    check_model(&db, &model, "upgraded");
    let (groups, _) = check_passes(&db, "upgraded");
    assert_eq!(groups, GROUPS);
}

/// A format 4 directory (every record keyed in `by_subject`) opens as format 5 with nothing
/// rewritten: its small groups' keys stay, unread, and `check` accepts them as long as their
/// summaries list them; the writer adds no more of them.
#[test]
fn a_format_4_directory_opens_as_format_5_and_keeps_checking_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (db, model) = written(dir.path(), 0x6B4);
    drop(db);
    make_format(dir.path(), 4, &model);
    let db = open(dir.path());
    assert_eq!(format_of(dir.path()), "stemedb-format 5\n");
    check_model(&db, &model, "format 4 opened");
    check_passes(&db, "format 4 opened");
    for n in 0..3 {
        assert!(append_to_group_1(&db, n) > 0);
    }
    check(&db, "written after the upgrade");
    drop(db);
    let db = open(dir.path());
    let (groups, _) = check_passes(&db, "reopened after the upgrade");
    assert_eq!(groups, GROUPS);
}

/// A format 4 directory whose `FORMAT` cannot be rewritten (its temporary file's path taken by
/// a directory) opens, says why it stays format 4, and is written as format 4 (every record
/// keyed in `by_subject`), which the release before reads whole.
#[test]
fn a_format_4_directory_whose_upgrade_fails_is_written_as_format_4() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut model) = written(dir.path(), 0x6B8);
    drop(db);
    make_format(dir.path(), 4, &model);
    std::fs::create_dir(dir.path().join("FORMAT.tmp")).unwrap();
    let db = open(dir.path());
    assert_eq!(format_of(dir.path()), "stemedb-format 4\n", "not upgraded");
    assert!(db.format_upgrade_failed().is_some(), "the open says why");
    let late = append_to_group_1(&db, 0);
    model[1].push(late);
    check_model(&db, &model, "format 4, written to");
    drop(db);
    let mut keyed = false;
    edit_keyspace(dir.path(), "by_subject", |ks| {
        keyed = ks.contains_key(by_subject_key(1, late)).unwrap()
    });
    assert!(keyed, "a small group's new record is keyed in by_subject");
}

/// Puts `value` as the summary of group 1 (`sum/s0`, `p1`).
fn damage_summary(dir: &Path, value: &[u8]) {
    let db = fjall::Database::builder(dir.join("engine")).open().unwrap();
    let groups = db
        .keyspace("groups", fjall::KeyspaceCreateOptions::default)
        .unwrap();
    groups.insert(b"sum/s0\0p1\0", value).unwrap();
    db.persist(fjall::PersistMode::SyncAll).unwrap();
}

#[test]
fn a_damaged_summary_is_named_by_a_read_and_by_check() {
    let cases: [(&str, &[u8], bool); 3] = [
        ("not whole sequences", &[1, 2, 3], true),
        (
            "out of order",
            &[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 2],
            true,
        ),
        // A sequence that is not the group's: the read cannot tell, `check` can.
        ("another group's sequence", &[0, 0, 0, 0, 0, 0, 0, 1], false),
    ];
    for (name, value, read_refuses) in cases {
        let dir = tempfile::tempdir().unwrap();
        drop(written(dir.path(), 0x6C0).0);
        damage_summary(dir.path(), value);
        let db = open(dir.path());
        for named in [true, false] {
            let read = sequences(&db, 1, named, db.last_sequence());
            if read_refuses {
                assert!(
                    matches!(
                        read,
                        Err(DbError::Store(StoreError::CorruptIndex {
                            index: "groups",
                            ..
                        }))
                    ),
                    "{name}, named {named}: {read:?}"
                );
            }
        }
        let report = db.check(&mut |_, _| {}).unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("groups")),
            "{name}: {:?}",
            report.problems
        );
    }
}

/// A format 3 directory whose `by_subject` is damaged still opens (the build is skipped, the
/// format stays 3, groups are scanned); `check` names the damage and `rebuild-indexes`
/// repairs it, after which the next open builds the summaries.
#[test]
fn a_damaged_format_3_directory_opens_and_is_repaired_by_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let (db, model) = written(dir.path(), 0x6D0);
    drop(db);
    make_format(dir.path(), 3, &model);
    crate::harness::write_engine_keys(dir.path(), "by_subject", &[(b"x", &[])]);
    let db = open(dir.path());
    assert_eq!(format_of(dir.path()), "stemedb-format 3\n", "not upgraded");
    // Summaries not whole: groups are walked in `by_subject`, a key a record (the damaged
    // key sorts after every `sum/` key).
    check_model(&db, &model, "format 3, walked in by_subject");
    // The writer keys every record in `by_subject` while the summaries are not whole, or the
    // walk would miss this small group's new one.
    let mut model = model;
    model[1].push(append_to_group_1(&db, 0));
    check_model(&db, &model, "format 3, written to");
    let why = db.format_upgrade_failed().unwrap_or_default();
    assert!(why.contains("by_subject"), "the open says why: {why:?}");
    assert!(
        !sequences(&db, 3, true, db.last_sequence())
            .unwrap()
            .is_empty()
    );
    let report = db.check(&mut |_, _| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("by_subject")),
        "{:?}",
        report.problems
    );
    db.rebuild_indexes(&mut |_, _| {}).unwrap();
    assert_eq!(format_of(dir.path()), "stemedb-format 5\n", "rebuilt whole");
    drop(db);
    let db = open(dir.path());
    check_model(&db, &model, "repaired");
    check_passes(&db, "repaired");
}

/// Appends one record to group 1 (`sum/s0`, `p1`); returns its sequence.
fn append_to_group_1(db: &Db, n: u64) -> u64 {
    let key = SecretKey::from_seed(&[1; 32]);
    let wire = Draft::new(
        "sum/agent-0",
        &subject(1),
        &predicate(1),
        json!(format!("late {n}")),
        "2026-01-01T00:00:00Z",
    )
    .sign(&key)
    .unwrap();
    db.ingest_one(wire).unwrap().sequence
}

/// A rebuild repairs a summary the writer had extended (and remembered) while it was wrong;
/// the writer's next record of that group starts from the repaired one, not from its memory.
#[test]
fn a_rebuild_voids_what_the_writer_remembers_of_the_summaries() {
    let dir = tempfile::tempdir().unwrap();
    drop(written(dir.path(), 0x6E0).0);
    damage_summary(dir.path(), &[0, 0, 0, 0, 0, 0, 0, 1]);
    let db = open(dir.path());
    append_to_group_1(&db, 1);
    db.rebuild_indexes(&mut |_, _| {}).unwrap();
    append_to_group_1(&db, 2);
    check(&db, "after the rebuild");
    drop(db);
    let db = open(dir.path());
    check_passes(&db, "reopened after the rebuild");
}

/// Runs `edit` on the keyspace `name` of the engine in `dir` (no server on it), made durable.
fn edit_keyspace(dir: &Path, name: &str, edit: impl FnOnce(&fjall::Keyspace)) {
    let db = fjall::Database::builder(dir.join("engine")).open().unwrap();
    edit(
        &db.keyspace(name, fjall::KeyspaceCreateOptions::default)
            .unwrap(),
    );
    db.persist(fjall::PersistMode::SyncAll).unwrap();
}

/// `group`'s `by_subject` key of `sequence`.
fn by_subject_key(group: u64, sequence: u64) -> Vec<u8> {
    let mut key = format!("{}\0{}\0", subject(group), predicate(group)).into_bytes();
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// Damage to one index, applied to a written directory with its `Model`.
type Damage = fn(&Path, &Model);

/// Damage between the summaries and `by_subject` (group 0 is large, group 1 small), each named
/// by `check`.
#[test]
fn check_names_what_the_summaries_and_by_subject_disagree_on() {
    let cases: [(&str, Damage, &str); 5] = [
        (
            "a small group's key that its summary does not list",
            |dir, _| {
                edit_keyspace(dir, "by_subject", |ks| {
                    ks.insert(by_subject_key(1, 999_999), []).unwrap()
                })
            },
            "which its summary does not list",
        ),
        (
            "a large group's record without its key",
            |dir, model| {
                edit_keyspace(dir, "by_subject", |ks| {
                    ks.remove(by_subject_key(0, model[0][3])).unwrap()
                })
            },
            "index by_subject: no entry for sequence",
        ),
        (
            "a small group's summary that says large",
            |dir, _| damage_summary(dir, &[]),
            "says it is large",
        ),
        (
            "a group without its summary",
            |dir, _| edit_keyspace(dir, "groups", |ks| ks.remove(b"sum/s0\0p1\0").unwrap()),
            "no summary for sum/s0/p1",
        ),
        (
            "a summary without a group",
            |dir, model| {
                let listed = model[1][0].to_be_bytes();
                edit_keyspace(dir, "groups", |ks| {
                    ks.insert(b"sum/zz\0p\0", listed).unwrap()
                })
            },
            "holds 13 summaries; the log implies 12 groups",
        ),
    ];
    for (name, damage, named) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (db, model) = written(dir.path(), 0x6F0);
        drop(db);
        damage(dir.path(), &model);
        let db = open(dir.path());
        let report = db.check(&mut |_, _| {}).unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains(named)),
            "{name}: {:?}",
            report.problems
        );
    }
}
