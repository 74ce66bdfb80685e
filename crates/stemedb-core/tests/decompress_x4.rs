//! `CompressedEdwardsY::decompress_x4`, our patch of curve25519-dalek (vendor/README.md), held to
//! the library's own `decompress` lane by lane: every signature check decompresses its R four at
//! a time with it, so a lane that answered differently would accept or refuse a signature the
//! one-by-one path does not. On a CPU with AVX-512 IFMA the four lanes run on it, which is the
//! code under test here (`arithmetic.rs` fails if such a CPU is not using it, and says "NOT
//! CHECKED" on a CPU without it). Elsewhere, and in CI's second run on the AVX2 build (which
//! compiles no IFMA code), `decompress_x4` decompresses lane by lane, and this test holds that
//! fallback to the same answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use curve25519_dalek::Scalar;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::CompressedEdwardsY;
use proptest::prelude::*;

/// Decompresses the four encodings both ways and fails naming the lane that differs.
fn check(encodings: [[u8; 32]; 4]) {
    let reprs = encodings.map(CompressedEdwardsY);
    let together = CompressedEdwardsY::decompress_x4(&reprs);
    for (lane, (repr, got)) in reprs.iter().zip(together).enumerate() {
        let want = repr.decompress();
        assert_eq!(
            got.map(|p| p.compress().0),
            want.map(|p| p.compress().0),
            "lane {lane}, encoding {}",
            hex::encode(repr.0)
        );
        if let (Some(got), Some(want)) = (got, want) {
            // Equal as points too, not only once compressed again (a non-canonical encoding
            // compresses to its canonical form on both sides).
            assert_eq!(got, want, "lane {lane}");
            assert_eq!(got.is_small_order(), want.is_small_order(), "lane {lane}");
        }
    }
}

/// `y` as 32 little-endian bytes with the sign bit `sign`.
fn encoding(y: [u8; 32], sign: bool) -> [u8; 32] {
    let mut bytes = y;
    bytes[31] = (bytes[31] & 0x7f) | (u8::from(sign) << 7);
    bytes
}

fn small(value: u8) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[0] = value;
    bytes
}

/// p - 1 + `plus` (little-endian), `plus` ≤ 19: p itself and the non-canonical encodings above it.
fn p_minus_one_plus(plus: u8) -> [u8; 32] {
    let mut bytes = [0xffu8; 32];
    bytes[0] = 0xec + plus;
    bytes[31] = 0x7f;
    bytes
}

#[rustfmt::skip]
#[test]
fn edge_encodings_decompress_as_one_by_one() {
    let torsion: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|t| t.compress().0).collect();
    let base = ED25519_BASEPOINT_POINT.compress().0;
    let cases: Vec<[[u8; 32]; 4]> = vec![
        // y = 0, y = 1 (the identity), y = 2, each sign.
        [encoding(small(0), false), encoding(small(0), true), encoding(small(1), false), encoding(small(1), true)],
        [encoding(small(2), false), encoding(small(2), true), encoding(small(3), false), encoding(small(4), true)],
        // y = p - 1 (x = 0: the point of order 2), y = p and above (non-canonical).
        [p_minus_one_plus(0), p_minus_one_plus(1), p_minus_one_plus(2), p_minus_one_plus(19)],
        [encoding(p_minus_one_plus(0), true), encoding(p_minus_one_plus(1), true), [0xff; 32], [0u8; 32]],
        // The eight points of small order, and the base point with both signs.
        [torsion[0], torsion[1], torsion[2], torsion[3]],
        [torsion[4], torsion[5], torsion[6], torsion[7]],
        [base, encoding(base, true), torsion[1], base],
    ];
    for case in cases {
        check(case);
    }
}

/// Four points of the curve: multiples of the base point, some with a torsion part.
fn points() -> impl Strategy<Value = [[u8; 32]; 4]> {
    prop::array::uniform4((any::<u64>(), 0usize..8)).prop_map(|lanes| {
        lanes.map(|(k, t)| {
            (ED25519_BASEPOINT_POINT * Scalar::from(k) + EIGHT_TORSION[t])
                .compress()
                .0
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any 32 bytes: about half are no point's y, some are non-canonical.
    #[test]
    fn any_bytes_decompress_as_one_by_one(encodings in prop::array::uniform4(prop::array::uniform32(any::<u8>()))) {
        check(encodings);
    }

    #[test]
    fn curve_points_decompress_as_one_by_one(encodings in points()) {
        check(encodings);
    }

    /// Valid and invalid encodings side by side, in every lane.
    #[test]
    fn mixed_lanes_decompress_as_one_by_one(
        valid in points(),
        noise in prop::array::uniform4(prop::array::uniform32(any::<u8>())),
        pick in prop::array::uniform4(any::<bool>()),
    ) {
        check(core::array::from_fn(|i| if pick[i] { valid[i] } else { noise[i] }));
    }
}
