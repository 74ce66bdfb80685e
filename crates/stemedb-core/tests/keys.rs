//! What a refused public key is told: each reason by name, as the API passes it on. (The
//! library's own error says only "signature error" since ed25519-dalek 3.)
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::not_a_point;
use stemedb_core::PublicKey;

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
