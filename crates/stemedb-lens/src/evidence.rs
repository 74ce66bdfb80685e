//! Reliability earned from evidence (docs/lenses.md §Evidence): how often each agent's claims
//! hold, estimated from all of them at once, and the vote a claim casts in the evidence lens.
//!
//! The model is the one-coin model of truth discovery (Dong, Berti-Equille & Srivastava, VLDB
//! 2009): an agent is right with probability p, its *accuracy*; when wrong it says one of the
//! K other values. A claim then votes `ln(K·p / (1 − p))` for its value ([`claim_vote`]), so
//! that the value with the most votes is the likeliest one. Accuracies are unknown, so they
//! are estimated in rounds (expectation–maximisation): beliefs from votes, accuracy from
//! beliefs. Plain EM has a trap: coordinated liars who tell the truth elsewhere look accurate,
//! and a swarm that only agrees with itself agrees perfectly. So the first beliefs come from
//! PooledInvestment (Pasternack & Roth, COLING 2010), where an agent is paid by its *share* of
//! what it backs, and piling on earns little; every accuracy is pulled towards a prior by
//! `prior_strength` pseudo-claims, so a key with a handful of claims stays near the prior;
//! trust roots are anchored at an accuracy the operator's trust sets; a gold mark fixes its
//! fact's belief. Agents whose claims repeat another's, errors included, soon after it are
//! marked copies of it, and a copy that agrees with its source casts no vote of its own.
//!
//! Pure and deterministic: the same facts give the same table, whatever order the agents have.
use std::collections::HashMap;

use crate::beliefs::{Beliefs, pooled_beliefs, set_certain};
use crate::{Candidate, cluster_key};

/// One agent's claim on a fact (its latest): which of the fact's values it names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FactClaim {
    pub agent: usize,
    /// Index of the value among the fact's distinct values.
    pub value: usize,
    /// The claim's valid time, in microseconds (copies are found by time).
    pub time_micros: i64,
}

/// One fact: its distinct values, who claims which, and a curator's gold mark.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FactEvidence {
    pub values: usize,
    pub claims: Vec<FactClaim>,
    /// The value a curator marked gold: believed outright.
    pub gold: Option<usize>,
    /// Each value as a number when every value is one (empty otherwise): the winner is then
    /// the weighted median of the votes, as wrong numbers scatter on both sides of a true one.
    pub numbers: Vec<f64>,
}

/// The settings of [`earn_reliability`]; `Default` is what the server uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceParams {
    /// The accuracy an agent is assumed to have before its claims are weighed.
    pub prior_accuracy: f64,
    /// How many claims' worth of weight the prior has.
    pub prior_strength: f64,
    /// Rounds of PooledInvestment that give the first beliefs.
    pub pooled_rounds: usize,
    /// Rounds of re-estimating accuracies from beliefs and beliefs from votes. One: each
    /// further round let coordinated liars who tell the truth elsewhere climb (in the arena's
    /// trolls world, seed 2: 93.5 % after one round, 89.9 % after three).
    pub rounds: usize,
    /// A claim repeating another agent's value on the same fact within this long after it
    /// counts towards copying.
    pub copy_window_micros: i64,
    /// An agent copies another when at least this share of its claims repeat that agent's...
    pub copy_share_min: f64,
    /// ...and at least this many do.
    pub copy_claims_min: usize,
    /// Facts with more claimants than this are not searched for copies (the search is
    /// quadratic in the claimants of a fact).
    pub copy_claimants_max: usize,
    /// Pairs of agents counted at most while searching for copies (bounds its memory, about
    /// 40 bytes a pair); pairs met after that are not counted.
    pub copy_pairs_max: usize,
}

impl Default for EvidenceParams {
    fn default() -> Self {
        EvidenceParams {
            prior_accuracy: 0.6,
            prior_strength: 4.0,
            pooled_rounds: 10,
            rounds: 1,
            copy_window_micros: 3_600_000_000,
            copy_share_min: 0.5,
            copy_claims_min: 5,
            copy_claimants_max: 256,
            copy_pairs_max: 1_000_000,
        }
    }
}

/// How much higher an agent's accuracy among everyone may stand than among the anchored
/// agents alone before the latter is taken. Judged by a few anchored agents, who err too, an
/// honest agent looks a few points worse than it is (in the arena 0.03–0.08); a swarm that
/// outvotes the truth looks 0.5 better among everyone.
const VOUCHED_GAP_MAX: f64 = 0.15;

/// Facts an agent must share with anchored agents before they judge it.
const VOUCHED_FACTS_MIN: f64 = 5.0;

/// Accuracies are kept inside (0, 1) so that votes stay finite.
pub const ACCURACY_MIN: f64 = 0.01;
pub const ACCURACY_MAX: f64 = 0.99;

/// An agent's earned reliability, with what it was earned from.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentReliability {
    /// The estimated chance that its claim holds, in [`ACCURACY_MIN`, `ACCURACY_MAX`].
    pub accuracy: f64,
    /// Facts it has a claim on.
    pub claims: usize,
    /// Of those, how many name the value believed in the end.
    pub agreed: usize,
    /// The agent whose claims it repeats, if it is a copy.
    pub copy_of: Option<usize>,
    /// It has a floor from a trust root or its chain ([`anchor_accuracy`]).
    pub anchored: bool,
}

/// The fewest wrong values a claim is assumed to have chosen among. A fact's observed values
/// are a lower bound on its domain, and few domains are yes/no; with K = 1 an agent right
/// less than half the time would vote against its own value, and one right 60 % of the time
/// would count next to nothing.
pub const WRONG_VALUES_MIN: usize = 2;

/// The vote of a claim by an agent of accuracy `accuracy` on a fact with `values` distinct
/// values: `ln(K·p / (1 − p))` with K the other values (at least [`WRONG_VALUES_MIN`]),
/// never below 0.
pub fn claim_vote(accuracy: f64, values: usize) -> f64 {
    let p = accuracy.clamp(ACCURACY_MIN, ACCURACY_MAX);
    let wrong = values.saturating_sub(1).max(WRONG_VALUES_MIN) as f64;
    (wrong * p / (1.0 - p)).ln().max(0.0)
}

/// Estimates every agent's accuracy from `facts`. `anchors[a]` is `Some(floor)` for an agent
/// with a trust chain: its accuracy never goes under the floor ([`anchor_accuracy`]). Agents with no claim keep the prior.
pub fn earn_reliability(
    agent_count: usize,
    anchors: &[Option<f64>],
    facts: &[FactEvidence],
    params: &EvidenceParams,
) -> Vec<AgentReliability> {
    let facts = well_formed(agent_count, facts);
    let facts = facts.as_ref();
    let mut claims = vec![0usize; agent_count];
    for fact in facts {
        for c in &fact.claims {
            claims[c.agent] += 1;
        }
    }
    let mut beliefs = pooled_beliefs(agent_count, facts, &claims, params.pooled_rounds);
    let copy_of = find_copies(agent_count, facts, params);
    let mut accuracy = accuracies(agent_count, anchors, facts, &beliefs, params);
    for _ in 0..params.rounds {
        beliefs = vote_beliefs(facts, &accuracy, &copy_of);
        accuracy = accuracies(agent_count, anchors, facts, &beliefs, params);
    }
    if anchors.iter().any(Option::is_some) {
        let vouched = vouched_accuracies(agent_count, anchors, facts, &accuracy, params);
        for (a, v) in accuracy.iter_mut().zip(vouched) {
            if *a - v > VOUCHED_GAP_MAX {
                *a = v;
            }
        }
    }
    let mut agreed = vec![0usize; agent_count];
    for fact in facts {
        let winner = fact_winner(fact, &fact_votes(fact, &accuracy, &copy_of));
        for c in fact.claims.iter().filter(|c| Some(c.value) == winner) {
            agreed[c.agent] += 1;
        }
    }
    (0..agent_count)
        .map(|a| AgentReliability {
            accuracy: accuracy[a],
            claims: claims[a],
            agreed: agreed[a],
            copy_of: copy_of[a],
            anchored: anchors.get(a).copied().flatten().is_some(),
        })
        .collect()
}

/// `facts` without the claims that name an agent or a value out of range (a caller's
/// mistake, dropped rather than indexed out of bounds); borrowed when there are none.
fn well_formed(agent_count: usize, facts: &[FactEvidence]) -> std::borrow::Cow<'_, [FactEvidence]> {
    let fits = |f: &FactEvidence, c: &FactClaim| c.agent < agent_count && c.value < f.values;
    if facts.iter().all(|f| f.claims.iter().all(|c| fits(f, c))) {
        return std::borrow::Cow::Borrowed(facts);
    }
    let cleaned = facts
        .iter()
        .map(|f| FactEvidence {
            claims: f.claims.iter().copied().filter(|c| fits(f, c)).collect(),
            gold: f.gold.filter(|g| *g < f.values),
            ..f.clone()
        })
        .collect();
    std::borrow::Cow::Owned(cleaned)
}

/// Each agent's accuracy judged only by the anchored agents: on the facts where an anchored
/// agent (or a gold mark) speaks, the belief that the anchored votes alone give its value,
/// with the prior's pseudo-claims. An agent that meets them on fewer than
/// [`VOUCHED_FACTS_MIN`] facts, and an anchored one, keeps its own: roots named for one
/// domain say nothing of agents in another. Taken as a ceiling, this is what stops a swarm that agrees with itself
/// (and with everyone elsewhere) from voting itself reliable once some agents are vouched for.
fn vouched_accuracies(
    agent_count: usize,
    anchors: &[Option<f64>],
    facts: &[FactEvidence],
    accuracy: &[f64],
    params: &EvidenceParams,
) -> Vec<f64> {
    let is_anchored = |a: usize| anchors.get(a).copied().flatten().is_some();
    let mut held = vec![0.0; agent_count];
    let mut count = vec![0.0; agent_count];
    for fact in facts {
        let belief = match fact.gold {
            Some(gold) => certain(fact.values, gold),
            None => {
                if !fact.claims.iter().any(|c| is_anchored(c.agent)) {
                    continue;
                }
                let mut votes = vec![0.0; fact.values];
                for c in fact.claims.iter().filter(|c| is_anchored(c.agent)) {
                    votes[c.value] += claim_vote(accuracy[c.agent], fact.values);
                }
                softmax(&votes)
            }
        };
        tally(fact, &belief, &mut held, &mut count);
    }
    (0..agent_count)
        .map(|a| {
            if is_anchored(a) || count[a] < VOUCHED_FACTS_MIN {
                accuracy[a]
            } else {
                with_prior(held[a], count[a], params).clamp(ACCURACY_MIN, ACCURACY_MAX)
            }
        })
        .collect()
}

/// Adds, for each claim of `fact`, the belief in its value to its agent's `held`, and one to
/// its `count`.
fn tally(fact: &FactEvidence, belief: &[f64], held: &mut [f64], count: &mut [f64]) {
    for c in &fact.claims {
        held[c.agent] += belief.get(c.value).copied().unwrap_or(0.0);
        count[c.agent] += 1.0;
    }
}

/// An accuracy from the beliefs `held` over `count` claims, with the prior's pseudo-claims.
fn with_prior(held: f64, count: f64, params: &EvidenceParams) -> f64 {
    (held + params.prior_accuracy * params.prior_strength) / (count + params.prior_strength)
}

/// `e^v` normalised: a probability per value.
fn softmax(votes: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; votes.len()];
    softmax_into(votes, &mut out);
    out
}

/// [`softmax`] into `out` (as long as `votes`).
fn softmax_into(votes: &[f64], out: &mut [f64]) {
    let top = votes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for (e, v) in out.iter_mut().zip(votes) {
        *e = (v - top).exp();
    }
    let total: f64 = out.iter().sum();
    out.iter_mut().for_each(|e| *e /= total);
}

/// The index of the largest score; the first of equal ones.
fn argmax(scores: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (k, s) in scores.iter().enumerate() {
        if best.is_none_or(|b| *s > scores[b]) {
            best = Some(k);
        }
    }
    best
}

/// Each agent's accuracy: its claims' beliefs plus the prior's pseudo-claims, over its
/// claims plus those; anchored agents keep their anchor.
fn accuracies(
    agent_count: usize,
    anchors: &[Option<f64>],
    facts: &[FactEvidence],
    beliefs: &Beliefs,
    params: &EvidenceParams,
) -> Vec<f64> {
    let mut held = vec![0.0; agent_count];
    let mut count = vec![0.0; agent_count];
    for (i, fact) in facts.iter().enumerate() {
        tally(fact, beliefs.of(i), &mut held, &mut count);
    }
    (0..agent_count)
        .map(|a| {
            let earned = with_prior(held[a], count[a], params);
            let floor = anchors.get(a).copied().flatten().unwrap_or(ACCURACY_MIN);
            earned.max(floor).clamp(ACCURACY_MIN, ACCURACY_MAX)
        })
        .collect()
}

/// Beliefs from votes: each value's probability in proportion to e^(its votes); a gold value
/// is believed outright.
fn vote_beliefs(facts: &[FactEvidence], accuracy: &[f64], copy_of: &[Option<usize>]) -> Beliefs {
    let mut beliefs = Beliefs::zeros(facts);
    for (i, fact) in facts.iter().enumerate() {
        match fact.gold {
            Some(gold) => set_certain(beliefs.of_mut(i), gold),
            None => softmax_into(&fact_votes(fact, accuracy, copy_of), beliefs.of_mut(i)),
        }
    }
    beliefs
}

/// A claim that repeats, with the same value, an earlier member of its copy group (an agent
/// and its copies; `copy_of` names each copy's original). Of each group's claims of one value,
/// only the first counts: the original's, else the earliest copy's.
fn is_echo(claim: &FactClaim, fact: &FactEvidence, copy_of: &[Option<usize>]) -> bool {
    let source = |a: usize| copy_of.get(a).copied().flatten();
    let group = |a: usize| source(a).unwrap_or(a);
    let order = |c: &FactClaim| (source(c.agent).is_some(), c.time_micros, c.agent);
    fact.claims.iter().any(|other| {
        other.agent != claim.agent
            && other.value == claim.value
            && group(other.agent) == group(claim.agent)
            && order(other) < order(claim)
    })
}

fn certain(values: usize, value: usize) -> Vec<f64> {
    (0..values)
        .map(|v| if v == value { 1.0 } else { 0.0 })
        .collect()
}

/// For each agent, the original it copies. Agent B copies A when at least `copy_share_min`
/// of B's claims (and at least `copy_claims_min`) repeat A's claim of the same value on the
/// same fact at most `copy_window_micros` after it (at the same time: both ways). Agents who
/// systematically say what another said minutes before are one source, not several, whether
/// that source is right or wrong. (Counting only shared mistakes, as Dong et al. do, needs
/// beliefs that a copied mistake does not sway; in the arena's copiers world at 200 facts,
/// PooledInvestment believes the copied mistakes and no copy was found.) The most repeated
/// agent is the source; chains are followed to their original, and in a ring the smallest
/// agent is the original.
fn find_copies(
    agent_count: usize,
    facts: &[FactEvidence],
    params: &EvidenceParams,
) -> Vec<Option<usize>> {
    let mut repeats: HashMap<(usize, usize), usize> = HashMap::new();
    let mut claims = vec![0usize; agent_count];
    for fact in facts {
        for c in &fact.claims {
            claims[c.agent] += 1;
        }
        if fact.claims.len() > params.copy_claimants_max {
            continue;
        }
        for later in &fact.claims {
            for earlier in &fact.claims {
                let gap = later.time_micros.saturating_sub(earlier.time_micros);
                let pair = (later.agent, earlier.agent);
                if later.agent != earlier.agent
                    && later.value == earlier.value
                    && (0..=params.copy_window_micros).contains(&gap)
                    && (repeats.len() < params.copy_pairs_max || repeats.contains_key(&pair))
                {
                    *repeats.entry(pair).or_default() += 1;
                }
            }
        }
    }
    let mut best: Vec<Option<(usize, usize)>> = vec![None; agent_count];
    let mut pairs: Vec<((usize, usize), usize)> = repeats.into_iter().collect();
    pairs.sort_unstable();
    for ((copy, source), n) in pairs {
        let share = n as f64 / claims[copy].max(1) as f64;
        if n >= params.copy_claims_min
            && share >= params.copy_share_min
            && best[copy].is_none_or(|(_, most)| n > most)
        {
            best[copy] = Some((source, n));
        }
    }
    let source_of: Vec<Option<usize>> = best.iter().map(|c| c.map(|(s, _)| s)).collect();
    (0..agent_count).map(|a| original(a, &source_of)).collect()
}

/// The original at the end of `a`'s chain of sources, or `None` when `a` is an original
/// (copies nobody, or is the smallest agent of a ring).
fn original(a: usize, source_of: &[Option<usize>]) -> Option<usize> {
    let mut seen = vec![a];
    let mut at = a;
    while let Some(next) = source_of[at] {
        if let Some(start) = seen.iter().position(|&s| s == next) {
            // A ring: its smallest member is the original of everyone on it and behind it.
            let root = seen[start..].iter().copied().min().unwrap_or(next);
            return (root != a).then_some(root);
        }
        seen.push(next);
        at = next;
    }
    (at != a).then_some(at)
}

/// The value of each fact with the most votes (echoes of a source dropped; a gold value
/// first), or `None` for a fact without claims. Ties go to the smaller value index.
pub fn evidence_winners(
    facts: &[FactEvidence],
    reliability: &[AgentReliability],
) -> Vec<Option<usize>> {
    let accuracy: Vec<f64> = reliability.iter().map(|r| r.accuracy).collect();
    let copy_of: Vec<Option<usize>> = reliability.iter().map(|r| r.copy_of).collect();
    facts
        .iter()
        .map(|fact| fact_winner(fact, &fact_votes(fact, &accuracy, &copy_of)))
        .collect()
}

/// A fact's winner given its votes: the gold value; else, when every value is a number, the
/// weighted median; else the value with the most votes (the first of equal ones).
pub fn fact_winner(fact: &FactEvidence, votes: &[f64]) -> Option<usize> {
    if fact.claims.is_empty() {
        return None;
    }
    fact.gold.or_else(|| {
        if fact.numbers.len() == fact.values && !fact.numbers.is_empty() {
            weighted_median(&fact.numbers, votes)
        } else {
            argmax(votes)
        }
    })
}

/// The lower weighted median of `numbers` under `weights` (uniform when they sum to 0).
fn weighted_median(numbers: &[f64], weights: &[f64]) -> Option<usize> {
    let mut order: Vec<usize> = (0..numbers.len()).collect();
    order.sort_by(|&a, &b| numbers[a].total_cmp(&numbers[b]).then(a.cmp(&b)));
    let total: f64 = weights.iter().sum();
    let weight = |k: usize| if total > 0.0 { weights[k] } else { 1.0 };
    let total = if total > 0.0 {
        total
    } else {
        numbers.len() as f64
    };
    let mut running = 0.0;
    for &k in &order {
        running += weight(k);
        if running * 2.0 >= total {
            return Some(k);
        }
    }
    order.last().copied()
}

/// Each value's votes on one fact, echoes of a source dropped.
pub fn fact_votes(fact: &FactEvidence, accuracy: &[f64], copy_of: &[Option<usize>]) -> Vec<f64> {
    let mut votes = vec![0.0; fact.values];
    for c in &fact.claims {
        if !is_echo(c, fact, copy_of) {
            let p = accuracy.get(c.agent).copied().unwrap_or(ACCURACY_MIN);
            votes[c.value] += claim_vote(p, fact.values) + VOTE_FLOOR;
        }
    }
    votes
}

/// Added to every counted claim's vote, so that among claims that carry no vote (agents right
/// no more often than chance) the value more agents name wins, as in a plain vote.
const VOTE_FLOOR: f64 = 1e-9;

/// The least accuracy an agent of trust `trust` (in [0, 1]; a root has 1) keeps whatever
/// the claims say: 0.5 + 0.4 × trust. A floor, not a setting: an anchored agent that earns
/// more keeps what it earns, and no majority can vote it below its floor.
pub fn anchor_accuracy(trust: f64) -> f64 {
    0.5 + 0.4 * trust.clamp(0.0, 1.0)
}

/// Each candidate's original as an index: the candidate of that agent, or past the end (one
/// index per original absent from the group), so that copies of one absent original still
/// count once.
fn copy_groups(candidates: &[Candidate<'_>]) -> Vec<Option<usize>> {
    let mut absent: Vec<&str> = Vec::new();
    candidates
        .iter()
        .map(|c| {
            let source = c.copy_of?;
            if let Some(i) = candidates.iter().position(|o| o.agent_id == source) {
                return Some(i);
            }
            let k = absent.iter().position(|a| *a == source).unwrap_or_else(|| {
                absent.push(source);
                absent.len() - 1
            });
            Some(candidates.len() + k)
        })
        .collect()
}

/// The evidence lens on one group: the candidates as one fact (one claim each, values told
/// apart by [`cluster_key`]), voted on by each agent's earned accuracy. Holders of the winning
/// value come first, then the other values by their votes; within a value, the most
/// accurate agent first, then by authority.
pub(crate) fn rank_evidence(candidates: &[Candidate<'_>], order: &mut [usize]) -> String {
    let keys: Vec<String> = candidates.iter().map(|c| cluster_key(c.value)).collect();
    let mut distinct: Vec<&String> = keys.iter().collect();
    distinct.sort();
    distinct.dedup();
    let value_of = |i: usize| distinct.binary_search(&&keys[i]).unwrap_or(0);
    let claims: Vec<FactClaim> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| FactClaim {
            agent: i,
            value: value_of(i),
            time_micros: c.timestamp.0,
        })
        .collect();
    let numbers: Vec<f64> = if candidates.iter().all(|c| c.value.is_number()) {
        let mut numbers = vec![0.0; distinct.len()];
        for (i, c) in candidates.iter().enumerate() {
            numbers[value_of(i)] = c.value.as_f64().unwrap_or(f64::NAN);
        }
        numbers
    } else {
        Vec::new()
    };
    let fact = FactEvidence {
        values: distinct.len(),
        gold: candidates.iter().position(|c| c.gold).map(value_of),
        claims,
        numbers,
    };
    let accuracy: Vec<f64> = candidates.iter().map(|c| c.accuracy).collect();
    let copy_of = copy_groups(candidates);
    let votes = fact_votes(&fact, &accuracy, &copy_of);
    let winner = fact_winner(&fact, &votes).unwrap_or(0);
    order.sort_by(|&a, &b| {
        let (va, vb) = (value_of(a), value_of(b));
        (vb == winner)
            .cmp(&(va == winner))
            .then(votes[vb].total_cmp(&votes[va]))
            .then(va.cmp(&vb))
            .then(candidates[b].accuracy.total_cmp(&candidates[a].accuracy))
            .then_with(|| crate::rank::by_authority(&candidates[a], &candidates[b]))
    });
    let echoes = fact
        .claims
        .iter()
        .filter(|c| is_echo(c, &fact, &copy_of))
        .count();
    let total: f64 = votes.iter().sum();
    let w = &candidates[order[0]];
    let how = if fact.gold.is_some() {
        "is marked gold by a curator".to_owned()
    } else if fact.numbers.is_empty() {
        format!(
            "carries the most votes ({:.3} of {total:.3})",
            votes[winner]
        )
    } else {
        format!(
            "is the vote-weighted median ({:.3} of {total:.3} votes on it)",
            votes[winner]
        )
    };
    format!(
        "evidence: value {} {how} among {} distinct value(s); a claim votes ln(K·p/(1−p)) by its agent's earned accuracy p; {echoes} echo(es) of a copied agent not counted; winner by {} (accuracy {:.3})",
        w.value,
        distinct.len(),
        w.agent_id,
        w.accuracy
    )
}
