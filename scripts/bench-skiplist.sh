#!/usr/bin/env bash
# A group commit's memtable inserts, upstream crossbeam-skiplist 0.1.3 against vendor/'s copy
# used as vendor/fjall uses it (a search that prefetches the nodes it visits next, and, for a
# run of 2 to 256 keys, their searches walked side by side first: `prefetch_searches`), in one
# process, alternated: a skiplist of 150,000 keys shaped as the memtable's (a 16-byte head, the
# key's bytes out of line, a sequence number; 24-byte values), then 100,000 random keys in sorted
# groups of 25 (a group commit of single writes) or 1,000 (a batch request), with 32 MiB of other
# memory touched between groups so that the nodes are cold, as they are when connection workers
# share the writer's cores. Keys with a 16-byte shared prefix (as load-test's `load/<tag>/s…`)
# and without. Prints nanoseconds an insert.
# Usage: scripts/bench-skiplist.sh [ROUNDS (2)]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
vendored=$(pwd)/vendor/crossbeam-skiplist
dir=${TMPDIR:-/tmp}/stemedb-bench-skiplist
mkdir -p "$dir/src"
cat >"$dir/Cargo.toml" <<EOF
[package]
name = "bench-skiplist"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
upstream = { package = "crossbeam-skiplist", version = "=0.1.3" }
vendored = { package = "crossbeam-skiplist", path = "$vendored" }

[workspace]
EOF
cat >"$dir/src/main.rs" <<'EOF'
use std::time::Instant;

/// The memtable's key: its first 16 bytes as two words, compared first, then the whole key.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    head: (u64, u64),
    bytes: Box<[u8]>,
    seqno: u64,
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn key(state: &mut u64, prefix: &[u8]) -> Key {
    let n = next(state);
    let mut bytes = prefix.to_vec();
    bytes.extend_from_slice(format!("{n:016x}").as_bytes());
    let mut head = [0u8; 16];
    head.iter_mut().zip(&bytes).for_each(|(h, b)| *h = *b);
    let head = u128::from_be_bytes(head);
    Key { head: ((head >> 64) as u64, head as u64), bytes: bytes.into(), seqno: n }
}

macro_rules! insert_cost {
    ($krate:ident, $prefix:expr, $group:expr, $before:expr) => {{
        let map = $krate::SkipMap::new();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..150_000 {
            map.insert(key(&mut state, $prefix), [0u8; 24]);
        }
        let mut other = vec![0u8; 32 << 20];
        let (mut nanos, mut inserts) = (0u128, 0u64);
        for group in 0..(100_000 / $group) as u32 {
            for i in (0..other.len()).step_by(64) {
                other[i] = other[i].wrapping_add(group as u8);
            }
            let mut keys: Vec<Key> = (0..$group).map(|_| key(&mut state, $prefix)).collect();
            keys.sort();
            let started = Instant::now();
            $before(&map, &keys);
            for k in keys {
                map.insert(k, [0u8; 24]);
            }
            nanos += started.elapsed().as_nanos();
            inserts += $group as u64;
        }
        nanos as f64 / inserts as f64
    }};
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let nothing = |_: &upstream::SkipMap<Key, [u8; 24]>, _: &[Key]| {};
    // What vendor/fjall's batch commit does before a keyspace's run of items.
    let walk = |map: &vendored::SkipMap<Key, [u8; 24]>, keys: &[Key]| {
        if (2..=256).contains(&keys.len()) {
            let keys: Vec<&Key> = keys.iter().collect();
            map.prefetch_searches(&keys);
        }
    };
    for round in 1..=rounds {
        for group in [25usize, 1_000] {
            for (name, prefix) in [("shared 16-byte prefix", &b"load/commit1234/s"[..]), ("no shared prefix", &b""[..])] {
                let upstream = insert_cost!(upstream, prefix, group, nothing);
                let vendored = insert_cost!(vendored, prefix, group, walk);
                println!(
                    "round {round}, groups of {group}, {name}: upstream {upstream:.0} ns an insert, vendored {vendored:.0} ({:.2}x)",
                    vendored / upstream
                );
            }
        }
    }
}
EOF
cargo build --quiet --release --manifest-path "$dir/Cargo.toml"
"$dir/target/release/bench-skiplist" "$rounds"
