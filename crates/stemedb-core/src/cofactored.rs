//! Ed25519 verification with the cofactored equation `[8][s]B = [8]R + [8][k]A`, one by one
//! and as a batch, so that both paths give every signature the same verdict.
//!
//! Why not the library's `verify_strict` and `verify_batch`: the first checks the cofactorless
//! equation `[s]B = R + [k]A`, the second a random combination of them without the factor 8.
//! For an R with a torsion component (R = rB + T, which only the key's owner can make) the
//! first always refuses and the second accepts whenever T's weight is a multiple of T's order:
//! a signer who grinds messages gets records a batch stores and a later one-by-one check
//! refuses (`tests/mixed_order.rs`). RFC 8032 §5.1.7 names the cofactored equation as the
//! check and allows the other; ZIP 215 chose it for the same reason. Signatures made by an
//! honest signer satisfy both equations, so this changes no verdict on them.
//!
//! The encoding rules stay strict, as `verify_strict`'s: S canonical (below ℓ), R canonical
//! and not of small order. Keys are screened when parsed (`PublicKey::from_bytes`: not of
//! small order) and, for new records, by `check_new_key` (canonical, no torsion component),
//! so that torsion in R is the only place cofactored and cofactorless verifiers differ.
use foldhash::HashMap;

use curve25519_dalek::Scalar;
use curve25519_dalek::constants::{ED25519_BASEPOINT_COMPRESSED, ED25519_BASEPOINT_POINT};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint, VartimeEdwardsPrecomputation};
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use crate::point_tables;

/// One signature taken apart: everything the equation needs, encodings already checked.
pub(crate) struct Parts {
    key_bytes: [u8; 32],
    key: EdwardsPoint,
    r_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
    /// k = SHA-512(R ‖ A ‖ M) mod ℓ.
    k: Scalar,
}

/// One signature to take apart: the key (its bytes and its point), the message, the signature.
pub(crate) struct Signed<'a> {
    pub(crate) key_bytes: [u8; 32],
    pub(crate) key: EdwardsPoint,
    pub(crate) message: &'a [u8],
    pub(crate) signature: &'a [u8; 64],
}

/// What stands in an unused lane of `decompress_x4` (its answer is dropped): any encoding.
const LANE_FILLER: CompressedEdwardsY = ED25519_BASEPOINT_COMPRESSED;

impl Parts {
    /// `None` when S is not canonical, or R is not a canonical encoding of a point of large
    /// order: a signature no path accepts.
    pub(crate) fn decode(signed: &Signed<'_>) -> Option<Self> {
        let (r_bytes, s) = encodings(signed.signature)?;
        let r = CompressedEdwardsY(r_bytes).decompress()?;
        Self::assemble(signed, r_bytes, r, s)
    }

    /// `decode` of each, with the Rs decompressed four at a time
    /// (`CompressedEdwardsY::decompress_x4`, vendor/README.md): a decompression is a field
    /// exponentiation, about a third of a batch check's CPU per signature when done one by one.
    pub(crate) fn decode_many(items: &[Signed<'_>]) -> Vec<Option<Self>> {
        let encoded: Vec<Option<([u8; 32], Scalar)>> =
            items.iter().map(|item| encodings(item.signature)).collect();
        let mut points: Vec<Option<EdwardsPoint>> = Vec::with_capacity(items.len());
        for chunk in encoded.chunks(4) {
            if let [lone] = chunk {
                // Four lanes for one point cost more than the serial decompression.
                points.push(lone.and_then(|(r_bytes, _)| CompressedEdwardsY(r_bytes).decompress()));
                continue;
            }
            let reprs: [CompressedEdwardsY; 4] =
                core::array::from_fn(|lane| match chunk.get(lane) {
                    Some(Some((r_bytes, _))) => CompressedEdwardsY(*r_bytes),
                    _ => LANE_FILLER,
                });
            let decoded = CompressedEdwardsY::decompress_x4(&reprs);
            points.extend(chunk.iter().zip(decoded).map(|(e, r)| e.and(r)));
        }
        items
            .iter()
            .zip(encoded)
            .zip(points)
            .map(|((item, encoded), r)| {
                let (r_bytes, s) = encoded?;
                Self::assemble(item, r_bytes, r?, s)
            })
            .collect()
    }

    fn assemble(
        signed: &Signed<'_>,
        r_bytes: [u8; 32],
        r: EdwardsPoint,
        s: Scalar,
    ) -> Option<Self> {
        if is_small_order_encoding(&r_bytes) {
            return None;
        }
        let mut hash = Sha512::new();
        hash.update(r_bytes);
        hash.update(signed.key_bytes);
        hash.update(signed.message);
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        Some(Self {
            key_bytes: signed.key_bytes,
            key: signed.key,
            r_bytes,
            r,
            s,
            k,
        })
    }

    /// The cofactored equation for this signature alone.
    pub(crate) fn holds(&self) -> bool {
        let expected = self.tabled_expected().unwrap_or_else(|| {
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&-self.k, &self.key, &self.s)
        });
        (expected - self.r).mul_by_cofactor().is_identity()
    }

    /// `[s]B - [k]A` with scalars split in halves over the base point's and the key's tables
    /// (`point_tables.rs`); `None` when the key has no table yet.
    fn tabled_expected(&self) -> Option<EdwardsPoint> {
        let key = point_tables::key_table(&self.key_bytes, &self.key)?;
        let k = point_tables::split(&-self.k);
        let s = point_tables::split(&self.s);
        VartimeEdwardsPrecomputation::vartime_mul_many(
            &[
                (key.precomputation(), &k),
                (point_tables::base().precomputation(), &s),
            ],
            &[],
            &[],
        )
    }
}

/// R's bytes and S, when S is canonical (below ℓ) and R's encoding is canonical.
fn encodings(signature: &[u8; 64]) -> Option<([u8; 32], Scalar)> {
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    encoding_is_canonical(&r_bytes).then_some((r_bytes, s))
}

/// Above this many signatures a batch's combination is computed by the library's
/// multiplication (Pippenger's method from 190 points), below by the tables' (measured:
/// docs/benchmarks.md, "Fortieth session").
const TABLED_BATCH_MAX: usize = 80;

/// Whether every signature holds, checked as one random linear combination:
/// `[8]( -(Σ zᵢsᵢ)B + Σ zᵢRᵢ + Σ (zᵢkᵢ)Aᵢ ) = 0`, with 128-bit weights zᵢ drawn from a hash of
/// every input, so no signer can choose them. Terms of one key are summed first (a few agents
/// sign most records), which leaves fewer points to multiply. A false answer names no culprit:
/// the caller checks one by one.
pub(crate) fn batch_holds(items: &[Option<Parts>]) -> bool {
    let Some(items) = items
        .iter()
        .map(Option::as_ref)
        .collect::<Option<Vec<&Parts>>>()
    else {
        return false;
    };
    let weights = weights(&items);
    let combination = (items.len() <= TABLED_BATCH_MAX)
        .then(|| tabled_combination(&items, &weights))
        .flatten()
        .unwrap_or_else(|| plain_combination(&items, &weights));
    combination.mul_by_cofactor().is_identity()
}

/// The batch's terms, each key's summed: `Σ zᵢsᵢ`, then `(zᵢ, Rᵢ)` for each signature, then
/// `(Σ zᵢkᵢ, A)` for each key in order of first appearance.
struct Terms {
    s_sum: Scalar,
    rs: Vec<(Scalar, EdwardsPoint)>,
    keys: Vec<KeyTerm>,
}

struct KeyTerm {
    bytes: [u8; 32],
    point: EdwardsPoint,
    scalar: Scalar,
}

impl Terms {
    fn of(items: &[&Parts], weights: &[Scalar]) -> Self {
        let mut s_sum = Scalar::ZERO;
        let mut rs = Vec::with_capacity(items.len());
        let mut per_key: HashMap<[u8; 32], usize> = HashMap::default();
        let mut keys: Vec<KeyTerm> = Vec::new();
        for (item, z) in items.iter().zip(weights) {
            s_sum += z * item.s;
            rs.push((*z, item.r));
            let slot = *per_key.entry(item.key_bytes).or_insert_with(|| {
                keys.push(KeyTerm {
                    bytes: item.key_bytes,
                    point: item.key,
                    scalar: Scalar::ZERO,
                });
                keys.len() - 1
            });
            keys[slot].scalar += z * item.k;
        }
        Self { s_sum, rs, keys }
    }
}

/// The combination by the library's multiplication of every term.
fn plain_combination(items: &[&Parts], weights: &[Scalar]) -> EdwardsPoint {
    let terms = Terms::of(items, weights);
    let scalars = terms
        .rs
        .iter()
        .map(|(z, _)| *z)
        .chain([-terms.s_sum])
        .chain(terms.keys.iter().map(|key| key.scalar));
    let points = terms
        .rs
        .iter()
        .map(|(_, r)| *r)
        .chain([ED25519_BASEPOINT_POINT])
        .chain(terms.keys.iter().map(|key| key.point));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
}

/// The combination with the base point's and the tabled keys' scalars split in halves
/// (`point_tables.rs`); keys without a table yet are multiplied as the Rs are. `None` only if
/// the library refuses the tables (made for another arithmetic: never in one process).
fn tabled_combination(items: &[&Parts], weights: &[Scalar]) -> Option<EdwardsPoint> {
    let terms = Terms::of(items, weights);
    let (mut scalars, mut points): (Vec<Scalar>, Vec<EdwardsPoint>) =
        terms.rs.iter().copied().unzip();
    let mut tabled = Vec::with_capacity(terms.keys.len());
    for key in &terms.keys {
        match point_tables::key_table(&key.bytes, &key.point) {
            Some(table) => tabled.push((table, point_tables::split(&key.scalar))),
            None => {
                scalars.push(key.scalar);
                points.push(key.point);
            }
        }
    }
    let base = point_tables::split(&-terms.s_sum);
    let mut tables: Vec<(&VartimeEdwardsPrecomputation, &[Scalar])> = tabled
        .iter()
        .map(|(table, halves)| (table.precomputation(), halves.as_slice()))
        .collect();
    tables.push((point_tables::base().precomputation(), &base));
    VartimeEdwardsPrecomputation::vartime_mul_many(&tables, &scalars, &points)
}

/// One 128-bit weight per signature, from BLAKE3 over every signature's R, A, S and k (k binds
/// the message), as a Fiat–Shamir challenge: changing any input changes every weight.
fn weights(items: &[&Parts]) -> Vec<Scalar> {
    let mut hasher = blake3::Hasher::new_derive_key("stemedb/v1 ed25519 batch weights");
    for item in items {
        hasher.update(&item.r_bytes);
        hasher.update(&item.key_bytes);
        hasher.update(item.s.as_bytes());
        hasher.update(item.k.as_bytes());
    }
    let mut output = hasher.finalize_xof();
    items
        .iter()
        .map(|_| {
            let mut z = [0u8; 16];
            output.fill(&mut z);
            Scalar::from(u128::from_le_bytes(z))
        })
        .collect()
}

/// The canonical-encoding rule of an Edwards point's 32 bytes, decided from the bytes alone:
/// its y (the low 255 bits) is below p = 2^255 - 19, and the sign bit is clear when x is 0,
/// which happens only for y = 1 and y = p - 1. (Decompression accepts both non-canonical
/// forms, and checking by compressing again costs a field inversion.)
pub(crate) fn encoding_is_canonical(r: &[u8; 32]) -> bool {
    let sign = r[31] >> 7;
    let mut y = *r;
    y[31] &= 0x7f;
    // p - 1 = 2^255 - 20 and p itself, little-endian: 0xec / 0xed, then 0xff x 30, then 0x7f.
    let top_ones = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff);
    let at_least_p = top_ones && y[0] >= 0xed;
    let is_p_minus_1 = top_ones && y[0] == 0xec;
    let is_one = y[0] == 1 && y[1..].iter().all(|b| *b == 0);
    !at_least_p && !(sign == 1 && (is_one || is_p_minus_1))
}

/// The canonical encodings of the eight points of small order (the 8-torsion), computed once.
static SMALL_ORDER_ENCODINGS: std::sync::LazyLock<[[u8; 32]; 8]> = std::sync::LazyLock::new(|| {
    curve25519_dalek::constants::EIGHT_TORSION.map(|point| point.compress().to_bytes())
});

/// Whether a canonical encoding (`encoding_is_canonical`) is that of a point of small order,
/// decided from the bytes: a canonical encoding names one point, and compressing that point
/// gives the encoding back, so the point is small-order exactly when the bytes are one of the
/// eight torsion points' encodings. The same verdict as `decompress()?.is_small_order()`, which
/// costs three doublings and a comparison in projective coordinates: about 7,000 instructions
/// a signature, 3.7 % of batch ingest's (docs/benchmarks.md, "Thirty-seventh session").
/// Meaningless for a non-canonical encoding, which `encodings` has refused before.
fn is_small_order_encoding(r: &[u8; 32]) -> bool {
    SMALL_ORDER_ENCODINGS.iter().any(|t| t == r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use curve25519_dalek::edwards::CompressedEdwardsY;

    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::traits::IsIdentity;

    use super::{
        Parts, Signed, encoding_is_canonical, is_small_order_encoding, plain_combination,
        tabled_combination, weights,
    };
    use crate::SplitMix64;

    /// The rule's definition: compressing the decompressed point gives the same bytes
    /// (`None`: not a point).
    fn by_decompression(r: &[u8; 32]) -> Option<bool> {
        let compressed = CompressedEdwardsY(*r);
        compressed
            .decompress()
            .map(|point| point.compress() == compressed)
    }

    fn check(name: &str, r: [u8; 32]) {
        let screened = encoding_is_canonical(&r);
        if let Some(defined) = by_decompression(&r) {
            assert_eq!(screened, defined, "{name}: {}", hex::encode(r));
        }
    }

    /// 32 bytes from `rng`.
    fn random_bytes(rng: &mut SplitMix64) -> [u8; 32] {
        let mut r = [0u8; 32];
        for chunk in r.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        r
    }

    /// `y` (little-endian) as 32 bytes, with the sign bit set if asked.
    fn encoding(y: [u8; 32], sign: bool) -> [u8; 32] {
        let mut r = y;
        r[31] = (r[31] & 0x7f) | if sign { 0x80 } else { 0 };
        r
    }

    #[test]
    fn the_canonical_encoding_rule_agrees_with_decompression() {
        let mut special: Vec<(&str, [u8; 32])> = Vec::new();
        for point in curve25519_dalek::constants::EIGHT_TORSION {
            let bytes = point.compress().to_bytes();
            special.push(("a small-order point", bytes));
            let mut flipped = bytes;
            flipped[31] ^= 0x80;
            special.push(("a small-order point, sign flipped", flipped));
        }
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut one = [0u8; 32];
        one[0] = 1;
        let mut p_minus_1 = p;
        p_minus_1[0] = 0xec;
        for (name, y) in [("y = p", p), ("y = 1", one), ("y = p - 1", p_minus_1)] {
            special.push((name, encoding(y, false)));
            special.push((name, encoding(y, true)));
        }
        for low in 0xed..=0xffu8 {
            let mut y = p;
            y[0] = low;
            special.push(("y >= p", encoding(y, false)));
            special.push(("y >= p, sign set", encoding(y, true)));
        }
        for (name, r) in special {
            check(name, r);
        }
        let base = curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
        let mut rng = SplitMix64::new(7);
        for _ in 0..2_000 {
            check("random bytes", random_bytes(&mut rng));
            let scalar = curve25519_dalek::Scalar::from(rng.next_u64());
            check(
                "a point of large order",
                (base * scalar).compress().to_bytes(),
            );
        }
    }

    /// `is_small_order_encoding` against the point's own check, for every canonical encoding
    /// the cases below reach: each torsion point with either sign bit, each added to a point of
    /// large order (a point with a torsion component is not itself of small order), random
    /// bytes and random points. (tests/mixed_order.rs holds the rule, through verification, to
    /// the blocklists' literal encodings.)
    fn check_small_order(name: &str, r: [u8; 32]) {
        if !encoding_is_canonical(&r) {
            return;
        }
        if let Some(point) = CompressedEdwardsY(r).decompress() {
            assert_eq!(
                is_small_order_encoding(&r),
                point.is_small_order(),
                "{name}: {}",
                hex::encode(r)
            );
        }
    }

    /// The tabled combination against the library's, batch by batch: keys repeat across
    /// batches, so a key's first sighting goes in as a dynamic point and later ones through
    /// its table (`point_tables.rs`), and the base point's scalar is split every time.
    fn check_combinations(batch: &[(crate::SecretKey, u32)]) {
        type OneSigned = ([u8; 32], EdwardsPoint, [u8; 53], [u8; 64]);
        let signed: Vec<OneSigned> = batch
            .iter()
            .map(|(key, n)| {
                let id = crate::AssertionId::of_canonical(&n.to_le_bytes());
                let bytes = key.public_key().to_bytes();
                let point = CompressedEdwardsY(bytes)
                    .decompress()
                    .expect("a key is a point");
                (bytes, point, crate::signing_message(&id), key.sign(&id).0)
            })
            .collect();
        let parts: Vec<Parts> = signed
            .iter()
            .map(|(key_bytes, key, message, signature)| {
                let one = Signed {
                    key_bytes: *key_bytes,
                    key: *key,
                    message,
                    signature,
                };
                Parts::decode(&one).expect("an honest signature decodes")
            })
            .collect();
        let items: Vec<&Parts> = parts.iter().collect();
        let weights = weights(&items);
        let tabled = tabled_combination(&items, &weights).expect("tables of this process");
        assert_eq!(
            tabled,
            plain_combination(&items, &weights),
            "{} signatures",
            items.len()
        );
        assert!(tabled.mul_by_cofactor().is_identity());
    }

    #[test]
    fn tabled_and_plain_combinations_agree() {
        let keys: Vec<crate::SecretKey> = (0..5u8)
            .map(|i| crate::SecretKey::from_seed(&[0xc0 + i; 32]))
            .collect();
        let mut rng = SplitMix64::new(5);
        for size in [1usize, 2, 3, 5, 8, 13, 1, 4, 21, 2, 40, 80] {
            let batch: Vec<(crate::SecretKey, u32)> = (0..size)
                .map(|_| {
                    let key = &keys[(rng.next_u64() % keys.len() as u64) as usize];
                    (key.clone(), rng.next_u64() as u32)
                })
                .collect();
            check_combinations(&batch);
        }
    }

    #[test]
    fn the_small_order_rule_agrees_with_the_points_check() {
        let base = curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
        for torsion in curve25519_dalek::constants::EIGHT_TORSION {
            let bytes = torsion.compress().to_bytes();
            check_small_order("a torsion point", bytes);
            let mut flipped = bytes;
            flipped[31] ^= 0x80;
            check_small_order("a torsion point, sign flipped", flipped);
            check_small_order("base + torsion", (base + torsion).compress().to_bytes());
        }
        let mut rng = SplitMix64::new(11);
        for _ in 0..2_000 {
            check_small_order("random bytes", random_bytes(&mut rng));
            let point = base * curve25519_dalek::Scalar::from(rng.next_u64());
            check_small_order("a point of large order", point.compress().to_bytes());
            let torsion = curve25519_dalek::constants::EIGHT_TORSION[(rng.next_u64() % 8) as usize];
            check_small_order(
                "a large point plus torsion",
                (point + torsion).compress().to_bytes(),
            );
        }
    }
}
