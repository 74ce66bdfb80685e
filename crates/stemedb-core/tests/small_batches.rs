//! Batches of every small size through `verify_many`: from two signatures on they are checked
//! as one random linear combination first (`cofactored::batch_holds`), and one by one only
//! when it fails. Each table row forges one signature, or none, and every verdict must be the
//! one-by-one verdict: a batch never hides a forgery and never refuses an honest signature
//! beside one. Forgeries that break an encoding (S not canonical, R not canonical, R no point,
//! R of small order) are refused before the batch's arithmetic, and the batch decompresses
//! its Rs four at a time (`Parts::decode_many`): sizes up to 9 put a forgery in every lane of a
//! full chunk and of the lone last one, and two forgeries of different kinds side by side.
mod common;

use common::not_a_point;
use stemedb_core::{AssertionId, PublicKey, SecretKey, Signature, verify_many};

/// `size` honest (key, id, signature) triples from distinct signers.
fn honest(size: usize) -> Vec<(PublicKey, AssertionId, Signature)> {
    (0..size)
        .map(|i| {
            let mut seed = [9u8; 32];
            seed[0] = i as u8;
            let key = SecretKey::from_seed(&seed);
            let id = AssertionId::of_canonical(format!("record {i}").as_bytes());
            (key.public_key(), id, key.sign(&id))
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Forgery {
    /// A bit of S flipped.
    SignatureBit,
    /// The signature of another record.
    OtherRecord,
    /// S at or above the group order (its top byte set).
    SNotCanonical,
    /// R's y at p, a non-canonical encoding of y = 0.
    RNotCanonical,
    /// R a y that is no point's.
    RNotAPoint,
    /// R the identity, a point of small order.
    RSmallOrder,
}

const FORGERIES: [Forgery; 6] = [
    Forgery::SignatureBit,
    Forgery::OtherRecord,
    Forgery::SNotCanonical,
    Forgery::RNotCanonical,
    Forgery::RNotAPoint,
    Forgery::RSmallOrder,
];

fn forge(item: &mut (PublicKey, AssertionId, Signature), how: Forgery) {
    let r = &mut item.2.0[..32];
    match how {
        Forgery::SignatureBit => item.2.0[40] ^= 1,
        Forgery::OtherRecord => item.1 = AssertionId::of_canonical(b"another record"),
        Forgery::SNotCanonical => item.2.0[63] = 0xff,
        Forgery::RNotCanonical => {
            r.fill(0xff);
            r[0] = 0xed;
            r[31] = 0x7f;
        }
        Forgery::RNotAPoint => r.copy_from_slice(&not_a_point()),
        Forgery::RSmallOrder => {
            r.fill(0);
            r[0] = 1;
        }
    }
}

fn check(size: usize, forged: &[(usize, Forgery)]) {
    let mut items = honest(size);
    let mut want = vec![true; size];
    for &(at, how) in forged {
        forge(&mut items[at], how);
        want[at] = false;
    }
    let one_by_one: Vec<bool> = items
        .iter()
        .map(|(key, id, sig)| verify_many(&[(*key, *id, *sig)])[0])
        .collect();
    assert_eq!(one_by_one, want, "size {size}, {forged:?}: one by one");
    assert_eq!(
        verify_many(&items),
        want,
        "size {size}, {forged:?}: as a batch"
    );
}

#[test]
fn every_small_batch_gives_each_signature_its_own_verdict() {
    for size in 1..=9 {
        check(size, &[]);
        for at in 0..size {
            for how in FORGERIES {
                check(size, &[(at, how)]);
            }
        }
    }
}

#[test]
fn two_forgeries_of_different_kinds_keep_their_own_verdicts() {
    for size in 2..=9 {
        for a in 0..size {
            for b in a + 1..size {
                let first = FORGERIES[(a + b) % FORGERIES.len()];
                let second = FORGERIES[(a + 2 * b + 1) % FORGERIES.len()];
                check(size, &[(a, first), (b, second)]);
            }
        }
    }
}
