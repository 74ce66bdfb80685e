//! What signature checks cost on this machine: CPU time per assertion of the batch check that
//! ingest uses (`verify_many`), in batches of 1 to 1,000 from 300 agents, on one thread (a
//! lone signature is checked strictly; two or more as a batch).
//! `cargo run --release -p stemedb-core --example verify_cost` (docs/benchmarks.md).
use std::time::Instant;

use curve25519_dalek::edwards::CompressedEdwardsY;

use stemedb_core::{
    AssertionId, PublicKey, SecretKey, Signature, signature_arithmetic, verify_many,
};

fn main() {
    println!("signature arithmetic: {}", signature_arithmetic());
    let keys: Vec<SecretKey> = (0..300u32)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            SecretKey::from_seed(&seed)
        })
        .collect();
    let items: Vec<(PublicKey, AssertionId, Signature)> = (0..1_000u32)
        .map(|i| {
            let key = &keys[i as usize % keys.len()];
            let id = AssertionId::of_canonical(&i.to_le_bytes());
            (key.public_key(), id, key.sign(&id))
        })
        .collect();
    decompress_cost(&items);
    for batch in [1usize, 2, 3, 4, 8, 16, 32, 64, 1_000] {
        let started = Instant::now();
        let mut checked = 0usize;
        while checked < 20_000 {
            for chunk in items.chunks(batch) {
                let verdicts = verify_many(chunk);
                assert!(verdicts.iter().all(|ok| *ok), "every signature checks");
                checked += chunk.len();
            }
        }
        let per_item = started.elapsed().as_secs_f64() * 1e6 / checked as f64;
        println!("batches of {batch:>5}: {per_item:5.1} us per assertion on one thread");
    }
}

/// The signatures' R decompressed one by one (`decompress`) and four at a time
/// (`decompress_x4`, our patch: vendor/README.md).
fn decompress_cost(items: &[(PublicKey, AssertionId, Signature)]) {
    let rs: Vec<CompressedEdwardsY> = items
        .iter()
        .map(|(_, _, signature)| {
            let mut r = [0u8; 32];
            r.copy_from_slice(&signature.0[..32]);
            CompressedEdwardsY(r)
        })
        .collect();
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        for r in &rs {
            assert!(r.decompress().is_some(), "every R is a point");
        }
    }
    let one = started.elapsed().as_secs_f64() * 1e6 / (rounds * rs.len()) as f64;
    let started = Instant::now();
    for _ in 0..rounds {
        for chunk in rs.chunks_exact(4) {
            let four = [chunk[0], chunk[1], chunk[2], chunk[3]];
            let points = CompressedEdwardsY::decompress_x4(&four);
            assert!(points.iter().all(Option::is_some), "every R is a point");
        }
    }
    let four = started.elapsed().as_secs_f64() * 1e6 / (rounds * rs.len()) as f64;
    println!("R decompressed one by one: {one:.2} us each; four at a time: {four:.2} us each");
}
