//! Differential tests of the fast paths for large groups against the simple definitions, on
//! random groups from a seeded generator; a failure prints its seed (docs/lenses.md §Cost).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::cmp::Ordering;

use serde_json::{Value, json};
use stemedb_core::{AssertionId, SplitMix64, Timestamp};
use stemedb_lens::{
    Candidate, LensContext, LensKind, cluster_key, conflict_score, conflict_score_pairwise, rank,
    value_distance,
};

const NOW: LensContext = LensContext {
    now: Timestamp::from_micros(0),
};

/// One random group: (value, confidence, trust, day, agent) per assertion.
struct Group {
    rows: Vec<(Value, f64, f64, i64, String)>,
}

/// Values drawn from a small pool, so that groups have repeats, equal numbers spelled two ways,
/// both signs, zero, and (for `mixed`) strings, booleans and objects.
fn random_value(rng: &mut SplitMix64, mixed: bool, spread: u64) -> Value {
    let pick = rng.next_u64() % if mixed { 10 } else { 7 };
    let n = (rng.next_u64() % spread) as i64;
    match pick {
        0 => json!(n),
        1 => json!(n as f64),
        2 => json!(-(n as f64) / 4.0),
        3 => json!(0),
        4 => json!(-0.0),
        5 => json!(1000.0 + (n as f64) * 1e-6),
        6 => json!((n as f64) * 0.37),
        7 => json!(format!("v{}", n % 5)),
        8 => json!(n % 2 == 0),
        _ => json!({"mg": n % 3}),
    }
}

fn random_group(seed: u64) -> Group {
    let mut rng = SplitMix64::new(seed);
    let len = 1 + (rng.next_u64() % 300) as usize;
    let mixed = rng.next_u64().is_multiple_of(3);
    let spread = 1 + rng.next_u64() % 500;
    let zero_weights = rng.next_u64().is_multiple_of(10);
    let rows = (0..len)
        .map(|i| {
            let value = random_value(&mut rng, mixed, spread);
            let confidence = if zero_weights {
                0.0
            } else {
                (rng.next_u64() % 1001) as f64 / 1000.0
            };
            let trust = [0.1, 0.5, 0.9, 1.0][(rng.next_u64() % 4) as usize];
            let day = (rng.next_u64() % 50) as i64;
            (value, confidence, trust, day, format!("agent-{i}"))
        })
        .collect();
    Group { rows }
}

fn candidates(group: &Group) -> Vec<Candidate<'_>> {
    group
        .rows
        .iter()
        .enumerate()
        .map(|(i, (value, confidence, trust, day, agent))| Candidate {
            id: AssertionId::of_canonical(format!("{agent}/{i}").as_bytes()),
            sequence: i as u64 + 1,
            timestamp: Timestamp::from_micros(day * 86_400_000_000),
            confidence: *confidence,
            trust: *trust,
            value,
            agent_id: agent,
            vote_balance: 0.0,
            gold: false,
            rooted: false,
            accuracy: 0.6,
            copy_of: None,
        })
        .collect()
}

fn by_authority(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    b.weight()
        .total_cmp(&a.weight())
        .then(b.timestamp.cmp(&a.timestamp))
        .then(b.sequence.cmp(&a.sequence))
        .then_with(|| a.id.cmp(&b.id))
}

/// The consensus order as first written: the distance to the winning value recomputed (with its
/// string key) inside the comparator.
fn consensus_order_simple(cands: &[Candidate<'_>], winner: &Value) -> Vec<usize> {
    let key = cluster_key(winner);
    let distance = |c: &Candidate<'_>| {
        if cluster_key(c.value) == key {
            0.0
        } else {
            value_distance(c.value, winner).max(f64::MIN_POSITIVE)
        }
    };
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by(|&a, &b| {
        distance(&cands[a])
            .total_cmp(&distance(&cands[b]))
            .then_with(|| by_authority(&cands[a], &cands[b]))
    });
    order
}

/// Checks the fast conflict score and consensus order of one random group against the simple
/// ones; the message names the seed that replays it.
fn check(seed: u64) {
    let group = random_group(seed);
    let cands = candidates(&group);
    let fast = conflict_score(&cands);
    let simple = conflict_score_pairwise(&cands);
    assert!(
        (fast - simple).abs() <= 1e-9,
        "seed {seed}: conflict score {fast} (fast) != {simple} (pairwise), {} assertions",
        cands.len()
    );
    let ranking = rank(LensKind::Consensus, &cands, &NOW);
    let winner = cands[ranking.order[0]].value;
    assert_eq!(
        ranking.order,
        consensus_order_simple(&cands, winner),
        "seed {seed}: consensus order"
    );
    assert_eq!(
        ranking.conflict_score, fast,
        "seed {seed}: the ranking carries the score"
    );
}

#[test]
fn the_fast_conflict_score_and_consensus_order_equal_the_simple_ones() {
    // A seed that is set but no number fails, rather than running the default unannounced.
    let base = std::env::var("STEMEDB_DIFF_SEED").map_or(20_261_201, |s| {
        s.trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("STEMEDB_DIFF_SEED={s:?} is not a whole number"))
    });
    for i in 0..500 {
        check(base.wrapping_add(i));
    }
}

/// (name, (value, confidence) per assertion, the score).
type Case = (&'static str, Vec<(Value, f64)>, f64);

#[test]
fn known_scores_survive_the_fast_path() {
    let table: [Case; 6] = [
        (
            "two equal camps, far apart",
            vec![(json!(1), 1.0), (json!(-1), 1.0)],
            1.0,
        ),
        ("one value", vec![(json!(5), 1.0), (json!(5.0), 1.0)], 0.0),
        (
            "same sign: d = 1 - 50/100",
            vec![(json!(50), 1.0), (json!(100), 1.0)],
            0.5,
        ),
        (
            "zero against a number",
            vec![(json!(0), 1.0), (json!(7), 1.0)],
            1.0,
        ),
        (
            "strings",
            vec![(json!("a"), 1.0), (json!("b"), 1.0), (json!("a"), 2.0)],
            2.0 * 2.0 * 3.0 / 16.0,
        ),
        (
            "negatives: d = 1 - 2/8",
            vec![(json!(-2), 1.0), (json!(-8), 1.0)],
            0.75,
        ),
    ];
    for (name, rows, want) in table {
        let group = Group {
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(i, (v, c))| (v, c, 1.0, 0, format!("a{i}")))
                .collect(),
        };
        let got = conflict_score(&candidates(&group));
        assert!((got - want).abs() <= 1e-12, "{name}: {got} != {want}");
    }
}
