//! What one reliability pass (the evidence lens's table, made from every stored claim) costs on
//! a data directory: the first pass, then ROUNDS more, wall time on one thread, with the
//! pass's whole-index reads (`whole-index`, the default) or one lookup per record
//! (`per-record`, the reference).
//! `cargo run --release -p stemedb --example reliability_cost -- DIR [ROUNDS] [LOOKUPS]`
//! (docs/benchmarks.md). Opens DIR as the server would: run it on a store no server holds.
use std::path::PathBuf;
use std::time::Instant;

use stemedb::{Db, DbConfig, Lookups};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: reliability_cost DIR [ROUNDS] [whole-index|per-record]";
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let rounds: u64 = args.next().map_or(Ok(3), |r| r.parse())?;
    let lookups = match args.next().as_deref() {
        None | Some("whole-index") => Lookups::WholeIndex,
        Some("per-record") => Lookups::PerRecord,
        Some(_) => return Err(usage.into()),
    };
    let db = Db::open(&dir, DbConfig::default())?;
    let last = db.last_sequence();
    for round in 0..=rounds {
        let started = Instant::now();
        let table = db.reliability_table_at(last, lookups)?;
        let name = if round == 0 { "first" } else { "again" };
        println!(
            "{name} pass ({lookups:?}): {:.2} s ({} facts, {} agents, sequence {last})",
            started.elapsed().as_secs_f64(),
            table.facts,
            table.agent_count()
        );
    }
    Ok(())
}
