//! What a refused public key is told: each reason by name, as the API passes it on. (The
//! library's own error says only "signature error" since ed25519-dalek 3.)
#![allow(clippy::unwrap_used, clippy::expect_used)]
use curve25519_dalek::edwards::CompressedEdwardsY;
use stemedb_core::PublicKey;

/// The first y (a small integer, little-endian) that no curve point has.
fn not_a_point() -> [u8; 32] {
    (2u8..=255)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            bytes
        })
        .find(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
        .expect("some small y has no point")
}

fn check(name: &str, bytes: [u8; 32], says: &str) {
    let error = PublicKey::from_bytes(&bytes).expect_err(name).to_string();
    assert!(error.contains(says), "{name}: {error}");
}

#[test]
#[rustfmt::skip]
fn a_refused_key_says_why() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    check("not a point",       not_a_point(), "not the encoding of a curve point");
    check("the identity",      identity,      "small-order (weak) public key");
}
