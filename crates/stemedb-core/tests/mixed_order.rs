//! Signatures whose R carries a torsion component ("mixed order"): R = rB + T, with T one of
//! the seven non-identity points of small order and s = r + k·a computed honestly. Only the
//! key's owner can make one. The cofactorless equation refuses it, the cofactored one accepts
//! it, and a cofactorless batch accepts it whenever its random weight happens to be a
//! multiple of T's order, so a signer who grinds messages gets records the batch path stores
//! and the one-by-one path (audit, backups, a single write) refuses. Both of StemeDB's paths
//! must give each signature the same verdict: the cofactored one (docs/signing.md §6).
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::{Scalar, traits::Identity};
use sha2::{Digest, Sha512};
use stemedb_core::{CoreError, Limits, PublicKey, Signature, SignedAssertion, verify_messages};

/// A signer that knows its secret scalar, so it can sign with any nonce point it likes.
struct RawSigner {
    secret: Scalar,
    public: [u8; 32],
}

impl RawSigner {
    fn new(seed: u64) -> Self {
        Self::with_key_torsion(seed, EdwardsPoint::identity())
    }

    /// A signer whose public key is aB + `torsion`: the signing formula is unchanged.
    fn with_key_torsion(seed: u64, torsion: EdwardsPoint) -> Self {
        let secret = Scalar::from(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let public = (ED25519_BASEPOINT_POINT * secret + torsion)
            .compress()
            .to_bytes();
        Self { secret, public }
    }

    fn key(&self) -> PublicKey {
        PublicKey::from_bytes(&self.public).unwrap()
    }

    /// Signs `message` with the nonce point rB + `torsion`.
    fn sign(&self, message: &[u8], nonce: u64, torsion: EdwardsPoint) -> Signature {
        let r = Scalar::from(nonce) * Scalar::from(0x1234_5678_9abc_def1u64);
        let big_r = (ED25519_BASEPOINT_POINT * r + torsion)
            .compress()
            .to_bytes();
        let mut hash = Sha512::new();
        hash.update(big_r);
        hash.update(self.public);
        hash.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        let s = r + k * self.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice(s.as_bytes());
        Signature(signature)
    }
}

/// Each signature's verdict one by one and in the batch must equal `want`.
fn check(name: &str, items: &[(PublicKey, Vec<u8>, Signature)], want: &[bool]) {
    let refs: Vec<(PublicKey, &[u8], Signature)> = items
        .iter()
        .map(|(k, m, s)| (*k, m.as_slice(), *s))
        .collect();
    let single: Vec<bool> = refs
        .iter()
        .map(|(k, m, s)| k.verify_message(m, s))
        .collect();
    let batch = verify_messages(&refs);
    assert_eq!(single, want, "{name}: one by one");
    assert_eq!(batch, want, "{name}: as a batch");
}

/// `count` honest signatures by different signers over distinct messages.
fn honest(count: u64, tag: u64) -> Vec<(PublicKey, Vec<u8>, Signature)> {
    (0..count)
        .map(|i| {
            let signer = RawSigner::new(100 + i);
            let message = format!("honest {tag} {i}").into_bytes();
            let signature = signer.sign(&message, 7_000 + i, EdwardsPoint::identity());
            (signer.key(), message, signature)
        })
        .collect()
}

#[test]
fn a_torsion_component_in_r_gets_one_verdict_on_both_paths() {
    let signer = RawSigner::new(1);
    // Sixteen messages per torsion point: a cofactorless batch would accept about half of
    // those with T of order 2, so a disagreement cannot hide.
    for (order_index, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
        for attempt in 0..16u64 {
            let message = format!("mixed order {order_index} {attempt}").into_bytes();
            let crafted = signer.sign(&message, attempt + 1, *torsion);
            let mut items = vec![(signer.key(), message, crafted)];
            items.extend(honest(3, attempt));
            let name = format!("T = EIGHT_TORSION[{order_index}], attempt {attempt}");
            check(&name, &items, &[true; 4]);
        }
    }
}

#[test]
fn two_torsion_components_that_cancel_get_the_same_verdicts_as_alone() {
    let signer = RawSigner::new(2);
    let t = EIGHT_TORSION[2];
    for attempt in 0..8u64 {
        let first = format!("cancel a {attempt}").into_bytes();
        let second = format!("cancel b {attempt}").into_bytes();
        let mut items = vec![
            (
                signer.key(),
                first.clone(),
                signer.sign(&first, attempt + 1, t),
            ),
            (
                signer.key(),
                second.clone(),
                signer.sign(&second, attempt + 50, -t),
            ),
        ];
        items.extend(honest(2, attempt));
        check(&format!("T and -T, attempt {attempt}"), &items, &[true; 4]);
    }
}

#[test]
fn a_mixed_order_r_with_a_wrong_s_is_refused_on_both_paths() {
    let signer = RawSigner::new(3);
    for (order_index, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
        let message = format!("wrong s {order_index}").into_bytes();
        let mut forged = signer.sign(&message, 9, *torsion);
        forged.0[32] ^= 1;
        let mut items = vec![(signer.key(), message, forged)];
        items.extend(honest(3, 99));
        check(
            &format!("wrong s, T = EIGHT_TORSION[{order_index}]"),
            &items,
            &[false, true, true, true],
        );
    }
}

/// R itself of small order, with s = k·a: the cofactored equation holds ([8]R is the identity
/// and [8]sB = [8]kA), so only the encoding rule refuses it, as `verify_strict` does. Each of
/// the eight small-order points, as R, alone and in a batch; the Rs are checked against the
/// blocklists' literal encodings (tests/wycheproof.rs), a source independent of the rule's.
#[test]
fn an_r_of_small_order_is_refused_even_where_the_equation_holds() {
    let signer = RawSigner::new(4);
    for (order_index, torsion) in EIGHT_TORSION.iter().enumerate() {
        let message = format!("small-order r {order_index}").into_bytes();
        // Nonce 0: R = 0·B + T = T.
        let forged = signer.sign(&message, 0, *torsion);
        let r = hex::encode(&forged.0[..32]);
        assert!(
            common::SMALL_ORDER.contains(&r.as_str()),
            "EIGHT_TORSION[{order_index}]: {r}"
        );
        let mut items = vec![(signer.key(), message, forged)];
        items.extend(honest(3, 200 + order_index as u64));
        check(
            &format!("R = EIGHT_TORSION[{order_index}]"),
            &items,
            &[false, true, true, true],
        );
    }
}

#[test]
fn a_key_with_a_torsion_component_gets_one_verdict_on_both_paths() {
    for (order_index, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
        let signer = RawSigner::with_key_torsion(4, *torsion);
        for attempt in 0..8u64 {
            let message = format!("key torsion {order_index} {attempt}").into_bytes();
            let signature = signer.sign(&message, attempt + 1, EdwardsPoint::identity());
            let mut items = vec![(signer.key(), message, signature)];
            items.extend(honest(3, attempt));
            let name = format!("key + EIGHT_TORSION[{order_index}], attempt {attempt}");
            check(&name, &items, &[true; 4]);
        }
    }
}

/// The rule for new records' keys: `Ok` or the rule refused.
fn new_record_key_rule(public_key: &[u8; 32]) -> Result<(), &'static str> {
    let wire = serde_json::json!({
        "subject": "drug/aspirin/dosage",
        "predicate": "recommended_mg",
        "value": 81,
        "agent_id": "crafted",
        "public_key": hex::encode(public_key),
        "timestamp": "2026-12-04T00:00:00Z",
        "signature": "00".repeat(64),
    });
    match SignedAssertion::from_wire(wire, &Limits::default()) {
        Ok(_) => Ok(()),
        Err(CoreError::Invalid(e)) => {
            assert_eq!(e.field, "public_key");
            Err(e.rule)
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[test]
fn new_records_refuse_keys_outside_the_prime_order_subgroup() {
    assert_eq!(new_record_key_rule(&RawSigner::new(5).public), Ok(()));
    for (order_index, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
        let crafted = RawSigner::with_key_torsion(5, *torsion).public;
        assert_eq!(
            new_record_key_rule(&crafted),
            Err("public_key_prime_order"),
            "key + EIGHT_TORSION[{order_index}]"
        );
        // Stored records are rebuilt without the rule: one accepted before it still reads.
        assert!(PublicKey::from_bytes(&crafted).is_ok());
    }
    // y = p + 3: a non-canonical encoding of a point (of mixed order) that decompresses.
    let mut non_canonical = [0xff; 32];
    non_canonical[0] = 0xed + 3;
    non_canonical[31] = 0x7f;
    assert!(
        PublicKey::from_bytes(&non_canonical).is_ok(),
        "parses as a key"
    );
    assert_eq!(
        new_record_key_rule(&non_canonical),
        Err("public_key_prime_order")
    );
}
