//! `stemedb audit export` (from a server) and `stemedb verify` (offline, no server): the audit
//! trail as JSON Lines, and its independent check (docs/truth.md, "Audit export and offline
//! verification").
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use stemedb::core::audit::verify_export;

use crate::ServerArgs;

#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Export assertions with everything they depend on, as verifiable JSON Lines.
    Export(ExportArgs),
}

#[derive(clap::Args)]
struct ExportArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Exact subject, or a prefix ending in `/*` (quote it in the shell: 'drug/*').
    #[arg(long)]
    subject: String,
    /// Valid time to export as of (RFC 3339 UTC).
    #[arg(long)]
    as_of: Option<String>,
    /// File to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// An export written by `stemedb audit export`.
    file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn audit(args: AuditArgs) -> Result<()> {
    let AuditCommand::Export(args) = args.command;
    let client = args.server.client()?;
    let mut params = vec![("subject", args.subject.as_str())];
    if let Some(t) = &args.as_of {
        params.push(("as_of", t.as_str()));
    }
    let bytes = client
        .audit_export(&params)
        .await
        .with_context(|| format!("exporting {} from {}", args.subject, args.server.server))?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    let report = verify_export(&bytes);
    println!(
        "wrote {} ({} bytes): {} assertions and {} records they depend on",
        args.out.display(),
        bytes.len(),
        report.assertions,
        report.records - report.assertions,
    );
    Ok(())
}

/// Exits non-zero (through the error) when anything fails to verify.
pub fn verify(args: &VerifyArgs) -> Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let report = verify_export(&bytes);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "records": report.records,
                "assertions": report.assertions,
                "valid": report.valid,
                "invalid": report.invalid,
                "missing_references": report.missing_references,
                "intact": report.intact,
                "problems": report.problems,
            })
        );
    } else {
        println!(
            "records {}  valid {}  invalid {}  missing references {}  file intact {}",
            report.records, report.valid, report.invalid, report.missing_references, report.intact
        );
        for problem in report.problems.iter().take(50) {
            println!("  {problem}");
        }
    }
    if !report.ok() {
        bail!("{} does not verify", args.file.display());
    }
    Ok(())
}
