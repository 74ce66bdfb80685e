//! Trust chains: an agent's trust is the best product of edge weights along a path of at most
//! `hops_max` trust statements from a root authority, each hop also multiplied by `decay`
//! (docs/lenses.md §Trust). Pure and deterministic: edges and roots are passed in.
use std::collections::HashMap;

/// How trust flows. Defaults are the documented ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrustParams {
    /// Multiplies every hop, so that longer chains carry less trust even at weight 1.
    pub decay: f64,
    /// Longest chain followed from a root.
    pub hops_max: usize,
    /// Trust of an agent with no path from any root.
    pub default_trust: f64,
}

impl Default for TrustParams {
    fn default() -> Self {
        Self {
            decay: 0.9,
            hops_max: 8,
            default_trust: 0.1,
        }
    }
}

/// One live trust statement: `truster` trusts `trustee` with `weight` in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct TrustEdge {
    pub truster: String,
    pub trustee: String,
    pub weight: f64,
}

/// An agent's computed trust, with the chain that gave it (root first, the agent last).
#[derive(Debug, Clone, PartialEq)]
pub struct TrustEntry {
    pub trust: f64,
    pub path: Vec<String>,
}

impl TrustEntry {
    /// Hops from the root: 0 for a root itself.
    pub fn depth(&self) -> usize {
        self.path.len().saturating_sub(1)
    }
}

/// Trust of every agent reachable from a root; everyone else gets the default.
#[derive(Debug, Clone, Default)]
pub struct TrustMap {
    entries: HashMap<String, TrustEntry>,
    default_trust: f64,
}

impl TrustMap {
    /// The agent's trust: its best chain, or the default without one.
    pub fn trust(&self, agent: &str) -> f64 {
        self.entries
            .get(agent)
            .map_or(self.default_trust, |e| e.trust)
    }

    /// The chain behind the agent's trust, `None` without one.
    pub fn entry(&self, agent: &str) -> Option<&TrustEntry> {
        self.entries.get(agent)
    }

    pub fn default_trust(&self) -> f64 {
        self.default_trust
    }

    /// Agents with a chain from a root.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Computes everyone's trust: hop-bounded Bellman–Ford over "best product" (every factor is
/// in [0, 1], so products only fall along a path and cycles never help). Round `h` holds the
/// best trust reachable in exactly `h` hops; the answer is the best over all rounds, ties to
/// the fewest hops, then to the smaller predecessor name, so the result never depends on the
/// order edges arrive in.
pub fn compute_trust(roots: &[String], edges: &[TrustEdge], params: TrustParams) -> TrustMap {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    for name in roots.iter().map(String::as_str).chain(
        edges
            .iter()
            .flat_map(|e| [e.truster.as_str(), e.trustee.as_str()]),
    ) {
        if !index.contains_key(name) {
            index.insert(name, names.len());
            names.push(name);
        }
    }
    let n = names.len();
    let mut adjacency: Vec<(usize, usize, f64)> = edges
        .iter()
        .filter(|e| e.weight > 0.0 && e.weight <= 1.0 && e.truster != e.trustee)
        .filter_map(|e| {
            Some((
                *index.get(e.truster.as_str())?,
                *index.get(e.trustee.as_str())?,
                e.weight,
            ))
        })
        .collect();
    adjacency.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(b.2.total_cmp(&a.2)));
    // best[v] over all rounds so far, and the round/predecessor that gave it.
    let mut best = vec![0.0f64; n];
    let mut pred: Vec<Vec<Option<usize>>> = vec![vec![None; n]; params.hops_max + 1];
    let mut round_value = vec![0.0f64; n];
    let mut best_round = vec![usize::MAX; n];
    for root in roots {
        if let Some(&r) = index.get(root.as_str()) {
            round_value[r] = 1.0;
            best[r] = 1.0;
            best_round[r] = 0;
        }
    }
    for (hop, round_pred) in pred.iter_mut().enumerate().skip(1) {
        let mut next = vec![0.0f64; n];
        for &(from, to, weight) in &adjacency {
            if round_value[from] <= 0.0 || best_round[to] == 0 {
                continue;
            }
            let candidate = round_value[from] * weight * params.decay;
            let better = candidate > next[to]
                || (candidate == next[to]
                    && round_pred[to].is_some_and(|p| names[from] < names[p]));
            if better {
                next[to] = candidate;
                round_pred[to] = Some(from);
            }
        }
        for v in 0..n {
            if next[v] > best[v] {
                best[v] = next[v];
                best_round[v] = hop;
            }
        }
        round_value = next;
    }
    let mut entries = HashMap::new();
    for v in 0..n {
        if best_round[v] == usize::MAX {
            continue;
        }
        let mut path = vec![names[v].to_owned()];
        let (mut node, mut hop) = (v, best_round[v]);
        while hop > 0 {
            let Some(p) = pred[hop][node] else { break };
            path.push(names[p].to_owned());
            node = p;
            hop -= 1;
        }
        path.reverse();
        entries.insert(
            names[v].to_owned(),
            TrustEntry {
                trust: best[v],
                path,
            },
        );
    }
    TrustMap {
        entries,
        default_trust: params.default_trust,
    }
}
