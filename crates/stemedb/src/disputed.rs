//! The most disputed groups: kept while the reliability table reads every group, so that an
//! overview can name them without a pass of its own over the store.
use stemedb_lens::FactEvidence;
use stemedb_store::GroupKey;

/// How many disputed groups a table keeps.
pub const DISPUTED_KEPT: usize = 50;

/// One (subject, predicate) whose live claims name more than one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputedGroup {
    pub subject: String,
    pub predicate: String,
    /// Live claims, one per agent.
    pub claims: usize,
    /// Claims that name another value than the most claimed one.
    pub dissenting: usize,
    /// Distinct values claimed.
    pub values: usize,
}

impl DisputedGroup {
    /// Most dissent first, then most claims, then byte order: a total order, so the groups
    /// kept do not depend on the order they were met in.
    fn rank(
        &self,
    ) -> (
        std::cmp::Reverse<usize>,
        std::cmp::Reverse<usize>,
        &str,
        &str,
    ) {
        (
            std::cmp::Reverse(self.dissenting),
            std::cmp::Reverse(self.claims),
            &self.subject,
            &self.predicate,
        )
    }
}

/// The top [`DISPUTED_KEPT`] groups met so far.
#[derive(Debug, Default)]
pub(crate) struct DisputedTop {
    groups: Vec<DisputedGroup>,
}

impl DisputedTop {
    /// Considers one group's fact; a group whose claims all agree is not disputed.
    pub(crate) fn offer(&mut self, group: &GroupKey, fact: &FactEvidence) {
        if fact.values < 2 {
            return;
        }
        let mut per_value = vec![0usize; fact.values];
        for claim in &fact.claims {
            if let Some(n) = per_value.get_mut(claim.value) {
                *n += 1;
            }
        }
        let most = per_value.iter().copied().max().unwrap_or(0);
        let dissenting = fact.claims.len() - most.min(fact.claims.len());
        if dissenting == 0 {
            return;
        }
        self.groups.push(DisputedGroup {
            subject: group.subject.clone(),
            predicate: group.predicate.clone(),
            claims: fact.claims.len(),
            dissenting,
            values: fact.values,
        });
        // Trimmed in bulk, so that offering n groups costs O(n log k), not a sort each.
        if self.groups.len() >= DISPUTED_KEPT * 4 {
            self.trim();
        }
    }

    /// The groups kept, most disputed first.
    pub(crate) fn finish(mut self) -> Vec<DisputedGroup> {
        self.trim();
        self.groups
    }

    fn trim(&mut self) {
        self.groups.sort_by(|a, b| a.rank().cmp(&b.rank()));
        self.groups.truncate(DISPUTED_KEPT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stemedb_lens::FactClaim;

    fn fact(values: &[usize]) -> FactEvidence {
        FactEvidence {
            values: values.iter().max().map_or(0, |m| m + 1),
            claims: values
                .iter()
                .enumerate()
                .map(|(agent, &value)| FactClaim {
                    agent,
                    value,
                    time_micros: 0,
                })
                .collect(),
            ..FactEvidence::default()
        }
    }

    fn group(subject: &str) -> GroupKey {
        GroupKey {
            subject: subject.into(),
            predicate: "p".into(),
        }
    }

    /// Offers `groups` (subject, claimed values) in order and returns the subjects kept.
    fn check(groups: &[(&str, &[usize])], expected: &[&str]) {
        let mut top = DisputedTop::default();
        for (subject, values) in groups {
            top.offer(&group(subject), &fact(values));
        }
        let kept: Vec<String> = top.finish().into_iter().map(|g| g.subject).collect();
        assert_eq!(kept, expected, "groups {groups:?}");
    }

    #[test]
    fn most_dissent_first_and_agreement_left_out() {
        check(
            &[("a", &[0, 0, 0]), ("b", &[0, 1]), ("c", &[0, 1, 2, 2])],
            &["c", "b"],
        );
        // Equal dissent: more claims first, then byte order.
        check(
            &[("z", &[0, 1]), ("y", &[0, 0, 1]), ("x", &[1, 0])],
            &["y", "x", "z"],
        );
        check(&[("only", &[3])], &[]);
    }

    #[test]
    fn keeps_the_same_top_whatever_the_order_met() {
        let many: Vec<(String, Vec<usize>)> = (0..500)
            .map(|i| (format!("s{i:03}"), (0..(i % 7 + 2)).collect()))
            .collect();
        let as_refs = |v: &[(String, Vec<usize>)]| -> Vec<String> {
            let mut top = DisputedTop::default();
            for (s, values) in v {
                top.offer(&group(s), &fact(values));
            }
            top.finish().into_iter().map(|g| g.subject).collect()
        };
        let forward = as_refs(&many);
        let mut reversed = many.clone();
        reversed.reverse();
        assert_eq!(forward.len(), DISPUTED_KEPT);
        assert_eq!(forward, as_refs(&reversed));
        assert!(forward.iter().all(|s| {
            let i: usize = s[1..].parse().unwrap_or(0);
            i % 7 == 6
        }));
    }
}
