//! `stemedb check --data-dir DIR`: the full offline integrity scan of a data directory (no
//! server may hold it). Exits non-zero, naming each problem, when anything is damaged.
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use stemedb::{Db, DbConfig};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The data directory to scan.
    #[arg(long, env = "STEMEDB_DATA_DIR")]
    data_dir: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &CheckArgs) -> Result<()> {
    let db = Db::open(&args.data_dir, DbConfig::default()).with_context(|| {
        format!(
            "opening {} (is a server holding it?)",
            args.data_dir.display()
        )
    })?;
    let show_progress = !args.json && std::io::stderr().is_terminal();
    let report = db.check(&mut |done, total| {
        if show_progress {
            eprint!("\rchecked {done} of {total} records");
        }
    })?;
    if show_progress {
        eprintln!();
    }
    db.close()?;
    if args.json {
        let indexes: Vec<_> = report
            .indexes
            .iter()
            .map(|(name, found, expected)| serde_json::json!({"index": name, "entries": found, "expected": expected}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "records": report.records,
                "valid": report.valid,
                "problem_count": report.problem_count,
                "problems": report.problems,
                "indexes": indexes,
            })
        );
    } else {
        println!(
            "records {}  valid {}  problems {}",
            report.records, report.valid, report.problem_count
        );
        for (name, found, expected) in &report.indexes {
            println!("  index {name:<14} {found} entries (expected {expected})");
        }
        for problem in &report.problems {
            println!("  problem: {problem}");
        }
    }
    if !report.ok() {
        bail!(
            "{} has {} problem(s)",
            args.data_dir.display(),
            report.problem_count
        );
    }
    Ok(())
}
