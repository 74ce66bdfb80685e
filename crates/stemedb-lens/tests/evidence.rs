//! The evidence lens on one group: votes by earned accuracy, echoes of a copied agent not
//! counted, gold first, numbers by their vote-weighted median; and the reliability table's
//! earned accuracy, copies and anchors.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use serde_json::{Value, json};
use stemedb_core::{AssertionId, Timestamp};
use stemedb_lens::{
    AgentReliability, Candidate, EvidenceParams, FactClaim, FactEvidence, LensContext, LensKind,
    anchor_accuracy, claim_vote, earn_reliability, evidence_winners, fact_votes, rank,
};

/// (agent, value, accuracy, copy of, gold)
type Row = (&'static str, Value, f64, Option<&'static str>, bool);

fn candidates(rows: &[Row]) -> Vec<Candidate<'_>> {
    rows.iter()
        .enumerate()
        .map(|(i, (agent, value, accuracy, copy_of, gold))| Candidate {
            id: AssertionId::of_canonical(agent.as_bytes()),
            sequence: i as u64 + 1,
            timestamp: Timestamp::from_micros(i as i64 * 60_000_000),
            confidence: 0.9,
            trust: 0.1,
            value,
            agent_id: agent,
            vote_balance: 0.0,
            gold: *gold,
            rooted: false,
            accuracy: *accuracy,
            copy_of: *copy_of,
        })
        .collect()
}

/// The evidence lens must rank `rows` with `winner`'s claim first, every claim ranked.
fn check(name: &str, rows: &[Row], winner: &str) {
    let cands = candidates(rows);
    let context = LensContext {
        now: Timestamp::from_micros(0),
    };
    let ranking = rank(LensKind::Evidence, &cands, &context);
    assert_eq!(
        ranking.order.len(),
        rows.len(),
        "{name}: every claim ranked"
    );
    assert_eq!(
        cands[ranking.order[0]].agent_id, winner,
        "{name}: {}",
        ranking.explanation
    );
    assert!(ranking.explanation.starts_with("evidence: "), "{name}");
}

#[test]
fn the_evidence_lens_picks_its_winners() {
    let cases: Vec<(&str, Vec<Row>, &str)> = vec![
        (
            "two accurate agents outvote three poor ones",
            vec![
                ("a", json!("x"), 0.9, None, false),
                ("b", json!("x"), 0.85, None, false),
                ("c", json!("y"), 0.4, None, false),
                ("d", json!("y"), 0.4, None, false),
                ("e", json!("y"), 0.4, None, false),
            ],
            "a",
        ),
        (
            "an echo of a copied agent is not counted",
            vec![
                ("leader", json!("x"), 0.7, None, false),
                ("copy", json!("x"), 0.7, Some("leader"), false),
                ("other", json!("y"), 0.75, None, false),
            ],
            "other",
        ),
        (
            "the same claims without the copy mark: two votes beat one",
            vec![
                ("leader", json!("x"), 0.7, None, false),
                ("copy", json!("x"), 0.7, None, false),
                ("other", json!("y"), 0.75, None, false),
            ],
            "copy", // "x" wins; between equals, the later claim first (as authority ranks)
        ),
        (
            "a copy that disagrees with its source counts",
            vec![
                ("leader", json!("x"), 0.7, None, false),
                ("copy", json!("y"), 0.7, Some("leader"), false),
                ("other", json!("y"), 0.7, None, false),
            ],
            "other", // "y" wins with both votes
        ),
        (
            "a gold mark wins over any vote",
            vec![
                ("a", json!("x"), 0.99, None, false),
                ("b", json!("x"), 0.99, None, false),
                ("curated", json!("y"), 0.2, None, true),
            ],
            "curated",
        ),
        (
            "numbers: the vote-weighted median, not the plurality",
            vec![
                ("low", json!(5), 0.6, None, false),
                ("mid", json!(10), 0.9, None, false),
                ("high", json!(20), 0.6, None, false),
                ("high2", json!(20), 0.5, None, false),
            ],
            "mid",
        ),
    ];
    for (name, rows, winner) in &cases {
        check(name, rows, winner);
    }
}

#[test]
fn a_vote_grows_with_accuracy_and_is_never_negative() {
    let votes: Vec<f64> = [0.01, 0.2, 0.34, 0.5, 0.7, 0.9, 0.99, 1.0]
        .iter()
        .map(|p| claim_vote(*p, 2))
        .collect();
    assert!(
        votes.windows(2).all(|w| w[0] <= w[1]),
        "monotone: {votes:?}"
    );
    assert_eq!(votes[0], 0.0, "an agent mostly wrong casts no vote");
    assert!(votes.iter().all(|v| v.is_finite() && *v >= 0.0));
    // More values to be wrong among make agreement on one more telling.
    assert!(claim_vote(0.7, 5) > claim_vote(0.7, 2));
}

// The reliability table: earned accuracy, copies, anchors.

const MINUTE: i64 = 60_000_000;

/// A fact of `values` values with claims (agent, value, minute).
fn fact(values: usize, claims: &[(usize, usize, i64)]) -> FactEvidence {
    FactEvidence {
        values,
        claims: claims
            .iter()
            .map(|&(agent, value, minute)| FactClaim {
                agent,
                value,
                time_micros: minute * MINUTE,
            })
            .collect(),
        ..FactEvidence::default()
    }
}

fn earn(agents: usize, anchors: &[Option<f64>], facts: &[FactEvidence]) -> Vec<AgentReliability> {
    earn_reliability(agents, anchors, facts, &EvidenceParams::default())
}

/// Agents 0 and 1 agree on twelve facts, agent 2 never does; agent 3 repeats agent 2 a
/// minute after it every time; agent 4 speaks once.
fn world() -> Vec<FactEvidence> {
    let mut facts: Vec<FactEvidence> = (0..12)
        .map(|i| {
            fact(
                3,
                &[
                    (0, 0, i * 100),
                    (1, 0, i * 100 + 90),
                    (2, 1, i * 100 + 5),
                    (3, 1, i * 100 + 6),
                ],
            )
        })
        .collect();
    facts.push(fact(3, &[(4, 2, 5000), (0, 0, 5000)]));
    facts
}

#[test]
fn accuracy_is_earned_copies_are_found_and_a_newcomer_stays_near_the_prior() {
    let earned = earn(5, &[], &world());
    assert!(
        earned[0].accuracy > 0.8 && earned[1].accuracy > 0.8,
        "{earned:?}"
    );
    assert!(earned[2].accuracy < 0.4, "the dissenter: {:?}", earned[2]);
    assert_eq!(earned[3].copy_of, Some(2), "the copy of agent 2");
    assert_eq!(earned[2].copy_of, None, "a source is not a copy");
    assert_eq!(earned[0].copy_of, None);
    let prior = EvidenceParams::default().prior_accuracy;
    assert!(
        (earned[4].accuracy - prior).abs() < 0.15,
        "one claim: {:?}",
        earned[4]
    );
    assert_eq!((earned[0].claims, earned[0].agreed), (13, 13));
}

/// Eight honest agents (0–4 and 8–10) name the truth (value 0), each on two facts in
/// three, hours apart. Agent 5 is wrong on every other fact (value 1 or 2) and right on
/// the rest; on the facts where it is wrong, agent 6 repeats it a minute later and agent 7
/// repeats agent 6 a minute after that.
fn chain_world() -> Vec<FactEvidence> {
    (0..12)
        .map(|i| {
            let lie = 1 + (i as usize % 2);
            let mut claims: Vec<(usize, usize, i64)> = [0, 1, 2, 3, 4, 8, 9, 10]
                .into_iter()
                .filter(|a| !(i as usize + a).is_multiple_of(3))
                .map(|a| (a, 0, i * 1000 + a as i64 * 90))
                .collect();
            if i % 2 == 0 {
                claims.extend([
                    (5, lie, i * 1000),
                    (6, lie, i * 1000 + 1),
                    (7, lie, i * 1000 + 2),
                ]);
            } else {
                claims.push((5, 0, i * 1000 + 500));
            }
            fact(3, &claims)
        })
        .collect()
}

#[test]
fn copies_are_told_by_repeats_minutes_later_and_a_chain_counts_once() {
    let facts = chain_world();
    let earned = earn(11, &[], &facts);
    for honest in earned[..5].iter().chain(&earned[8..]) {
        assert_eq!(honest.copy_of, None, "agreeing hours apart is not copying");
        assert!(honest.accuracy > 0.7, "{earned:?}");
    }
    assert!(
        evidence_winners(&facts, &earned)
            .iter()
            .all(|w| *w == Some(0))
    );
    assert_eq!(earned[5].copy_of, None, "the original");
    assert_eq!(earned[6].copy_of, Some(5));
    assert_eq!(earned[7].copy_of, Some(5), "a copy of a copy: its original");
    let accuracy: Vec<f64> = earned.iter().map(|r| r.accuracy).collect();
    let copy_of: Vec<Option<usize>> = earned.iter().map(|r| r.copy_of).collect();
    // Without agent 5, its two copies still count as one.
    let mut without_original = facts[0].clone();
    without_original.claims.retain(|c| c.agent != 5);
    let votes = fact_votes(&without_original, &accuracy, &copy_of);
    let one = fact_votes(
        &FactEvidence {
            claims: without_original
                .claims
                .iter()
                .copied()
                .filter(|c| c.agent != 7)
                .collect(),
            ..without_original.clone()
        },
        &accuracy,
        &copy_of,
    );
    assert!((votes[1] - one[1]).abs() < 1e-12, "{votes:?} {one:?}");
}

#[test]
fn claims_out_of_range_are_dropped_not_indexed() {
    let mut facts = world();
    facts.push(fact(2, &[(99, 0, 0), (0, 7, 0)]));
    facts[0].gold = Some(9);
    let earned = earn(5, &[], &facts);
    assert_eq!(earned.len(), 5);
    assert_eq!(
        earned[0].claims, 13,
        "the out-of-range claims are not counted"
    );
}

#[test]
fn an_anchor_is_a_floor_and_a_gold_mark_is_believed() {
    let mut facts = world();
    let floor = anchor_accuracy(1.0);
    let anchored = earn(5, &[None, None, Some(floor), None, None], &facts);
    assert!(
        anchored[2].anchored && anchored[2].accuracy >= floor,
        "{:?}",
        anchored[2]
    );
    // Gold on every fact for agent 2's value: now it is the reliable one.
    for f in &mut facts[..12] {
        f.gold = Some(1);
    }
    let gold = earn(5, &[], &facts);
    assert!(gold[2].accuracy > gold[0].accuracy, "{gold:?}");
    assert_eq!(evidence_winners(&facts[..1], &gold), vec![Some(1)]);
}

#[test]
fn the_table_does_not_depend_on_the_order_of_claims() {
    let facts = world();
    let reversed: Vec<FactEvidence> = facts
        .iter()
        .rev()
        .map(|f| FactEvidence {
            claims: f.claims.iter().rev().copied().collect(),
            ..f.clone()
        })
        .collect();
    let (a, b) = (earn(5, &[], &facts), earn(5, &[], &reversed));
    for (x, y) in a.iter().zip(&b) {
        assert!((x.accuracy - y.accuracy).abs() < 1e-9, "{x:?} {y:?}");
        assert_eq!(
            (x.copy_of, x.claims, x.agreed),
            (y.copy_of, y.claims, y.agreed)
        );
    }
}
