//! The in-memory views kept beside the truth keyspace (roles, open epochs, the latest trust
//! map), held by the engine and loaded again whenever it is opened (`truth::recover`).
use std::collections::HashMap;
use std::sync::Arc;

use stemedb_lens::TrustMap;

use crate::role::Role;

/// An epoch: everything under `prefix` valid before `before_micros` is superseded.
#[derive(Debug, Clone)]
pub(crate) struct Epoch {
    pub seq: u64,
    pub prefix: String,
    pub before_micros: i64,
    pub valid_micros: i64,
}

/// In-memory views kept beside the keyspace, rebuilt at open.
#[derive(Default)]
pub(crate) struct TruthCache {
    /// Agent → the sequence after which the role holds.
    pub roles: HashMap<(Role, String), u64>,
    pub epochs: Vec<Epoch>,
    /// Bumped by every trust statement and trust-root grant.
    pub trust_version: u64,
    pub trust_latest: Option<(u64, Arc<TrustMap>)>,
}

/// Each agent's new-subject counts per window bucket (the truth keyspace's `N` keys), kept by
/// the writer so that a new subject costs no point reads: ten reads of a key rewritten at
/// every new subject were 8–9 % of the server's CPU during batch ingest (docs/benchmarks.md).
///
/// Invariant: every (bucket, count) an agent's entry holds is exactly the count that the
/// truth keyspace plus the derivation's pending batch hold for that bucket (0 included); a
/// bucket not held is unknown, and is read (disk, then the pending batch) before it is
/// counted. This holds because only derivation writes `N` keys, every such write goes through
/// here, and derivation is serial: on the writer thread, at open before the writer starts, or
/// in a restore or an offline rebuild. A derivation that fails empties the cache (its batch is
/// not committed), and a freshly loaded or cleared truth state starts with it empty. Nothing
/// assumes that time moves forward: a window reaching buckets not held reads them.
#[derive(Default)]
pub(crate) struct NewSubjectWindows {
    agents: HashMap<String, Vec<(u64, u64)>>,
}

impl NewSubjectWindows {
    /// Agents kept before the whole cache is dropped (it refills from disk): a bound on
    /// memory, about 200 bytes each.
    const AGENTS_MAX: usize = 100_000;
    /// Buckets kept per agent; the oldest go first (they are read again if ever needed).
    const BUCKETS_MAX: usize = 32;

    /// `agent`'s known (bucket, count) pairs.
    pub(crate) fn get(&self, agent: &str) -> &[(u64, u64)] {
        self.agents.get(agent).map_or(&[], Vec::as_slice)
    }

    /// Stores `agent`'s known counts (at most `BUCKETS_MAX`, the newest).
    pub(crate) fn put(&mut self, agent: &str, mut buckets: Vec<(u64, u64)>) {
        if buckets.len() > Self::BUCKETS_MAX {
            buckets.sort_unstable();
            buckets.drain(..buckets.len() - Self::BUCKETS_MAX);
        }
        if !self.agents.contains_key(agent) && self.agents.len() >= Self::AGENTS_MAX {
            self.agents.clear();
        }
        self.agents.insert(agent.to_owned(), buckets);
    }

    pub(crate) fn clear(&mut self) {
        self.agents.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::NewSubjectWindows;

    #[test]
    fn an_agent_keeps_its_newest_buckets_and_a_full_cache_starts_over() {
        let mut windows = NewSubjectWindows::default();
        let many: Vec<(u64, u64)> = (0..40).map(|b| (b, b + 1)).collect();
        windows.put("a", many);
        let kept = windows.get("a");
        assert_eq!(kept.len(), NewSubjectWindows::BUCKETS_MAX);
        assert_eq!(kept.first(), Some(&(8, 9)), "the oldest go first");
        assert!(windows.get("nobody").is_empty());
        for i in 1..NewSubjectWindows::AGENTS_MAX {
            windows.put(&format!("agent-{i}"), vec![(1, 1)]);
        }
        assert_eq!(windows.get("a").len(), NewSubjectWindows::BUCKETS_MAX);
        windows.put("one-too-many", vec![(2, 2)]);
        assert!(windows.get("a").is_empty(), "a full cache is dropped whole");
        assert_eq!(windows.get("one-too-many"), &[(2, 2)]);
    }
}
