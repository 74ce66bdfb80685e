//! The skeptic: how much the active assertions of one (subject, predicate) group disagree, the
//! distinct values with their weight and supporters, and the outliers (docs/truth.md, "Skeptic").
use std::collections::HashMap;
use std::time::Instant;

use stemedb_lens::{
    Candidate, LensKind, cluster_key, conflict_score, value_clusters, value_distance,
    weighted_median,
};
use stemedb_wire::{Cluster, Outlier, SkepticResponse};

use crate::query::Paging;
use crate::{Db, DbError, Query};

/// When a read looks, as a query's time bounds do: valid time (`as_of`), transaction time
/// (`known_at`) and log position (`at_sequence`); all `None` is now.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadAt {
    pub as_of: Option<stemedb_core::Timestamp>,
    pub known_at: Option<stemedb_core::Timestamp>,
    pub at_sequence: Option<u64>,
}

impl Db {
    /// The skeptic's report on one group now; `None` when the group has no active assertions.
    pub fn skeptic(
        &self,
        subject: &str,
        predicate: &str,
    ) -> Result<Option<SkepticResponse>, DbError> {
        self.skeptic_until(subject, predicate, ReadAt::default(), None)
    }

    /// The skeptic's report as the group stood `at` (its records, stages and trust then),
    /// stopped with `DbError::DeadlineExceeded` once `deadline` passes. O(n log n) in the
    /// group's size.
    pub fn skeptic_until(
        &self,
        subject: &str,
        predicate: &str,
        at: ReadAt,
        deadline: Option<Instant>,
    ) -> Result<Option<SkepticResponse>, DbError> {
        let mut query = Query::new(subject);
        query.predicate = Some(predicate.to_owned());
        query.lens = LensKind::Consensus;
        query.deadline = deadline;
        // One moment for the records and the trust: without a sequence bound, writes landing
        // between the two reads would give a trust map later than the records.
        let at_sequence = at.at_sequence.unwrap_or_else(|| self.store.last_sequence());
        (query.as_of, query.known_at) = (at.as_of, at.known_at);
        query.at_sequence = Some(at_sequence);
        let _slot = self.read_slots.acquire(deadline, "query")?;
        if subject.ends_with('*') {
            return Err(DbError::BadQuery {
                field: "subject",
                message: "the skeptic reads one exact subject".into(),
            });
        }
        let result = self.query_paged(&query, Paging::All)?;
        let Some(group) = result.groups.into_iter().next() else {
            return Ok(None);
        };
        let bound = self.read_bound(Some(at_sequence), at.known_at, at.as_of)?;
        let trust = self.store.trust_map(bound)?;
        let candidates: Vec<Candidate<'_>> = group
            .assertions
            .iter()
            .map(|r| Candidate {
                id: r.id,
                sequence: r.sequence,
                timestamp: r.timestamp,
                confidence: r.confidence,
                trust: trust.trust(&r.agent_id),
                value: &r.value,
                agent_id: &r.agent_id,
                vote_balance: 0.0,
                gold: false,
                rooted: trust.entry(&r.agent_id).is_some(),
                accuracy: 0.0,
                copy_of: None,
            })
            .collect();
        let score = conflict_score(&candidates);
        let clusters = value_clusters(&candidates);
        let total: f64 = clusters.iter().map(|c| c.weight).sum();
        let median = weighted_median(&candidates);
        let rule_min = self.config.outlier_distance_min;
        // A value's share of the weight, found by its cluster key (not by a scan per candidate).
        let shares: HashMap<String, f64> = if median.is_none() {
            clusters
                .iter()
                .map(|k| {
                    (
                        cluster_key(k.value),
                        k.weight / total.max(f64::MIN_POSITIVE),
                    )
                })
                .collect()
        } else {
            HashMap::new()
        };
        let outliers: Vec<Outlier> = candidates
            .iter()
            .filter_map(|c| {
                let distance = match &median {
                    Some(m) => value_distance(c.value, m),
                    None => {
                        let share = shares.get(&cluster_key(c.value)).copied().unwrap_or(0.0);
                        if share < CATEGORICAL_OUTLIER_SHARE_MAX {
                            1.0
                        } else {
                            0.0
                        }
                    }
                };
                (distance > rule_min || (median.is_none() && distance > 0.0)).then(|| Outlier {
                    agent_id: c.agent_id.to_owned(),
                    distance,
                    id: c.id.to_hex(),
                    value: c.value.clone(),
                })
            })
            .collect();
        let clusters: Vec<Cluster> = clusters
            .iter()
            .map(|k| Cluster {
                agents: k.agents.iter().map(|a| (*a).to_owned()).collect(),
                share: if total > 0.0 { k.weight / total } else { 0.0 },
                value: k.value.clone(),
                weight: k.weight,
            })
            .collect();
        Ok(Some(SkepticResponse {
            clusters,
            conflict_score: score,
            disputed: score > self.config.disputed_score_min,
            disputed_score_min: self.config.disputed_score_min,
            outlier_rule: format!(
                "numbers: relative distance from the weighted median above {rule_min}; other values: a value holding less than {CATEGORICAL_OUTLIER_SHARE_MAX} of the total weight"
            ),
            outliers,
            predicate: group.predicate,
            subject: group.subject,
            weighted_median: median,
        }))
    }
}

/// A categorical value holding less than this share of the weight is an outlier.
const CATEGORICAL_OUTLIER_SHARE_MAX: f64 = 0.1;
