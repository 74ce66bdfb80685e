//! What signature checks cost on this machine: CPU time per assertion of the batch check that
//! ingest uses (`verify_many`), in batches of 1,000 from 300 agents, on one thread.
//! `cargo run --release -p stemedb-core --example verify_cost` (docs/benchmarks.md).
use std::time::Instant;

use stemedb_core::{AssertionId, PublicKey, SecretKey, Signature, verify_many};

fn main() {
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
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        let verdicts = verify_many(&items);
        assert!(verdicts.iter().all(|ok| *ok), "every signature checks");
    }
    let per_item = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds * 1_000);
    println!("batch verification: {per_item:.1} us per assertion on one thread");
}
