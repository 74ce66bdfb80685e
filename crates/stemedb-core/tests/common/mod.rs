//! Helpers the signature tests share.
use curve25519_dalek::edwards::CompressedEdwardsY;

/// The first y (a small integer, little-endian) that no curve point has.
#[allow(clippy::expect_used, dead_code)] // not every test file that includes this module uses it
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

/// The encodings of the eight points of small order on edwards25519 (as listed by
/// ed25519-dalek's and libsodium's blocklists), plus a non-canonical encoding of the identity.
#[allow(dead_code)] // not every test file that includes this module uses it
pub const SMALL_ORDER: [&str; 9] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];
