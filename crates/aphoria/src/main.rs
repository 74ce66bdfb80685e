//! The `aphoria` binary: scan, claims, verify, packs, coverage, docs, suggest
//! (docs/aphoria.md). Exit codes: 0 fine, 1 `verify run` found a Conflict (or, with
//! `--fail-on-missing`, a Missing), 2 the command failed.
mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the context chain on one line; no backtrace for a person to read.
            eprintln!("aphoria: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
