//! Precomputed multiples of the points every signature check multiplies: the base point and
//! the keys of agents that sign again and again.
//!
//! Why: a check multiplies B and the signer's key A by scalars of 253 bits, and the R of each
//! signature by a weight of 128 bits (`cofactored.rs`). A multiplication by several scalars
//! shares one chain of doublings as long as the longest scalar, and builds a small table of
//! multiples of each point first. Split every 253-bit scalar `c` over a point `P` as
//! `c_lo + 2^128 c_hi` over `P` and `2^128 P`, and every scalar is below 2^128: the chain is
//! half as long. With the tables of `P` and `2^128 P` made once per key and kept (wider ones
//! than a check could afford to build), a key's term also costs fewer additions
//! (docs/benchmarks.md, "Fortieth session"). The equation checked is the same sum of the
//! same points; only the order of the arithmetic changes.
//!
//! Keys get tables on their second sighting (a key seen once would pay for a table it never
//! uses again), and at most [`KEY_TABLES_MAX`] are kept: the tables are shared by every
//! thread, about 20 KiB a key with IFMA arithmetic. Making a key's tables costs about 46 µs
//! on the fortieth session's machine, 1.6 lone checks: with more than 1,024 keys signing in
//! turn, tables are dropped and made again (each at most once per 1,024 new keys); with more
//! than 4,096, keys are mostly forgotten before their second sighting and checks take the
//! untabled path, as before this module. Both bounds are internal caches of a pure function
//! of the key's bytes, so they change costs, never verdicts.
use std::sync::{Arc, LazyLock, RwLock};

use curve25519_dalek::Scalar;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{EdwardsPoint, VartimeEdwardsPrecomputation};
use curve25519_dalek::traits::VartimePrecomputedMultiscalarMul;
use foldhash::{HashMap, HashSet};

/// The most keys kept with tables; when full, all are dropped and the keys signing most
/// get theirs again on their next two sightings.
const KEY_TABLES_MAX: usize = 1024;

/// The most keys remembered as seen once.
const SEEN_ONCE_MAX: usize = 4096;

/// `P` and `2^128 P`, precomputed for variable-time multiplication.
pub(crate) struct PointTable(VartimeEdwardsPrecomputation);

impl PointTable {
    fn new(point: &EdwardsPoint) -> Self {
        let high = point * two_to_128();
        Self(VartimeEdwardsPrecomputation::new([*point, high]))
    }

    pub(crate) fn precomputation(&self) -> &VartimeEdwardsPrecomputation {
        &self.0
    }
}

/// 2^128 as a scalar.
fn two_to_128() -> Scalar {
    let mut bytes = [0u8; 32];
    bytes[16] = 1;
    Scalar::from_bytes_mod_order(bytes)
}

/// `c` as `[c_lo, c_hi]`, both below 2^128, with `c = c_lo + 2^128 c_hi` as integers (a
/// canonical scalar is below 2^253).
pub(crate) fn split(c: &Scalar) -> [Scalar; 2] {
    let bytes = c.as_bytes();
    let half = |range: std::ops::Range<usize>| {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&bytes[range]);
        Scalar::from_bytes_mod_order(out)
    };
    [half(0..16), half(16..32)]
}

/// The base point's table.
pub(crate) fn base() -> &'static PointTable {
    static BASE: LazyLock<PointTable> = LazyLock::new(|| PointTable::new(&ED25519_BASEPOINT_POINT));
    &BASE
}

#[derive(Default)]
struct Keys {
    tables: HashMap<[u8; 32], Arc<PointTable>>,
    seen_once: HashSet<[u8; 32]>,
}

static KEYS: LazyLock<RwLock<Keys>> = LazyLock::new(RwLock::default);

/// The key's table when it has one; otherwise `None`, and the key is remembered, so that its
/// next sighting makes its table. `point` must be the point `key_bytes` encode.
pub(crate) fn key_table(key_bytes: &[u8; 32], point: &EdwardsPoint) -> Option<Arc<PointTable>> {
    {
        let keys = KEYS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(table) = keys.tables.get(key_bytes) {
            return Some(Arc::clone(table));
        }
    }
    let mut keys = KEYS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(table) = keys.tables.get(key_bytes) {
        return Some(Arc::clone(table));
    }
    if !keys.seen_once.remove(key_bytes) {
        if keys.seen_once.len() >= SEEN_ONCE_MAX {
            keys.seen_once.clear();
        }
        keys.seen_once.insert(*key_bytes);
        return None;
    }
    drop(keys);
    // Made without the lock (a scalar multiplication and two tables): other checks go on.
    let table = Arc::new(PointTable::new(point));
    let mut keys = KEYS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if keys.tables.len() >= KEY_TABLES_MAX {
        keys.tables.clear();
    }
    keys.tables.insert(*key_bytes, Arc::clone(&table));
    Some(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SplitMix64;

    fn random_scalar(rng: &mut SplitMix64) -> Scalar {
        let mut wide = [0u8; 64];
        for chunk in wide.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        Scalar::from_bytes_mod_order_wide(&wide)
    }

    #[test]
    fn a_split_scalar_recombines() {
        let mut rng = SplitMix64::new(3);
        for _ in 0..1_000 {
            let c = random_scalar(&mut rng);
            let [lo, hi] = split(&c);
            assert!(
                lo.as_bytes()[16..].iter().all(|b| *b == 0),
                "lo below 2^128"
            );
            assert!(
                hi.as_bytes()[16..].iter().all(|b| *b == 0),
                "hi below 2^128"
            );
            assert_eq!(lo + two_to_128() * hi, c);
        }
    }
}
