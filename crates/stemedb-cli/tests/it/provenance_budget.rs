//! A provenance answer lists at most `provenance_records_max` records (nodes and sources'
//! describing records together), and says `truncated` where that cut it short: one request
//! once read and verified every record describing a source, again for every node citing it.
use serde_json::{Value, json};
use stemedb::core::AssertionId;
use stemedb::{Bound, Db, DbConfig, DbError};

use crate::harness::{body, key, signed};

/// Records describing the one source every node cites.
const DESCRIBING: usize = 30;

struct Case {
    name: &'static str,
    budget: usize,
    /// Records the answer lists: nodes and describing records.
    listed: usize,
    root_truncated: bool,
}

const CASES: &[Case] = &[
    // The root, its source (30), two parents each with the source again: 1 + 30 + 2 × 31.
    Case {
        name: "room for everything",
        budget: 1_000,
        listed: 93,
        root_truncated: false,
    },
    Case {
        name: "exactly enough",
        budget: 93,
        listed: 93,
        root_truncated: false,
    },
    // The root, its source whole, the first parent and 8 of its source; no room for the second.
    Case {
        name: "cut in the first parent's source",
        budget: 40,
        listed: 40,
        root_truncated: true,
    },
    Case {
        name: "cut in the root's source",
        budget: 10,
        listed: 10,
        root_truncated: true,
    },
    Case {
        name: "the root alone",
        budget: 1,
        listed: 1,
        root_truncated: true,
    },
];

/// Writes one record of `agent` and returns its id.
fn write(db: &Db, seed: u8, subject: &str, extra: &[(&str, Value)]) -> String {
    let k = key(seed);
    let mut b = body(&k, &format!("prov/agent-{seed}"), subject, "p", json!(seed));
    for (field, value) in extra {
        b.insert((*field).into(), value.clone());
    }
    db.ingest_one(signed(b, &k)).unwrap().id
}

/// Nodes and describing records in a provenance answer, and whether any node is truncated.
fn listed(node: &Value) -> usize {
    let sources: usize = node["sources"].as_array().map_or(0, |s| {
        s.iter()
            .map(|s| s["assertions"].as_array().map_or(0, Vec::len))
            .sum()
    });
    let parents: usize = node["derived_from"]
        .as_array()
        .map_or(0, |p| p.iter().map(listed).sum());
    1 + sources + parents
}

fn check(case: &Case) {
    let name = case.name;
    let dir = tempfile::tempdir().unwrap();
    let config = DbConfig {
        provenance_records_max: case.budget,
        ..DbConfig::default()
    };
    let db = Db::open(dir.path(), config).unwrap();
    for i in 0..DESCRIBING {
        write(&db, 100 + i as u8, "source/BIG", &[]);
    }
    let cites = ("sources", json!(["source/BIG"]));
    let first = write(&db, 1, "prov/first", std::slice::from_ref(&cites));
    let second = write(&db, 2, "prov/second", std::slice::from_ref(&cites));
    let root = write(
        &db,
        3,
        "prov/root",
        &[cites, ("derived_from", json!([first, second]))],
    );
    let id = root.parse::<AssertionId>().unwrap();
    let tree = db.provenance(&id, Bound::latest(), None).unwrap().unwrap();
    let tree = serde_json::to_value(&tree).unwrap();
    assert_eq!(listed(&tree), case.listed, "{name}: records listed");
    assert_eq!(
        tree["truncated"] == json!(true),
        case.root_truncated,
        "{name}: {tree}"
    );
}

#[test]
fn a_provenance_answer_lists_at_most_its_budget_and_says_where_it_was_cut() {
    CASES.iter().for_each(check);
}

#[test]
fn a_provenance_walk_past_its_deadline_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbConfig::default()).unwrap();
    // More describing records than the walk reads between two looks at the clock.
    let describing: Vec<Value> = (0..stemedb::DEADLINE_EVERY + 1)
        .map(|i| {
            let k = key(100);
            let b = body(
                &k,
                "prov/describer",
                "source/BIG",
                &format!("p{i}"),
                json!(i),
            );
            signed(b, &k)
        })
        .collect();
    for result in db.ingest_batch(describing).unwrap() {
        result.unwrap();
    }
    let root = write(&db, 3, "prov/root", &[("sources", json!(["source/BIG"]))]);
    let id = root.parse::<AssertionId>().unwrap();
    let past = std::time::Instant::now();
    match db.provenance(&id, Bound::latest(), Some(past)) {
        Err(DbError::DeadlineExceeded { work }) => assert_eq!(work, "provenance"),
        Err(other) => panic!("expected the walk stopped at its deadline, got {other}"),
        Ok(_) => panic!("expected the walk stopped at its deadline, got an answer"),
    }
    assert!(db.provenance(&id, Bound::latest(), None).unwrap().is_some());
}

/// A source described by one group too large for its summary (its records keyed one by one in
/// `by_subject`) is read only as far as the budget needs, and the answer lists its earliest
/// records, as a whole read sorted by sequence would.
#[test]
fn a_large_describing_group_is_listed_from_its_earliest_records() {
    const LARGE: usize = 100; // above the 64 sequences a group's summary holds
    let dir = tempfile::tempdir().unwrap();
    let config = DbConfig {
        provenance_records_max: 10,
        ..DbConfig::default()
    };
    let db = Db::open(dir.path(), config).unwrap();
    let describing: Vec<String> = (0..LARGE)
        .map(|i| write(&db, 100 + i as u8, "source/LARGE", &[]))
        .collect();
    let root = write(&db, 3, "prov/root", &[("sources", json!(["source/LARGE"]))]);
    let id = root.parse::<AssertionId>().unwrap();
    let tree = db.provenance(&id, Bound::latest(), None).unwrap().unwrap();
    let tree = serde_json::to_value(&tree).unwrap();
    let listed: Vec<&str> = tree["sources"][0]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["assertion"]["id"].as_str().unwrap())
        .collect();
    let earliest: Vec<&str> = describing[..9].iter().map(String::as_str).collect();
    assert_eq!(
        listed, earliest,
        "the root and the source's 9 earliest: {tree}"
    );
    assert_eq!(tree["truncated"], json!(true), "{tree}");
}
