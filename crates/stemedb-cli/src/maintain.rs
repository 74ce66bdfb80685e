//! Offline maintenance of a data directory that no server holds: `stemedb check` (the full
//! integrity scan; exits non-zero naming each problem) and `stemedb rebuild-indexes`.
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use stemedb::{AckLossPolicy, Db, DbConfig};

use crate::progress::Progress;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The data directory to scan.
    #[arg(long, env = "STEMEDB_DATA_DIR")]
    data_dir: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// After the scan, set the acknowledgement mark to what the engine holds, so that a server
    /// starts again on a directory that lost acknowledged records (they stay lost; restoring
    /// from a backup is the way to get them back).
    #[arg(long)]
    accept_loss: bool,
}

/// Opens an existing data directory: `check` and `rebuild-indexes` never create one (a typo
/// in the path would otherwise "check clean" an empty store it just made).
fn open(dir: &std::path::Path, acknowledged_loss: AckLossPolicy, derive: bool) -> Result<Db> {
    anyhow::ensure!(
        dir.join("FORMAT").is_file(),
        "{} is not a StemeDB data directory (no FORMAT file there)",
        dir.display()
    );
    let config = DbConfig {
        acknowledged_loss,
        derive_at_open: derive,
        ..DbConfig::default()
    };
    crate::open_guard::open(dir, config)
}

pub fn check(args: &CheckArgs) -> Result<()> {
    let policy = if args.accept_loss {
        AckLossPolicy::Accept
    } else {
        AckLossPolicy::Report
    };
    let db = open(&args.data_dir, policy, true)?;
    let progress = Progress::new(!args.json, "checked", None);
    let report = db.check(&mut progress.callback())?;
    progress.finish();
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
    if args.accept_loss {
        println!(
            "acknowledgement mark set to sequence {}: a server starts on this directory again; \
             any records reported missing above are lost",
            db.last_sequence()
        );
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

#[derive(clap::Args)]
pub struct RebuildArgs {
    /// The data directory whose indexes to rebuild from its log.
    #[arg(long, env = "STEMEDB_DATA_DIR")]
    data_dir: PathBuf,
}

pub fn rebuild(args: &RebuildArgs) -> Result<()> {
    // Not derived at open: the rebuild derives everything again, and a derivation that fails
    // on damaged derived state would keep the repair from starting.
    let db = open(&args.data_dir, AckLossPolicy::Refuse, false)?;
    let started = std::time::Instant::now();
    let progress = Progress::new(true, "re-applied", None);
    let records = db
        .rebuild_indexes(&mut progress.callback())
        .with_context(|| format!("rebuilding the indexes of {}", args.data_dir.display()))?;
    progress.finish();
    db.close()?;
    println!(
        "rebuilt every index and the truth state from {records} log records in {:.1}s; run `stemedb check` to confirm",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
