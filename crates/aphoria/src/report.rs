//! What the flywheel commands print: coverage per module, the claims explained as markdown,
//! and candidate claims drawn from unclaimed observations. Pure over a verification.
use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use serde_json::Value;

use crate::claims::{Claim, ClaimsFile, Comparison};
use crate::observe::Observation;
use crate::store::StoredClaim;
use crate::verify::{self, Verification};

/// The module of a subject: everything before its first `::`.
pub fn module_of(subject: &str) -> &str {
    subject.split_once("::").map(|(m, _)| m).unwrap_or(subject)
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ModuleCoverage {
    pub module: String,
    pub observations: usize,
    pub claimed: usize,
    pub unclaimed: usize,
    /// Claimed observations over all observations, in [0, 1].
    pub density: f64,
}

/// Coverage per module, sorted by `sort_by` (`name`, `density`, `unclaimed`,
/// `observations`; the last three descending except density, ascending: gaps first).
pub fn coverage(
    observations: &[Observation],
    claims: &[Claim],
    sort_by: &str,
) -> Vec<ModuleCoverage> {
    let mut modules: BTreeMap<&str, ModuleCoverage> = BTreeMap::new();
    for o in observations {
        let entry = modules.entry(module_of(&o.subject)).or_default();
        entry.observations += 1;
        if claims.iter().any(|c| c.is_active() && verify::covers(c, o)) {
            entry.claimed += 1;
        } else {
            entry.unclaimed += 1;
        }
    }
    let mut list: Vec<ModuleCoverage> = modules
        .into_iter()
        .map(|(name, mut m)| {
            m.module = name.to_owned();
            m.density = m.claimed as f64 / m.observations.max(1) as f64;
            m
        })
        .collect();
    match sort_by {
        "density" => list.sort_by(|a, b| a.density.total_cmp(&b.density)),
        "unclaimed" => list.sort_by_key(|m| std::cmp::Reverse(m.unclaimed)),
        "observations" => list.sort_by_key(|m| std::cmp::Reverse(m.observations)),
        _ => {}
    }
    list
}

/// The claims as markdown, grouped by category, each with its invariant, consequence,
/// evidence, verdict (when verified) and history.
pub fn explain_markdown(
    claims: &ClaimsFile,
    verification: Option<&Verification>,
    history: &BTreeMap<String, Vec<StoredClaim>>,
) -> String {
    let mut out = String::from("# Claims\n\n");
    if claims.claims.is_empty() {
        out.push_str(
            "No claims yet. Add one with `aphoria claims create`, or see `aphoria suggest`.\n",
        );
        return out;
    }
    let mut by_category: BTreeMap<&str, Vec<&Claim>> = BTreeMap::new();
    for c in &claims.claims {
        by_category.entry(&c.category).or_default().push(c);
    }
    for (category, list) in by_category {
        let _ = writeln!(out, "## {category}\n");
        for c in list {
            explain_one(&mut out, c, verification, history.get(&c.id));
        }
    }
    out
}

fn explain_one(
    out: &mut String,
    c: &Claim,
    verification: Option<&Verification>,
    history: Option<&Vec<StoredClaim>>,
) {
    let _ = writeln!(out, "### `{}` ({})\n", c.id, c.status.as_str());
    let _ = writeln!(out, "{}\n", c.invariant);
    let _ = writeln!(
        out,
        "- **Checks:** `{}` of `{}` {}",
        c.predicate,
        c.subject,
        c.expectation()
    );
    if !c.consequence.is_empty() {
        let _ = writeln!(out, "- **If broken:** {}", c.consequence);
    }
    if !c.evidence.is_empty() {
        let _ = writeln!(out, "- **Evidence:** {}", c.evidence);
    }
    if let Some(next) = &c.superseded_by {
        let _ = writeln!(out, "- **Superseded by:** `{next}`");
    }
    if let Some(result) = verification.and_then(|v| v.claims.iter().find(|r| r.id == c.id)) {
        let _ = writeln!(
            out,
            "- **Verdict:** {} ({} observed)",
            result.verdict.as_str(),
            result.observed
        );
    }
    for (i, version) in history.into_iter().flatten().enumerate() {
        let _ = writeln!(
            out,
            "- **Version {}:** record `{}` by `{}` at {}, {}",
            i + 1,
            &version.record[..version.record.len().min(16)],
            version.agent,
            version.timestamp,
            version.stage
        );
    }
    out.push('\n');
}

/// A claim `aphoria suggest` proposes, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub claim: Claim,
    /// How many unclaimed observations it would cover.
    pub covers: usize,
    pub reason: String,
}

/// Candidate claims from the unclaimed observations: for each predicate, when every unclaimed
/// observation of it agrees on one value, `equals` that value over the narrowest pattern
/// that covers them; the most covering first.
pub fn suggest(verification: &Verification, repo: &str, limit: usize) -> Vec<Suggestion> {
    let mut by_predicate: BTreeMap<&str, Vec<&verify::Finding>> = BTreeMap::new();
    for f in &verification.unclaimed {
        by_predicate.entry(&f.predicate).or_default().push(f);
    }
    let mut out: Vec<Suggestion> = by_predicate
        .into_iter()
        .filter_map(|(predicate, findings)| suggest_one(repo, predicate, &findings))
        .collect();
    out.sort_by(|a, b| b.covers.cmp(&a.covers).then(a.claim.id.cmp(&b.claim.id)));
    out.truncate(limit);
    out
}

fn suggest_one(repo: &str, predicate: &str, findings: &[&verify::Finding]) -> Option<Suggestion> {
    let first: &Value = &findings.first()?.value;
    if findings.iter().any(|f| &f.value != first) || findings.len() < 2 {
        return None;
    }
    let pattern = common_pattern(repo, findings.iter().map(|f| f.subject.as_str()));
    let id = predicate.replace(['.', ':'], "-").to_lowercase();
    let claim = Claim {
        id: format!("suggested-{id}"),
        category: predicate.split('.').next().unwrap_or("general").to_owned(),
        subject: pattern,
        predicate: predicate.to_owned(),
        comparison: Comparison::Equals,
        expected: Some(first.clone()),
        invariant: format!("Every `{predicate}` observed is {first}."),
        consequence: String::new(),
        evidence: format!("{} observations agree; none differs", findings.len()),
        status: Default::default(),
        superseded_by: None,
    };
    Some(Suggestion {
        covers: findings.len(),
        reason: format!(
            "{} unclaimed observations of {predicate}, all {first}",
            findings.len()
        ),
        claim,
    })
}

/// The narrowest pattern over the subjects' longest common `/`-segment prefix: `prefix/**`, or
/// `prefix**` when the prefix is itself some subject's module (it must then cover
/// `prefix::item`), or `repo/**`.
fn common_pattern<'a>(repo: &str, subjects: impl Iterator<Item = &'a str> + Clone) -> String {
    let modules: Vec<Vec<&str>> = subjects
        .clone()
        .map(|s| module_of(s).split('/').collect())
        .collect();
    let mut common: Vec<&str> = modules.first().cloned().unwrap_or_default();
    for parts in &modules {
        let same = common.iter().zip(parts).take_while(|(a, b)| a == b).count();
        common.truncate(same);
    }
    let whole = modules.iter().any(|m| m.len() == common.len());
    let prefix = common.join("/");
    let pattern = match (prefix.is_empty(), whole) {
        (true, _) => format!("{repo}/**"),
        (false, true) => format!("{prefix}**"),
        (false, false) => format!("{prefix}/**"),
    };
    if subjects
        .clone()
        .all(|s| crate::pattern::matches(&pattern, s))
    {
        pattern
    } else {
        format!("{repo}/**")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(subjects: &[&str], want: &str) {
        assert_eq!(
            common_pattern("r", subjects.iter().copied()),
            want,
            "{subjects:?}"
        );
    }

    #[test]
    fn suggested_patterns_are_the_narrowest_that_cover() {
        check(&["r/a/Cargo.toml::x", "r/b/Cargo.toml::y"], "r/**");
        check(
            &["r/a/Cargo.toml::x", "r/a/Cargo.toml::y"],
            "r/a/Cargo.toml**",
        );
        check(&["r/pkg/m::f", "r/pkg/n::g"], "r/pkg/**");
        check(&["r/pkg::f", "r/pkg/n::g"], "r/pkg**");
        check(&["r/x::f", "q/y::g"], "r/**");
    }
}
