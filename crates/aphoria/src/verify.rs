//! The verdicts: every active claim (a project's or an installed pack's) against the
//! observations of one scan, and every observation no claim covers.
//!
//! - **Pass**: something matching was observed and every matching value meets the claim (for
//!   `absent`: nothing matching was observed).
//! - **Conflict**: a matching value breaks the claim (for `absent`: anything matching), or the
//!   claim contradicts a pack rule that wins its group under the authority lens.
//! - **Missing**: claimed, but nothing matching was observed. An `absent` claim is Missing,
//!   not Pass, when nothing could have been observed: no extractor emits its predicate (a
//!   typo), or its pattern covers no observed subject at all (a wrong repository name).
//! - **Unclaimed**: observed, but no active claim covers its subject and predicate.
//!
//! Pure: the caller passes the claims, the observations and the lens's decisions.
use serde::Serialize;
use serde_json::Value;

use crate::claims::{Claim, Comparison};
use crate::observe::Observation;
use crate::pattern;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Conflict,
    Missing,
    Unclaimed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Conflict => "conflict",
            Verdict::Missing => "missing",
            Verdict::Unclaimed => "unclaimed",
        }
    }
}

/// Where a rule comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// `.aphoria/claims.toml`.
    Project,
    /// An installed trust pack: its name, agent and the rule's record id.
    Pack {
        pack: String,
        agent: String,
        record: String,
    },
}

/// A claim and where it comes from.
#[derive(Debug, Clone)]
pub struct Rule {
    pub claim: Claim,
    pub origin: Origin,
}

/// A project claim that lost its group to a pack rule under the authority lens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overridden {
    pub claim: String,
    pub pack: String,
    pub pack_rule: String,
    pub agent: String,
    pub record: String,
    pub expectation: String,
}

/// One observation as a verdict cites it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub subject: String,
    pub predicate: String,
    pub value: Value,
    pub path: String,
    pub line: usize,
    pub extractor: String,
}

impl Finding {
    fn of(o: &Observation) -> Finding {
        Finding {
            subject: o.subject.clone(),
            predicate: o.predicate.clone(),
            value: o.value.clone(),
            path: o.path.clone(),
            line: o.line,
            extractor: o.extractor.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClaimResult {
    pub id: String,
    pub category: String,
    pub origin: Origin,
    pub verdict: Verdict,
    pub subject: String,
    pub predicate: String,
    pub expectation: String,
    /// Observations the claim covers.
    pub observed: usize,
    /// The ones that break it (all of them under `absent`).
    pub violations: Vec<Finding>,
    /// Set when a pack rule won the claim's group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overridden_by: Option<Overridden>,
    /// Why a claim is Missing when that is not simply "nothing matching was observed".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub conflict: usize,
    pub missing: usize,
    pub unclaimed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub claims: Vec<ClaimResult>,
    pub unclaimed: Vec<Finding>,
    pub counts: Counts,
}

/// Judges every active rule and finds the unclaimed observations. `observable` says whether
/// some extractor emits a predicate.
pub fn verify(
    rules: &[Rule],
    observations: &[Observation],
    lost: &[Overridden],
    observable: &dyn Fn(&str) -> bool,
) -> Verification {
    let active: Vec<&Rule> = rules.iter().filter(|r| r.claim.is_active()).collect();
    let mut covered = vec![false; observations.len()];
    let mut claims = Vec::with_capacity(active.len());
    for rule in active {
        let matching: Vec<usize> = (0..observations.len())
            .filter(|&i| covers(&rule.claim, &observations[i]))
            .collect();
        for &i in &matching {
            covered[i] = true;
        }
        // Only a project claim can lose its group to a pack (a pack rule may share its id).
        let overridden = match rule.origin {
            Origin::Project => lost.iter().find(|o| o.claim == rule.claim.id).cloned(),
            Origin::Pack { .. } => None,
        };
        let blind = blind_spot(&rule.claim, observations, observable);
        claims.push(judge(rule, observations, &matching, overridden, blind));
    }
    let unclaimed: Vec<Finding> = observations
        .iter()
        .zip(&covered)
        .filter(|(_, c)| !**c)
        .map(|(o, _)| Finding::of(o))
        .collect();
    let mut counts = Counts {
        unclaimed: unclaimed.len(),
        ..Counts::default()
    };
    for c in &claims {
        match c.verdict {
            Verdict::Pass => counts.pass += 1,
            Verdict::Conflict => counts.conflict += 1,
            Verdict::Missing => counts.missing += 1,
            Verdict::Unclaimed => {}
        }
    }
    Verification {
        claims,
        unclaimed,
        counts,
    }
}

/// Whether a claim speaks about an observation: same predicate, subject within its pattern.
pub fn covers(claim: &Claim, o: &Observation) -> bool {
    claim.predicate == o.predicate && pattern::matches(&claim.subject, &o.subject)
}

/// Why nothing matching a claim could have been observed, if so.
fn blind_spot(
    claim: &Claim,
    observations: &[Observation],
    observable: &dyn Fn(&str) -> bool,
) -> Option<String> {
    if !observable(&claim.predicate) {
        return Some(format!("no extractor observes {:?}", claim.predicate));
    }
    if !observations
        .iter()
        .any(|o| pattern::matches(&claim.subject, &o.subject))
    {
        return Some(format!(
            "{:?} covers no observed subject (is the repository name right?)",
            claim.subject
        ));
    }
    None
}

fn judge(
    rule: &Rule,
    observations: &[Observation],
    matching: &[usize],
    overridden_by: Option<Overridden>,
    blind: Option<String>,
) -> ClaimResult {
    let claim = &rule.claim;
    let violations: Vec<Finding> = matching
        .iter()
        .map(|&i| &observations[i])
        .filter(|o| !claim.satisfied_by(&o.value))
        .map(Finding::of)
        .collect();
    let verdict = match (claim.comparison, matching.is_empty(), violations.is_empty()) {
        _ if overridden_by.is_some() => Verdict::Conflict,
        (_, true, _) if blind.is_some() => Verdict::Missing,
        (Comparison::Absent, true, _) => Verdict::Pass,
        (_, true, _) => Verdict::Missing,
        (_, false, true) => Verdict::Pass,
        (_, false, false) => Verdict::Conflict,
    };
    ClaimResult {
        id: claim.id.clone(),
        category: claim.category.clone(),
        origin: rule.origin.clone(),
        verdict,
        subject: claim.subject.clone(),
        predicate: claim.predicate.clone(),
        expectation: claim.expectation(),
        observed: matching.len(),
        violations,
        overridden_by,
        note: if verdict == Verdict::Missing {
            blind
        } else {
            None
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Status;
    use serde_json::json;

    fn obs(subject: &str, predicate: &str, value: Value) -> Observation {
        Observation::new(subject, predicate, value, "src/lib.rs", 1)
    }

    fn rule(id: &str, subject: &str, predicate: &str, cmp: Comparison, exp: Option<Value>) -> Rule {
        Rule {
            claim: Claim {
                id: id.into(),
                category: "security".into(),
                subject: subject.into(),
                predicate: predicate.into(),
                comparison: cmp,
                expected: exp,
                invariant: "i".into(),
                consequence: String::new(),
                evidence: String::new(),
                status: Status::Active,
                superseded_by: None,
            },
            origin: Origin::Project,
        }
    }

    fn check(
        rules: &[Rule],
        observations: &[Observation],
        want: &[(&str, Verdict)],
        unclaimed: usize,
    ) {
        let got = verify(rules, observations, &[], &|p| p != "typo.predicate");
        let verdicts: Vec<(&str, Verdict)> = got
            .claims
            .iter()
            .map(|c| (c.id.as_str(), c.verdict))
            .collect();
        assert_eq!(verdicts, want);
        assert_eq!(got.unclaimed.len(), unclaimed);
    }

    #[test]
    fn each_verdict() {
        let o = [
            obs("r/a::f", "rust.unsafe", json!(1)),
            obs("r/a::g", "net.bind_ip_scope", json!("loopback")),
            obs("r/b::h", "net.bind_ip_scope", json!("unspecified")),
            obs("r/b::h", "rust.unwrap_calls", json!(2)),
        ];
        use Comparison::*;
        check(
            &[
                rule("no-unsafe", "r/**", "rust.unsafe", Absent, None),
                rule(
                    "loop-a",
                    "r/a::*",
                    "net.bind_ip_scope",
                    Equals,
                    Some(json!("loopback")),
                ),
                rule(
                    "loop-all",
                    "r/**",
                    "net.bind_ip_scope",
                    Equals,
                    Some(json!("loopback")),
                ),
                rule(
                    "argon",
                    "r/**",
                    "crypto.password_hash",
                    Equals,
                    Some(json!(["argon2"])),
                ),
                rule("no-sql", "r/**", "sql.built_from_strings", Absent, None),
                rule("typo", "r/**", "typo.predicate", Absent, None),
                rule("wrong-repo", "q/**", "rust.unsafe", Absent, None),
            ],
            &o,
            &[
                ("no-unsafe", Verdict::Conflict),
                ("loop-a", Verdict::Pass),
                ("loop-all", Verdict::Conflict),
                ("argon", Verdict::Missing),
                ("no-sql", Verdict::Pass),
                ("typo", Verdict::Missing),
                ("wrong-repo", Verdict::Missing),
            ],
            1,
        );
        let mut deprecated = rule("no-unsafe", "r/**", "rust.unsafe", Absent, None);
        deprecated.claim.status = Status::Deprecated;
        check(&[deprecated], &o, &[], 4);
    }

    #[test]
    fn a_claim_that_lost_to_a_pack_is_a_conflict_even_when_observations_agree() {
        let o = [obs("r/a::f", "tls.protocol_versions", json!(["1.2"]))];
        let r = [rule(
            "tls",
            "r/**",
            "tls.protocol_versions",
            Comparison::AtLeast,
            Some(json!("1.2")),
        )];
        let lost = Overridden {
            claim: "tls".into(),
            pack: "rfc".into(),
            pack_rule: "tls-13".into(),
            agent: "aphoria/pack/rfc".into(),
            record: "ab".into(),
            expectation: "at_least \"1.3\"".into(),
        };
        let got = verify(&r, &o, std::slice::from_ref(&lost), &|_| true);
        assert_eq!(got.claims[0].verdict, Verdict::Conflict);
        assert_eq!(got.claims[0].overridden_by, Some(lost));
    }
}
