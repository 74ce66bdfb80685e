//! Helpers the signature tests share.
use curve25519_dalek::edwards::CompressedEdwardsY;

/// The first y (a small integer, little-endian) that no curve point has.
#[allow(clippy::expect_used)]
pub fn not_a_point() -> [u8; 32] {
    (2u8..=255)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            bytes
        })
        .find(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
        .expect("some small y has no point")
}
