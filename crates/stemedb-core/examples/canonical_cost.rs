//! What a body's canonical bytes (RFC 8785) cost on this machine: stemedb-core's one-pass
//! writer against the reference implementation, `serde_json_canonicalizer`, on one typical
//! body, 200,000 times each, three rounds.
//! `cargo run --release -p stemedb-core --example canonical_cost` (docs/benchmarks.md).
use std::time::Instant;

use serde_json::{Map, Value, json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let body: Map<String, Value> = serde_json::from_value(json!({
        "subject": "load/pgs1/s00012345", "predicate": "value", "value": 81.5,
        "confidence": 0.9, "agent_id": "agent/load/00042", "public_key": "a".repeat(64),
        "timestamp": "2026-12-04T19:00:00.123456Z", "sources": ["source/x/1"],
    }))?;
    let rounds = 200_000u32;
    for _ in 0..3 {
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            bytes += stemedb_core::canonical_bytes(&body)?.len();
        }
        let ours_ns = started.elapsed().as_nanos() / u128::from(rounds);
        let started = Instant::now();
        for _ in 0..rounds {
            bytes += serde_json_canonicalizer::to_vec(&body)?.len();
        }
        let reference_ns = started.elapsed().as_nanos() / u128::from(rounds);
        println!(
            "stemedb-core {ours_ns} ns, serde_json_canonicalizer {reference_ns} ns ({bytes} bytes)"
        );
    }
    Ok(())
}
