//! Batches of every small size through `verify_many`: from two signatures on they are checked
//! as one random linear combination first (`cofactored::batch_holds`), and one by one only
//! when it fails. Each table row forges one signature, or none, and every verdict must be the
//! one-by-one verdict: a batch never hides a forgery and never refuses an honest signature
//! beside one.
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
}

fn check(size: usize, forged: Option<(usize, Forgery)>) {
    let mut items = honest(size);
    let mut want = vec![true; size];
    if let Some((at, how)) = forged {
        match how {
            Forgery::SignatureBit => items[at].2.0[40] ^= 1,
            Forgery::OtherRecord => items[at].1 = AssertionId::of_canonical(b"another record"),
        }
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
    for size in 1..=6 {
        check(size, None);
        for at in 0..size {
            check(size, Some((at, Forgery::SignatureBit)));
            check(size, Some((at, Forgery::OtherRecord)));
        }
    }
}
