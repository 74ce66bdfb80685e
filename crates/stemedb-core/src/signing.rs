//! Ed25519 keys and signatures. A signature covers the domain-separated id, not the body:
//! `b"stemedb/v1/assertion" || 0x00 || id[32]` (docs/signing.md).
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::id::parse_lower_hex;
use crate::{AssertionId, CoreError, ValidationError};

/// The ASCII domain tag that opens every signed message.
pub const SIGNING_DOMAIN: &[u8] = b"stemedb/v1/assertion";

/// The exact bytes an agent signs for an assertion id.
pub fn signing_message(id: &AssertionId) -> [u8; 53] {
    let mut msg = [0u8; 53];
    msg[..20].copy_from_slice(SIGNING_DOMAIN);
    // msg[20] stays 0x00: the separator.
    msg[21..].copy_from_slice(id.as_bytes());
    msg
}

/// An agent's public key, known to be a valid, non-weak Ed25519 point.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(VerifyingKey);

/// Keys already decompressed and screened on this thread, most recent first to go when full:
/// a point decompression (a square root) per record is most of parsing a record's key, and the
/// same few agents sign most records. Only keys that passed are kept; the answer for a given
/// 32 bytes never changes, so the cache changes no result.
const KEY_CACHE_MAX: usize = 1024;

thread_local! {
    static KEY_CACHE: std::cell::RefCell<std::collections::HashMap<[u8; 32], VerifyingKey>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CoreError> {
        let cached = KEY_CACHE.with(|cache| cache.borrow().get(bytes).copied());
        if let Some(key) = cached {
            return Ok(Self(key));
        }
        let key = VerifyingKey::from_bytes(bytes).map_err(|e| CoreError::BadKey(e.to_string()))?;
        if key.is_weak() {
            return Err(CoreError::BadKey("small-order (weak) public key".into()));
        }
        KEY_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.len() >= KEY_CACHE_MAX {
                cache.clear();
            }
            cache.insert(*bytes, key);
        });
        Ok(Self(key))
    }

    /// Parses 64 lowercase hex characters naming a usable Ed25519 key.
    pub fn parse_field(text: &str, field: &str) -> Result<Self, ValidationError> {
        let bytes = parse_lower_hex::<32>(text).ok_or_else(|| {
            ValidationError::new(
                field,
                "public_key_hex",
                "must be 64 lowercase hex characters (an Ed25519 public key)",
            )
        })?;
        Self::from_bytes(&bytes).map_err(|e| {
            ValidationError::new(
                field,
                "public_key_valid",
                format!("is not a usable Ed25519 key: {e}"),
            )
        })
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// Strict single verification (rejects non-canonical S and small-order components).
    pub fn verify(&self, id: &AssertionId, signature: &Signature) -> bool {
        self.verify_message(&signing_message(id), signature)
    }

    /// Strict verification of a raw message (the primitive under [`PublicKey::verify`]; public
    /// so that the Wycheproof vectors test exactly this path).
    pub fn verify_message(&self, message: &[u8], signature: &Signature) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

/// A 64-byte Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn parse_field(text: &str, field: &str) -> Result<Self, ValidationError> {
        parse_lower_hex::<64>(text).map(Self).ok_or_else(|| {
            ValidationError::new(
                field,
                "signature_hex",
                "must be 128 lowercase hex characters (an Ed25519 signature)",
            )
        })
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// An agent's secret key (the 32-byte Ed25519 seed). Never printed by `Debug`.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public={})", self.public_key().to_hex())
    }
}

impl SecretKey {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, CoreError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| CoreError::BadKey(format!("no randomness: {e}")))?;
        Ok(Self::from_seed(&seed))
    }

    pub fn parse_hex(text: &str) -> Result<Self, CoreError> {
        let seed = parse_lower_hex::<32>(text.trim()).ok_or_else(|| {
            CoreError::BadKey("secret key must be 64 lowercase hex characters".into())
        })?;
        Ok(Self::from_seed(&seed))
    }

    pub fn seed_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, id: &AssertionId) -> Signature {
        Signature(self.0.sign(&signing_message(id)).to_bytes())
    }
}

/// Whether a signature's R is a canonical encoding of a point not of small order (what strict
/// verification demands of R), decided from its 32 bytes alone, without decompressing the
/// point (a square root and an inversion per signature, once most of the screen's cost):
/// - canonical: its y (the low 255 bits) is below p = 2^255 - 19, and the sign bit is clear
///   when x is 0, which happens only for y = 1 and y = p - 1;
/// - of small order: a canonical encoding is one of the 8 encodings of the 8-torsion points.
///
/// An R that is not on the curve at all passes this screen, and fails the batch equation
/// (decompression fails there), so the one-by-one fallback refuses it. Wycheproof's vectors
/// check both paths (`tests/wycheproof.rs`), and the tests below check this screen against the
/// decompress-and-compare definition.
fn r_is_sound(signature: &Signature) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature.0[..32]);
    r_encoding_is_canonical(&r) && !small_order_encodings().contains(&r)
}

/// The canonical-encoding rule of an Edwards point's 32 bytes (see [`r_is_sound`]).
fn r_encoding_is_canonical(r: &[u8; 32]) -> bool {
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

/// The canonical encodings of the 8 points of small order.
fn small_order_encodings() -> &'static [[u8; 32]; 8] {
    static ENCODINGS: std::sync::OnceLock<[[u8; 32]; 8]> = std::sync::OnceLock::new();
    ENCODINGS.get_or_init(|| {
        curve25519_dalek::constants::EIGHT_TORSION.map(|point| point.compress().to_bytes())
    })
}

/// Verifies many (key, id, signature) triples; returns one verdict per item.
pub fn verify_many(items: &[(PublicKey, AssertionId, Signature)]) -> Vec<bool> {
    let messages: Vec<[u8; 53]> = items.iter().map(|(_, id, _)| signing_message(id)).collect();
    let raw: Vec<(PublicKey, &[u8], Signature)> = items
        .iter()
        .zip(&messages)
        .map(|((k, _, s), m)| (*k, m.as_slice(), *s))
        .collect();
    verify_messages(&raw)
}

/// Verifies many (key, message, signature) triples; one verdict per item.
/// Uses Ed25519 batch verification first (about twice as fast per signature) and falls back to
/// strict one-by-one checks only when the batch fails, to find the culprits. A batch that passes
/// is then re-checked for nothing: keys are screened for weakness at parse time, batch
/// verification rejects non-canonical S just as strict verification does, and every R is
/// screened here first (canonical, not of small order), which batch verification does not do:
/// Wycheproof's tcId 151, an R encoding y = 1 with the sign bit set, passed the batch equation
/// until this screen was added (tests/wycheproof.rs runs every vector through both paths).
pub fn verify_messages(items: &[(PublicKey, &[u8], Signature)]) -> Vec<bool> {
    if items.len() >= 4 && items.iter().all(|(_, _, s)| r_is_sound(s)) {
        let msg_refs: Vec<&[u8]> = items.iter().map(|(_, m, _)| *m).collect();
        let sigs: Vec<ed25519_dalek::Signature> = items
            .iter()
            .map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(&s.0))
            .collect();
        let keys: Vec<VerifyingKey> = items.iter().map(|(k, _, _)| k.0).collect();
        if ed25519_dalek::verify_batch(&msg_refs, &sigs, &keys).is_ok() {
            return vec![true; items.len()];
        }
    }
    items
        .iter()
        .map(|(k, m, s)| k.verify_message(m, s))
        .collect()
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::edwards::CompressedEdwardsY;

    use super::{Signature, r_is_sound};
    use crate::SplitMix64;

    /// The screen's definition, by decompression (`None`: not a point).
    fn by_decompression(r: &[u8; 32]) -> Option<bool> {
        let compressed = CompressedEdwardsY(*r);
        compressed
            .decompress()
            .map(|point| !point.is_small_order() && point.compress() == compressed)
    }

    fn check(name: &str, r: [u8; 32]) {
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r);
        let screened = r_is_sound(&Signature(signature));
        if let Some(defined) = by_decompression(&r) {
            assert_eq!(screened, defined, "{name}: {}", hex::encode(r));
        }
    }

    /// `y` (little-endian) as 32 bytes, with the sign bit set if asked.
    fn encoding(y: [u8; 32], sign: bool) -> [u8; 32] {
        let mut r = y;
        r[31] = (r[31] & 0x7f) | if sign { 0x80 } else { 0 };
        r
    }

    #[test]
    fn the_byte_screen_of_r_agrees_with_decompression() {
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
            let mut r = [0u8; 32];
            for chunk in r.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            check("random bytes", r);
            let scalar = curve25519_dalek::Scalar::from(rng.next_u64());
            check(
                "a point of large order",
                (base * scalar).compress().to_bytes(),
            );
        }
    }
}
