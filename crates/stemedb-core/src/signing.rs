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

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CoreError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|e| CoreError::BadKey(e.to_string()))?;
        if key.is_weak() {
            return Err(CoreError::BadKey("small-order (weak) public key".into()));
        }
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
/// verification demands of R).
fn r_is_sound(signature: &Signature) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature.0[..32]);
    let compressed = curve25519_dalek::edwards::CompressedEdwardsY(r);
    compressed
        .decompress()
        .is_some_and(|point| !point.is_small_order() && point.compress() == compressed)
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
