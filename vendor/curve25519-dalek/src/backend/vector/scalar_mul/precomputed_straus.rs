// -*- mode: rust; -*-
//
// This file is part of curve25519-dalek.
// Copyright (c) 2019 Henry de Valence.
// See LICENSE for licensing information.
//
// Authors:
// - Henry de Valence <hdevalence@hdevalence.ca>

//! Precomputation for Straus's method.

#![allow(non_snake_case)]

#[curve25519_dalek_derive::unsafe_target_feature_specialize(
    "avx2",
    conditional("avx512ifma,avx512vl", curve25519_dalek_backend = "avx512")
)]
pub mod spec {

    use alloc::vec::Vec;

    use core::borrow::Borrow;
    use core::cmp::Ordering;

    #[for_target_feature("avx2")]
    use crate::backend::vector::avx2::{CachedPoint, ExtendedPoint};

    #[for_target_feature("avx512ifma")]
    use crate::backend::vector::ifma::{CachedPoint, ExtendedPoint};

    use crate::edwards::EdwardsPoint;
    use crate::scalar::Scalar;
    use crate::traits::Identity;
    use crate::traits::VartimePrecomputedMultiscalarMul;
    use crate::window::{NafLookupTable5, NafLookupTable8};

    pub struct VartimePrecomputedStraus {
        static_lookup_tables: Vec<NafLookupTable8<CachedPoint>>,
    }

    /// StemeDB's patch (vendor/README.md): asks the processor for the entry of `table` that
    /// the NAF digit `digit` selects (none for a zero digit), all of its cache lines.
    fn prefetch_entry<T>(table: &NafLookupTable8<T>, digit: i8) {
        if digit == 0 {
            return;
        }
        let entry: *const T = &table.0[usize::from(digit.unsigned_abs() / 2)];
        let line = entry.cast::<i8>();
        for offset in (0..size_of::<T>()).step_by(64) {
            // A prefetch reads nothing and cannot fault, whatever the address (safe to call
            // where the target feature is enabled, as here).
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                line.wrapping_add(offset),
            );
        }
    }

    impl VartimePrecomputedStraus {
        /// StemeDB's patch (vendor/README.md): the sum of several precomputations' points,
        /// each times its scalar (`scalars` of a precomputation name its first points), and of
        /// the dynamic points times theirs. The doublings start at the highest nonzero digit of
        /// any scalar, not at bit 255, so scalars below 2^128 (the halves of a split one) need
        /// half of them. `None` when a precomputation is given more scalars than it has points.
        pub fn optional_mul_many(
            tables: &[(&VartimePrecomputedStraus, &[Scalar])],
            dynamic_scalars: &[Scalar],
            dynamic_points: &[EdwardsPoint],
        ) -> Option<EdwardsPoint> {
            let mut static_nafs: Vec<([i8; 256], &NafLookupTable8<CachedPoint>)> = Vec::new();
            for (precomputation, scalars) in tables {
                if scalars.len() > precomputation.static_lookup_tables.len() {
                    return None;
                }
                for (scalar, table) in scalars.iter().zip(&precomputation.static_lookup_tables) {
                    static_nafs.push((scalar.non_adjacent_form(8), table));
                }
            }
            if dynamic_scalars.len() != dynamic_points.len() {
                return None;
            }
            let dynamic: Vec<([i8; 256], NafLookupTable5<CachedPoint>)> = dynamic_scalars
                .iter()
                .zip(dynamic_points)
                .map(|(scalar, point)| {
                    (scalar.non_adjacent_form(5), NafLookupTable5::<CachedPoint>::from(point))
                })
                .collect();
            let highest = |naf: &[i8; 256]| naf.iter().rposition(|digit| *digit != 0);
            let top = static_nafs
                .iter()
                .map(|(naf, _)| highest(naf))
                .chain(dynamic.iter().map(|(naf, _)| highest(naf)))
                .max()
                .flatten();
            let mut R = ExtendedPoint::identity();
            let Some(top) = top else {
                return Some(R.into());
            };
            for (naf, table) in &static_nafs {
                prefetch_entry(table, naf[top]);
            }
            for j in (0..=top).rev() {
                // The static tables are large (64 entries a point) and kept between calls, so
                // their entries are mostly not in the caches: ask for the next digit's now.
                if j > 0 {
                    for (naf, table) in &static_nafs {
                        prefetch_entry(table, naf[j - 1]);
                    }
                }
                R = R.double();
                for (naf, table) in &dynamic {
                    match naf[j].cmp(&0) {
                        Ordering::Greater => R = &R + &table.select(naf[j] as usize),
                        Ordering::Less => R = &R - &table.select(-naf[j] as usize),
                        Ordering::Equal => {}
                    }
                }
                for (naf, table) in &static_nafs {
                    match naf[j].cmp(&0) {
                        Ordering::Greater => R = &R + &table.select(naf[j] as usize),
                        Ordering::Less => R = &R - &table.select(-naf[j] as usize),
                        Ordering::Equal => {}
                    }
                }
            }
            Some(R.into())
        }
    }

    impl VartimePrecomputedMultiscalarMul for VartimePrecomputedStraus {
        type Point = EdwardsPoint;

        fn new<I>(static_points: I) -> Self
        where
            I: IntoIterator,
            I::Item: Borrow<EdwardsPoint>,
        {
            Self {
                static_lookup_tables: static_points
                    .into_iter()
                    .map(|P| NafLookupTable8::<CachedPoint>::from(P.borrow()))
                    .collect(),
            }
        }

        fn len(&self) -> usize {
            self.static_lookup_tables.len()
        }

        fn is_empty(&self) -> bool {
            self.static_lookup_tables.is_empty()
        }

        fn optional_mixed_multiscalar_mul<I, J, K>(
            &self,
            static_scalars: I,
            dynamic_scalars: J,
            dynamic_points: K,
        ) -> Option<EdwardsPoint>
        where
            I: IntoIterator,
            I::Item: Borrow<Scalar>,
            J: IntoIterator,
            J::Item: Borrow<Scalar>,
            K: IntoIterator<Item = Option<EdwardsPoint>>,
        {
            let static_nafs = static_scalars
                .into_iter()
                .map(|c| c.borrow().non_adjacent_form(8))
                .collect::<Vec<_>>();
            let dynamic_nafs: Vec<_> = dynamic_scalars
                .into_iter()
                .map(|c| c.borrow().non_adjacent_form(5))
                .collect::<Vec<_>>();

            let dynamic_lookup_tables = dynamic_points
                .into_iter()
                .map(|P_opt| P_opt.map(|P| NafLookupTable5::<CachedPoint>::from(&P)))
                .collect::<Option<Vec<_>>>()?;

            let sp = self.static_lookup_tables.len();
            let dp = dynamic_lookup_tables.len();
            assert!(sp >= static_nafs.len());
            assert_eq!(dp, dynamic_nafs.len());

            // We could save some doublings by looking for the highest
            // nonzero NAF coefficient, but since we might have a lot of
            // them to search, it's not clear it's worthwhile to check.
            let mut R = ExtendedPoint::identity();
            for j in (0..256).rev() {
                R = R.double();

                for i in 0..dp {
                    let t_ij = dynamic_nafs[i][j];
                    match t_ij.cmp(&0) {
                        Ordering::Greater => {
                            R = &R + &dynamic_lookup_tables[i].select(t_ij as usize);
                        }
                        Ordering::Less => {
                            R = &R - &dynamic_lookup_tables[i].select(-t_ij as usize);
                        }
                        Ordering::Equal => {}
                    }
                }

                #[allow(clippy::needless_range_loop)]
                for i in 0..static_nafs.len() {
                    let t_ij = static_nafs[i][j];
                    match t_ij.cmp(&0) {
                        Ordering::Greater => {
                            R = &R + &self.static_lookup_tables[i].select(t_ij as usize);
                        }
                        Ordering::Less => {
                            R = &R - &self.static_lookup_tables[i].select(-t_ij as usize);
                        }
                        Ordering::Equal => {}
                    }
                }
            }

            Some(R.into())
        }
    }
}
