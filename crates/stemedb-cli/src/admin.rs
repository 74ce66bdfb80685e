//! `stemedb admin status` (a table, or JSON with `--json`) and `stemedb admin export-state`
//! (a debug bundle: status, metrics, health and the OpenAPI version, in one JSON file).
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use stemedb::SystemClock;
use stemedb::core::Clock;

use crate::ServerArgs;

#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand)]
enum AdminCommand {
    /// Version, uptime, counts, storage size, last sequence, commit latency.
    Status {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        json: bool,
    },
    /// Write a debug bundle (status, metrics, health) to a file.
    ExportState {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        out: PathBuf,
        /// Also print the bundle's summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: AdminArgs) -> Result<()> {
    match args.command {
        AdminCommand::Status { server, json } => status(&server, json).await,
        AdminCommand::ExportState { server, out, json } => export_state(&server, &out, json).await,
    }
}

async fn fetch_status(server: &ServerArgs) -> Result<Value> {
    server
        .client()?
        .get_json("/v1/admin/status", &[])
        .await
        .with_context(|| format!("asking {} for its status", server.server))
}

async fn status(server: &ServerArgs, as_json: bool) -> Result<()> {
    let s = fetch_status(server).await?;
    if as_json {
        println!("{s}");
        return Ok(());
    }
    let c = &s["commits"];
    let rows = [
        ("server", server.server.clone()),
        (
            "version",
            s["version"].as_str().unwrap_or_default().to_owned(),
        ),
        ("on-disk format", s["data_format_version"].to_string()),
        ("uptime", format!("{} s", s["uptime_seconds"])),
        ("assertions", s["assertion_count"].to_string()),
        ("last sequence", s["last_sequence"].to_string()),
        (
            "storage",
            format!(
                "{:.1} MiB",
                s["storage_bytes"].as_f64().unwrap_or(0.0) / 1048576.0
            ),
        ),
        (
            "commits",
            format!("{} ({} records)", c["count"], c["records"]),
        ),
        (
            "commit latency",
            format!(
                "last {:.2} ms, mean {:.2} ms, max {:.2} ms",
                c["last_ms"].as_f64().unwrap_or(0.0),
                c["mean_ms"].as_f64().unwrap_or(0.0),
                c["max_ms"].as_f64().unwrap_or(0.0)
            ),
        ),
        (
            "fsync latency",
            format!(
                "last {:.2} ms, mean {:.2} ms",
                c["fsync_last_ms"].as_f64().unwrap_or(0.0),
                c["fsync_mean_ms"].as_f64().unwrap_or(0.0)
            ),
        ),
        (
            "roles",
            s["roles"].as_array().map_or(0, Vec::len).to_string() + " grant(s)",
        ),
        (
            "server key",
            s["server_public_key"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
    ];
    for (name, value) in rows {
        println!("{name:<16} {value}");
    }
    Ok(())
}

async fn export_state(server: &ServerArgs, out: &PathBuf, as_json: bool) -> Result<()> {
    let client = server.client()?;
    let status = fetch_status(server).await?;
    let health = client.health().await?;
    let metrics = String::from_utf8_lossy(&client.get_bytes("/metrics", &[]).await?).into_owned();
    let openapi = client.get_json("/openapi.json", &[]).await?;
    let bundle = json!({
        "collected_at": SystemClock.now().to_rfc3339(),
        "server": server.server,
        "status": status,
        "health": health,
        "api_version": openapi["info"]["version"],
        "metrics": metrics,
    });
    std::fs::write(out, serde_json::to_vec_pretty(&bundle)?)
        .with_context(|| format!("writing {}", out.display()))?;
    let summary = json!({"out": out, "bytes": std::fs::metadata(out)?.len(), "parts": ["status", "health", "api_version", "metrics"]});
    if as_json {
        println!("{summary}");
    } else {
        println!(
            "wrote a debug bundle to {} ({} bytes): status, health, API version, metrics",
            out.display(),
            summary["bytes"]
        );
    }
    Ok(())
}
