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
/// Invariant: an agent's entry holds, for every bucket from the first one it was loaded for,
/// exactly the count that the truth keyspace plus the derivation's pending batch hold. It is
/// loaded from both the first time the agent needs it, and every later change of the agent's
/// `N` keys goes through it (only derivation writes them, and only on the writer thread or
/// at open before the writer starts). A derivation that fails empties it (its batch is not
/// committed), and a freshly loaded or cleared truth state starts with it empty.
#[derive(Default)]
pub(crate) struct NewSubjectWindows {
    agents: HashMap<String, Vec<(u64, u64)>>,
}

impl NewSubjectWindows {
    /// Agents kept before the whole cache is dropped (it refills from disk): a bound on
    /// memory, about 200 bytes each.
    const AGENTS_MAX: usize = 100_000;

    /// `agent`'s (bucket, count) pairs, if loaded.
    pub(crate) fn get(&self, agent: &str) -> Option<&[(u64, u64)]> {
        self.agents.get(agent).map(Vec::as_slice)
    }

    /// Stores `agent`'s counts, keeping only the buckets from `first` on.
    pub(crate) fn put(&mut self, agent: &str, mut buckets: Vec<(u64, u64)>, first: u64) {
        buckets.retain(|&(b, _)| b >= first);
        if !self.agents.contains_key(agent) && self.agents.len() >= Self::AGENTS_MAX {
            self.agents.clear();
        }
        self.agents.insert(agent.to_owned(), buckets);
    }

    pub(crate) fn clear(&mut self) {
        self.agents.clear();
    }
}
