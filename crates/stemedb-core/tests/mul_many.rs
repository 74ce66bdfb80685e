//! `VartimeEdwardsPrecomputation::vartime_mul_many`, our patch of curve25519-dalek
//! (vendor/README.md), held to the library's own `vartime_multiscalar_mul` over the same points
//! and scalars (and to its constant-time sum, which computes no NAF: our patch shortens the
//! NAF of a small scalar): every check of up to 80 signatures computes its equation with it
//! (`cofactored.rs`, `point_tables.rs`), so a wrong sum would accept or refuse signatures the
//! library's arithmetic would not. The doublings start at the highest nonzero digit of any
//! scalar: the cases put that digit at every place it can make a difference (none, bit 0,
//! bits 127 and 128, the top of a full scalar), in a table or in a dynamic point. CI runs this
//! on the IFMA build, the AVX2 build and the portable one (`.ci/run`), each its own code.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use curve25519_dalek::Scalar;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{EdwardsPoint, VartimeEdwardsPrecomputation};
use curve25519_dalek::traits::{
    Identity, MultiscalarMul, VartimeMultiscalarMul, VartimePrecomputedMultiscalarMul,
};
use proptest::prelude::*;

/// Precomputations of these points, each given these scalars (no more than its points).
type Tabled = Vec<(Vec<EdwardsPoint>, Vec<Scalar>)>;

/// Points multiplied without a precomputation, each by its scalar.
type Dynamic = Vec<(Scalar, EdwardsPoint)>;

/// `vartime_mul_many` against the library's sum of the same terms.
fn check(name: &str, tabled: &Tabled, dynamic: &[(Scalar, EdwardsPoint)]) {
    let precomputations: Vec<VartimeEdwardsPrecomputation> = tabled
        .iter()
        .map(|(points, _)| VartimeEdwardsPrecomputation::new(points))
        .collect();
    let tables: Vec<(&VartimeEdwardsPrecomputation, &[Scalar])> = precomputations
        .iter()
        .zip(tabled)
        .map(|(precomputation, (_, scalars))| (precomputation, scalars.as_slice()))
        .collect();
    let (dynamic_scalars, dynamic_points): (Vec<Scalar>, Vec<EdwardsPoint>) =
        dynamic.iter().copied().unzip();
    let got =
        VartimeEdwardsPrecomputation::vartime_mul_many(&tables, &dynamic_scalars, &dynamic_points)
            .expect("the counts fit");
    let terms = tabled
        .iter()
        .flat_map(|(points, scalars)| scalars.iter().copied().zip(points.iter().copied()))
        .chain(dynamic.iter().copied());
    let (scalars, points): (Vec<Scalar>, Vec<EdwardsPoint>) = terms.unzip();
    // The constant-time sum writes scalars in radix 16, not as NAFs (which our patch also
    // shortens for small scalars): a wrong NAF cannot hide on both sides.
    let want = EdwardsPoint::multiscalar_mul(&scalars, &points);
    assert_eq!(got, want, "{name}");
    let library_vartime = EdwardsPoint::vartime_multiscalar_mul(&scalars, &points);
    assert_eq!(
        library_vartime, want,
        "{name}: the library's variable-time sum"
    );
}

/// 2^bit as a scalar (bit < 253).
fn power_of_two(bit: usize) -> Scalar {
    let mut bytes = [0u8; 32];
    bytes[bit / 8] = 1 << (bit % 8);
    Scalar::from_bytes_mod_order(bytes)
}

fn point(multiple: u64) -> EdwardsPoint {
    ED25519_BASEPOINT_POINT * Scalar::from(multiple)
}

#[test]
fn edge_cases_sum_as_the_library_does() {
    let p = point(7);
    let q = point(11) + EIGHT_TORSION[3];
    let r = point(13) + EIGHT_TORSION[5];
    let low_max = power_of_two(128) - Scalar::ONE;
    let top = -Scalar::ONE; // ℓ - 1: the largest scalar
    #[rustfmt::skip]
    let cases: Vec<(&str, Tabled, Dynamic)> = vec![
        ("nothing", vec![], vec![]),
        ("every scalar zero", vec![(vec![p, q], vec![Scalar::ZERO, Scalar::ZERO])], vec![(Scalar::ZERO, r)]),
        ("a table given no scalars", vec![(vec![p, q], vec![])], vec![(Scalar::ONE, r)]),
        ("a table given fewer scalars than points", vec![(vec![p, q], vec![Scalar::from(5u8)])], vec![]),
        ("one, in a table", vec![(vec![p], vec![Scalar::ONE])], vec![]),
        ("one, dynamic", vec![], vec![(Scalar::ONE, q)]),
        ("2^127 in a table", vec![(vec![p, q], vec![power_of_two(127), Scalar::ONE])], vec![]),
        ("2^127 dynamic", vec![(vec![p], vec![Scalar::ONE])], vec![(power_of_two(127), r)]),
        ("2^128 - 1 (a half's largest) in a table", vec![(vec![p, q], vec![low_max, low_max])], vec![(Scalar::from(3u8), r)]),
        ("2^128 - 1 dynamic", vec![(vec![p], vec![Scalar::from(3u8)])], vec![(low_max, r)]),
        ("2^128 in a table", vec![(vec![q], vec![power_of_two(128)])], vec![(Scalar::ONE, r)]),
        ("2^128 dynamic", vec![(vec![q], vec![Scalar::ONE])], vec![(power_of_two(128), r)]),
        ("2^252 in a table", vec![(vec![p], vec![power_of_two(252)])], vec![(Scalar::ONE, r)]),
        ("ℓ - 1 in a table", vec![(vec![p, q], vec![top, low_max])], vec![(Scalar::from(9u8), r)]),
        ("ℓ - 1 dynamic", vec![(vec![p, q], vec![low_max, Scalar::ONE])], vec![(top, r)]),
        ("a point and its negation", vec![(vec![p], vec![Scalar::from(5u8)])], vec![(Scalar::from(5u8), -p)]),
        ("torsion points alone", vec![(EIGHT_TORSION[1..4].to_vec(), vec![Scalar::ONE, Scalar::from(2u8), top])], vec![(Scalar::from(3u8), EIGHT_TORSION[6])]),
        ("the identity as a point", vec![(vec![EdwardsPoint::identity()], vec![top])], vec![(low_max, EdwardsPoint::identity())]),
        ("several tables", vec![(vec![p, q], vec![top, low_max]), (vec![r], vec![power_of_two(128)]), (vec![q, r], vec![Scalar::ONE, Scalar::from(2u8)])], vec![(low_max, p), (Scalar::ONE, r)]),
    ];
    for (name, tabled, dynamic) in &cases {
        check(name, tabled, dynamic);
    }
}

#[test]
fn counts_that_do_not_fit_are_refused() {
    let precomputation = VartimeEdwardsPrecomputation::new([ED25519_BASEPOINT_POINT]);
    let two = [Scalar::ONE, Scalar::ONE];
    let more_scalars_than_points =
        VartimeEdwardsPrecomputation::vartime_mul_many(&[(&precomputation, &two)], &[], &[]);
    assert!(more_scalars_than_points.is_none());
    let unpaired =
        VartimeEdwardsPrecomputation::vartime_mul_many(&[], &two, &[ED25519_BASEPOINT_POINT]);
    assert!(unpaired.is_none());
}

/// A scalar of any size, or one below 2^128 (the halves every check uses), or a small one.
fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(Scalar::from_bytes_mod_order),
        any::<u128>().prop_map(Scalar::from),
        (0u64..20).prop_map(Scalar::from),
    ]
}

/// A point of large order, with a torsion component one time in two.
fn any_point() -> impl Strategy<Value = EdwardsPoint> {
    (any::<u64>(), 0usize..16).prop_map(|(multiple, torsion)| {
        point(multiple | 1) + EIGHT_TORSION.get(torsion).copied().unwrap_or_default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn generated_sums_agree(
        tabled in prop::collection::vec(
            prop::collection::vec((any_point(), scalar()), 1..4)
                .prop_flat_map(|pairs| {
                    let len = pairs.len();
                    (Just(pairs), 0..=len)
                }),
            0..6,
        ),
        dynamic in prop::collection::vec((scalar(), any_point()), 0..8),
    ) {
        let tabled: Tabled = tabled
            .into_iter()
            .map(|(pairs, given)| {
                let (points, scalars): (Vec<EdwardsPoint>, Vec<Scalar>) =
                    pairs.into_iter().unzip();
                (points, scalars[..given].to_vec())
            })
            .collect();
        check("generated", &tabled, &dynamic);
    }
}
