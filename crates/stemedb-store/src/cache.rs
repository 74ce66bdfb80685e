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
