//! Ed25519 keys and signatures. A signature covers the domain-separated id, not the body:
//! `b"stemedb/v1/assertion" || 0x00 || id[32]` (docs/signing.md).
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::cofactored::{self, Parts, Signed};

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

/// Whether curve25519-dalek compiled its AVX-512 IFMA code in, by the rules of its 5.0
/// `build.rs` (this crate sees the same `--cfg` flags and target features): asked for with
/// `--cfg curve25519_dalek_backend="avx512"` (`.cargo/config.toml`), or chosen by default when
/// the target enables `avx512ifma` and `avx512vl` (`-C target-cpu=znver4`, say); never with 32-bit
/// limbs. The library keeps its choice to itself, so a new minor version of it must be read
/// against these rules (the workspace pins `~5.0`).
pub const SIGNATURE_IFMA_COMPILED_IN: bool = cfg!(all(
    target_arch = "x86_64",
    not(curve25519_dalek_bits = "32"),
    any(
        curve25519_dalek_backend = "avx512",
        all(
            not(any(
                curve25519_dalek_backend = "simd",
                curve25519_dalek_backend = "serial",
                curve25519_dalek_backend = "fiat"
            )),
            target_feature = "avx512ifma",
            target_feature = "avx512vl"
        )
    )
));

/// Whether its AVX2 code is compiled in: on x86_64 with 64-bit limbs unless a portable backend
/// is forced.
const AVX2_COMPILED_IN: bool = cfg!(all(
    target_arch = "x86_64",
    not(curve25519_dalek_bits = "32"),
    not(any(
        curve25519_dalek_backend = "serial",
        curve25519_dalek_backend = "fiat"
    ))
));

/// Which curve arithmetic signature checks run on here: curve25519-dalek picks at run time,
/// among the code compiled in, IFMA on a CPU with `avx512ifma` and `avx512vl`, else AVX2 on one
/// with `avx2`, else its portable code. Logged at start: a strict check costs about 1.7x as
/// much on AVX2, a batch of 16 about 1.4x (docs/benchmarks.md, "Twenty-first session").
pub fn signature_arithmetic() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        let ifma = std::is_x86_feature_detected!("avx512ifma")
            && std::is_x86_feature_detected!("avx512vl");
        if SIGNATURE_IFMA_COMPILED_IN && ifma {
            return "AVX-512 IFMA";
        }
        if AVX2_COMPILED_IN && std::is_x86_feature_detected!("avx2") {
            return "AVX2";
        }
    }
    "portable"
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
    static KEY_CACHE: std::cell::RefCell<foldhash::HashMap<[u8; 32], VerifyingKey>> =
        std::cell::RefCell::new(foldhash::HashMap::default());
}

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CoreError> {
        let cached = KEY_CACHE.with(|cache| cache.borrow().get(bytes).copied());
        if let Some(key) = cached {
            return Ok(Self(key));
        }
        // The library's only refusal here is a y with no point on the curve (its error says no
        // more than "signature error" since ed25519-dalek 3).
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| CoreError::BadKey("not the encoding of a curve point".into()))?;
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
        crate::id::lower_hex(&self.0.to_bytes())
    }

    /// Single verification: strict encodings, cofactored equation (`cofactored.rs`).
    pub fn verify(&self, id: &AssertionId, signature: &Signature) -> bool {
        self.verify_message(&signing_message(id), signature)
    }

    /// Verification of a raw message (the primitive under [`PublicKey::verify`]; public so
    /// that the Wycheproof vectors test exactly this path).
    pub fn verify_message(&self, message: &[u8], signature: &Signature) -> bool {
        Parts::decode(&self.signed(message, signature)).is_some_and(|parts| parts.holds())
    }

    fn signed<'a>(&self, message: &'a [u8], signature: &'a Signature) -> Signed<'a> {
        Signed {
            key_bytes: self.0.to_bytes(),
            key: self.0.to_edwards(),
            message,
            signature: &signature.0,
        }
    }
}

/// PublicKey's rule for new records: its 32 bytes a canonical encoding of a point of the
/// prime-order subgroup (no torsion component). Keys from any RFC 8032 key generation are;
/// only a crafted key is not, and under the cofactored equation such a key would sign records
/// that cofactorless verifiers (the Python SDK's) refuse part of the time (docs/signing.md §6).
/// Not applied to stored records, so that any accepted before the rule still read and
/// verify. Passing keys are memoized per thread, as parsed keys are: the check is a scalar
/// multiplication.
pub fn check_new_key(key: &PublicKey, field: &str) -> Result<(), ValidationError> {
    let bytes = key.to_bytes();
    if PRIME_ORDER_KEYS.with(|keys| keys.borrow().contains(&bytes)) {
        return Ok(());
    }
    if !cofactored::encoding_is_canonical(&bytes) || !key.0.to_edwards().is_torsion_free() {
        return Err(ValidationError::new(
            field,
            "public_key_prime_order",
            "is not a canonical encoding of a point of the prime-order subgroup \
             (a key from Ed25519 key generation always is)",
        ));
    }
    PRIME_ORDER_KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if keys.len() >= KEY_CACHE_MAX {
            keys.clear();
        }
        keys.insert(bytes);
    });
    Ok(())
}

thread_local! {
    static PRIME_ORDER_KEYS: std::cell::RefCell<foldhash::HashSet<[u8; 32]>> =
        std::cell::RefCell::new(foldhash::HashSet::default());
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
        crate::id::lower_hex(&self.0)
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
        crate::id::lower_hex(&self.0.to_bytes())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, id: &AssertionId) -> Signature {
        Signature(self.0.sign(&signing_message(id)).to_bytes())
    }
}

/// The fewest signatures checked as a batch: a pair already costs less per signature than two
/// lone checks, 14.9 µs against 17.0 on IFMA, 24.0 against 29.6 on AVX2 (`verify_cost`,
/// docs/benchmarks.md, "Twenty-first session"; the bound was 4 until then).
const BATCH_MIN: usize = 2;

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
/// Two or more are checked as one batch first (`cofactored::batch_holds`; per signature, a
/// lone check's cost times about 0.75 for two, 0.61 for three, 0.22 for a thousand on IFMA,
/// their Rs decompressed four at a time and the scalars of the base point and frequent keys
/// split over kept tables (docs/benchmarks.md, "Fortieth session"));
/// only when the batch fails, or a signature's encodings are bad, is each checked alone, to
/// find the culprits. Both paths decide by the same cofactored equation, so a batch accepts
/// exactly what one-by-one checks accept (`tests/mixed_order.rs`, `tests/small_batches.rs`,
/// and `tests/wycheproof.rs` runs every vector through both).
pub fn verify_messages(items: &[(PublicKey, &[u8], Signature)]) -> Vec<bool> {
    let signed: Vec<Signed<'_>> = items.iter().map(|(k, m, s)| k.signed(m, s)).collect();
    let parts = Parts::decode_many(&signed);
    if items.len() >= BATCH_MIN && cofactored::batch_holds(&parts) {
        return vec![true; items.len()];
    }
    parts
        .iter()
        .map(|p| p.as_ref().is_some_and(Parts::holds))
        .collect()
}
