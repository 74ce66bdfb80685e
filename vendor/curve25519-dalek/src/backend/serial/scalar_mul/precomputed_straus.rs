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

use alloc::vec::Vec;

use core::borrow::Borrow;
use core::cmp::Ordering;

use crate::backend::serial::curve_models::{
    AffineNielsPoint, CompletedPoint, ProjectiveNielsPoint, ProjectivePoint,
};
use crate::edwards::EdwardsPoint;
use crate::scalar::Scalar;
use crate::traits::Identity;
use crate::traits::VartimePrecomputedMultiscalarMul;
use crate::window::{NafLookupTable5, NafLookupTable8};

#[allow(missing_docs)]
pub struct VartimePrecomputedStraus {
    static_lookup_tables: Vec<NafLookupTable8<AffineNielsPoint>>,
}

impl VartimePrecomputedStraus {
    /// StemeDB's patch (vendor/README.md): the sum of several precomputations' points, each
    /// times its scalar (`scalars` of a precomputation name its first points), and of the
    /// dynamic points times theirs. The doublings start at the highest nonzero digit of any
    /// scalar, not at bit 255, so scalars below 2^128 (the halves of a split one) need half of
    /// them. `None` when a precomputation is given more scalars than it has points.
    pub fn optional_mul_many(
        tables: &[(&VartimePrecomputedStraus, &[Scalar])],
        dynamic_scalars: &[Scalar],
        dynamic_points: &[EdwardsPoint],
    ) -> Option<EdwardsPoint> {
        let mut static_nafs: Vec<([i8; 256], &NafLookupTable8<AffineNielsPoint>)> = Vec::new();
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
        let dynamic: Vec<([i8; 256], NafLookupTable5<ProjectiveNielsPoint>)> = dynamic_scalars
            .iter()
            .zip(dynamic_points)
            .map(|(scalar, point)| {
                (
                    scalar.non_adjacent_form(5),
                    NafLookupTable5::<ProjectiveNielsPoint>::from(point),
                )
            })
            .collect();
        let highest = |naf: &[i8; 256]| naf.iter().rposition(|digit| *digit != 0);
        let top = static_nafs
            .iter()
            .map(|(naf, _)| highest(naf))
            .chain(dynamic.iter().map(|(naf, _)| highest(naf)))
            .max()
            .flatten();
        let mut S = ProjectivePoint::identity();
        let Some(top) = top else {
            return Some(S.as_extended());
        };
        for j in (0..=top).rev() {
            let mut R: CompletedPoint = S.double();
            for (naf, table) in &dynamic {
                match naf[j].cmp(&0) {
                    Ordering::Greater => R = &R.as_extended() + &table.select(naf[j] as usize),
                    Ordering::Less => R = &R.as_extended() - &table.select(-naf[j] as usize),
                    Ordering::Equal => {}
                }
            }
            for (naf, table) in &static_nafs {
                match naf[j].cmp(&0) {
                    Ordering::Greater => R = &R.as_extended() + &table.select(naf[j] as usize),
                    Ordering::Less => R = &R.as_extended() - &table.select(-naf[j] as usize),
                    Ordering::Equal => {}
                }
            }
            S = R.as_projective();
        }
        Some(S.as_extended())
    }
}

impl VartimePrecomputedMultiscalarMul for VartimePrecomputedStraus {
    type Point = EdwardsPoint;

    fn new<I>(static_points: I) -> Self
    where
        I: IntoIterator,
        I::Item: Borrow<Self::Point>,
    {
        Self {
            static_lookup_tables: static_points
                .into_iter()
                .map(|P| NafLookupTable8::<AffineNielsPoint>::from(P.borrow()))
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
    ) -> Option<Self::Point>
    where
        I: IntoIterator,
        I::Item: Borrow<Scalar>,
        J: IntoIterator,
        J::Item: Borrow<Scalar>,
        K: IntoIterator<Item = Option<Self::Point>>,
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
            .map(|P_opt| P_opt.map(|P| NafLookupTable5::<ProjectiveNielsPoint>::from(&P)))
            .collect::<Option<Vec<_>>>()?;

        let sp = self.static_lookup_tables.len();
        let dp = dynamic_lookup_tables.len();
        assert!(sp >= static_nafs.len());
        assert_eq!(dp, dynamic_nafs.len());

        // We could save some doublings by looking for the highest
        // nonzero NAF coefficient, but since we might have a lot of
        // them to search, it's not clear it's worthwhile to check.
        let mut S = ProjectivePoint::identity();
        for j in (0..256).rev() {
            let mut R: CompletedPoint = S.double();

            for i in 0..dp {
                let t_ij = dynamic_nafs[i][j];
                match t_ij.cmp(&0) {
                    Ordering::Greater => {
                        R = &R.as_extended() + &dynamic_lookup_tables[i].select(t_ij as usize)
                    }
                    Ordering::Less => {
                        R = &R.as_extended() - &dynamic_lookup_tables[i].select(-t_ij as usize)
                    }
                    Ordering::Equal => {}
                }
            }

            #[allow(clippy::needless_range_loop)]
            for i in 0..static_nafs.len() {
                let t_ij = static_nafs[i][j];
                match t_ij.cmp(&0) {
                    Ordering::Greater => {
                        R = &R.as_extended() + &self.static_lookup_tables[i].select(t_ij as usize)
                    }
                    Ordering::Less => {
                        R = &R.as_extended() - &self.static_lookup_tables[i].select(-t_ij as usize)
                    }
                    Ordering::Equal => {}
                }
            }

            S = R.as_projective();
        }

        Some(S.as_extended())
    }
}
