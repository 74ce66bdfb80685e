//! `stemedb bench-group`: one (subject, predicate) group of N assertions, then each lens, the
//! skeptic and the audit export timed against it, with the server's RSS read from
//! `/proc/<pid>/status` after each; then many concurrent queries on the largest group
//! (docs/benchmarks.md §Large groups).
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use stemedb::LensKind;
use stemedb::core::SplitMix64;
use stemedb_client::{Client, Draft};

use crate::ServerArgs;
use crate::loadtest::agent_key;

#[derive(clap::Args)]
pub struct BenchGroupArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Group sizes, comma separated; one group is loaded per size.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,20000,50000,100000"
    )]
    sizes: Vec<usize>,
    /// Agents writing each group; 0 (the default) gives every record its own agent, since a
    /// lens counts one claim per agent (docs/lenses.md): 50 agents make a group of 50 for
    /// every lens, however many records it holds.
    #[arg(long, default_value_t = 0)]
    agents: usize,
    /// The server's process id, to read VmRSS and VmHWM (omit to skip RSS).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Concurrent requests on the largest group (0 skips that phase).
    #[arg(long, default_value_t = 12)]
    concurrent: usize,
    /// Distinguishes runs against the same server.
    #[arg(long, default_value = "g")]
    tag: String,
    /// The groups are already loaded (by an earlier run with the same tag).
    #[arg(long)]
    skip_load: bool,
    /// Seed of the values (printed; replays exactly).
    #[arg(long, default_value_t = 11)]
    seed: u64,
}

fn subject(tag: &str, size: usize) -> String {
    format!("bench/{tag}/group-{size}")
}

/// `VmRSS` and `VmHWM` in MiB, or `None` without a pid.
fn rss_mib(pid: Option<u32>) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

async fn load(client: &Client, args: &BenchGroupArgs, size: usize) -> Result<()> {
    let subject = subject(&args.tag, size);
    let mut rng = SplitMix64::new(args.seed ^ size as u64);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..size {
        let agent = if args.agents == 0 { i } else { i % args.agents };
        let value = 100.0 + (rng.next_u64() % 1_000_000) as f64 / 1000.0;
        let confidence = 0.5 + (rng.next_u64() % 500) as f64 / 1000.0;
        let agent_id = format!("load/{}/agent-{agent}", args.tag);
        let draft = Draft::new(
            &agent_id,
            &subject,
            "dose_mg",
            json!(value),
            "2025-01-01T00:00:00Z",
        );
        let key = agent_key(&args.tag, agent);
        batch.push(draft.confidence(confidence).sign(&key)?);
        if batch.len() == 1000 || i + 1 == size {
            let answer = client.assert_batch(&batch).await?;
            ensure!(answer.rejected == 0, "a batch item was refused");
            batch.clear();
        }
    }
    eprintln!(
        "loaded {size} assertions into {subject} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One timed request: (what, milliseconds, outcome, bytes).
async fn timed(client: &Client, what: &str, subject: &str) -> (String, f64, String, usize) {
    let started = Instant::now();
    let answer = match what {
        "skeptic" => {
            client
                .get_bytes(
                    "/v1/skeptic",
                    &[("subject", subject), ("predicate", "dose_mg")],
                )
                .await
        }
        "audit" => client.audit_export(&[("subject", subject)]).await,
        lens => {
            client
                .get_bytes(
                    "/v1/query",
                    &[
                        ("subject", subject),
                        ("predicate", "dose_mg"),
                        ("lens", lens),
                    ],
                )
                .await
        }
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match answer {
        Ok(bytes) => (what.to_owned(), ms, "200".into(), bytes.len()),
        Err(stemedb_client::ClientError::Problem { status, kind, .. }) => {
            (what.to_owned(), ms, format!("{status} {kind}"), 0)
        }
        Err(e) => (what.to_owned(), ms, format!("error: {e}"), 0),
    }
}

fn targets() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = LensKind::ALL.iter().map(|l| l.as_str()).collect();
    all.extend(["skeptic", "audit"]);
    all
}

pub async fn run(args: BenchGroupArgs) -> Result<()> {
    let client = args.server.client()?;
    client
        .health()
        .await
        .with_context(|| format!("is a server running at {}?", args.server.server))?;
    match args.agents {
        0 => println!("seed {}; every record by its own agent", args.seed),
        agents => println!("seed {}; {agents} agents per group", args.seed),
    }
    if let Some((rss, hwm)) = rss_mib(args.server_pid) {
        println!("server RSS before: {rss:.0} MiB (peak {hwm:.0} MiB)");
    }
    println!(
        "| group size | request | time (ms) | answer | bytes | RSS after (MiB) | peak RSS (MiB) |"
    );
    println!("|---:|---|---:|---|---:|---:|---:|");
    for &size in &args.sizes {
        if !args.skip_load {
            load(&client, &args, size).await?;
        }
        let subject = subject(&args.tag, size);
        for what in targets() {
            let (what, ms, outcome, bytes) = timed(&client, what, &subject).await;
            let (rss, hwm) = rss_mib(args.server_pid).unwrap_or((0.0, 0.0));
            println!("| {size} | {what} | {ms:.0} | {outcome} | {bytes} | {rss:.0} | {hwm:.0} |");
        }
    }
    let Some(&largest) = args.sizes.iter().max() else {
        return Ok(());
    };
    if args.concurrent > 0 {
        concurrent(&client, &args, largest).await?;
    }
    Ok(())
}

/// `--concurrent` requests at once on the largest group, cycling through every lens, the
/// skeptic and the audit export.
async fn concurrent(client: &Client, args: &BenchGroupArgs, size: usize) -> Result<()> {
    let subject = Arc::new(subject(&args.tag, size));
    let all = targets();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.concurrent {
        let (client, subject, what) = (client.clone(), Arc::clone(&subject), all[i % all.len()]);
        tasks.push(tokio::spawn(
            async move { timed(&client, what, &subject).await },
        ));
    }
    let mut outcomes: Vec<Value> = Vec::new();
    for task in tasks {
        let (what, ms, outcome, _) = task.await?;
        outcomes.push(json!(format!("{what} {outcome} {ms:.0} ms")));
    }
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "\n{} concurrent requests on the {size} group: all answered in {wall_ms:.0} ms",
        args.concurrent
    );
    for o in &outcomes {
        println!("  {}", o.as_str().unwrap_or_default());
    }
    if let Some((rss, hwm)) = rss_mib(args.server_pid) {
        println!("server RSS right after: {rss:.0} MiB (peak {hwm:.0} MiB)");
    }
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    if let Some((rss, hwm)) = rss_mib(args.server_pid) {
        println!("server RSS 5 s later: {rss:.0} MiB (peak {hwm:.0} MiB)");
    }
    Ok(())
}
