//! `stemedb bench-truth`: the truth-maintenance benchmarks of docs/benchmarks.md.
//! - `cascade`: a source with N dependents (most cite it, every tenth derives from an earlier
//!   dependent), then one timed retraction with cascade and one timed reinstatement.
//! - `trust-graph`: a trust graph over the agents of a `load-test --tag T` run (agent 0 is the
//!   root; every other agent is trusted by two earlier ones), so that `load-test --mode query
//!   --lens authority --tag T` measures the authority lens with trust chains.
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use stemedb::SystemClock;
use stemedb::core::{Clock, SecretKey, SplitMix64};
use stemedb_client::{Client, Draft};

use crate::ServerArgs;
use crate::loadtest::agent_key;

#[derive(clap::Args)]
pub struct BenchTruthArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(clap::Subcommand)]
enum Scenario {
    /// Time a retraction cascade over `--dependents` assertions.
    Cascade {
        #[arg(long, default_value_t = 100_000)]
        dependents: usize,
        /// Distinguishes runs against the same server.
        #[arg(long, default_value = "cascade")]
        tag: String,
        #[arg(long)]
        json: bool,
    },
    /// Build a trust graph over `--agents` load-test agents of `--tag`.
    TrustGraph {
        #[arg(long, default_value_t = 10_000)]
        agents: usize,
        /// The `--tag` of the load-test run whose agents it connects.
        #[arg(long, default_value = "load")]
        tag: String,
        /// Seed of the graph's shape (printed; replays exactly).
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

fn now_rfc3339() -> String {
    SystemClock.now().to_rfc3339()
}

/// Signs a record at the benchmark's fixed valid time (2025-01-01), with extra body fields
/// (which may override `timestamp`).
fn signed(
    key: &SecretKey,
    agent: &str,
    subject: &str,
    predicate: &str,
    value: Value,
    extra: &[(&str, Value)],
) -> Result<Value> {
    let draft = Draft::new(agent, subject, predicate, value, "2025-01-01T00:00:00Z");
    Ok(draft.fields(extra).sign(key)?)
}

async fn post_batches(client: &Client, items: Vec<Value>) -> Result<()> {
    for chunk in items.chunks(1000) {
        let answer = client.assert_batch(chunk).await?;
        ensure!(answer.rejected == 0, "a batch item was refused: {answer:?}");
    }
    Ok(())
}

pub async fn run(args: BenchTruthArgs) -> Result<()> {
    let client = args.server.client()?;
    client
        .health()
        .await
        .with_context(|| format!("is a server running at {}?", args.server.server))?;
    match args.scenario {
        Scenario::Cascade {
            dependents,
            tag,
            json,
        } => cascade(&client, dependents, &tag, json).await,
        Scenario::TrustGraph { agents, tag, seed } => {
            trust_graph(&client, agents, &tag, seed).await
        }
    }
}

async fn cascade(client: &Client, dependents: usize, tag: &str, as_json: bool) -> Result<()> {
    let source = format!("source/bench-{tag}");
    let author = SecretKey::from_seed(&[0xB1; 32]);
    let author_id = format!("bench/{tag}/source-author");
    let writer = SecretKey::from_seed(&[0xB2; 32]);
    let writer_id = format!("bench/{tag}/writer");
    let describing = signed(
        &author,
        &author_id,
        &source,
        "title",
        json!("benchmark source"),
        &[],
    )?;
    client.assert(&describing).await?;
    let loaded = Instant::now();
    let mut items = Vec::with_capacity(dependents);
    let mut ids: Vec<String> = Vec::with_capacity(dependents);
    for i in 0..dependents {
        let extra = if i % 10 == 9 {
            ("derived_from", json!([ids[i - 1]]))
        } else {
            ("sources", json!([source]))
        };
        let wire = signed(
            &writer,
            &writer_id,
            &format!("bench/{tag}/d{i:07}"),
            "value",
            json!(i),
            &[extra],
        )?;
        let id = stemedb::core::SignedAssertion::from_wire(wire.clone(), &Default::default())?
            .id
            .to_hex();
        ids.push(id);
        items.push(wire);
    }
    post_batches(client, items).await?;
    let load_secs = loaded.elapsed().as_secs_f64();
    let retraction = signed(
        &author,
        &author_id,
        &source,
        "stemedb:retracts",
        json!({"reason": "benchmark", "cascade": true}),
        &[("timestamp", json!(now_rfc3339()))],
    )?;
    let started = Instant::now();
    let (_, answer) = client.retract(&retraction).await?;
    let retract_ms = started.elapsed().as_secs_f64() * 1000.0;
    let reinstatement = signed(
        &author,
        &author_id,
        &answer.id,
        "stemedb:retracts",
        json!({"reason": "benchmark reinstatement"}),
        &[("timestamp", json!(now_rfc3339()))],
    )?;
    let started = Instant::now();
    let (_, restored) = client.retract(&reinstatement).await?;
    let reinstate_ms = started.elapsed().as_secs_f64() * 1000.0;
    let doc = json!({
        "dependents": dependents,
        "load_seconds": load_secs,
        "retracted_count": answer.retracted_count,
        "retract_ms": retract_ms,
        "reinstated_count": restored.reinstated_count,
        "reinstate_ms": reinstate_ms,
    });
    if as_json {
        println!("{doc}");
    } else {
        println!("loaded {dependents} dependents in {load_secs:.1}s");
        println!(
            "retraction with cascade: retracted_count {} in {retract_ms:.0} ms",
            answer.retracted_count
        );
        println!(
            "reinstatement: reinstated_count {} in {reinstate_ms:.0} ms",
            restored.reinstated_count
        );
    }
    ensure!(
        answer.retracted_count == dependents as u64 + 1,
        "the cascade missed records: {answer:?}"
    );
    Ok(())
}

async fn trust_graph(client: &Client, agents: usize, tag: &str, seed: u64) -> Result<()> {
    ensure!(agents >= 2, "--agents must be at least 2");
    let name = |i: usize| format!("load/{tag}/agent-{i}");
    let (status, _) = client
        .post_json("/v1/admin/trust-roots", &json!({"agent_id": name(0)}))
        .await?;
    ensure!(status == 201, "granting the root failed");
    let mut rng = SplitMix64::new(seed);
    let mut items = Vec::with_capacity(agents * 2);
    for trustee in 1..agents {
        for _ in 0..2 {
            let truster = (rng.next_u64() % trustee as u64) as usize;
            let weight = 0.5 + (rng.next_u64() % 500) as f64 / 1000.0;
            items.push(signed(
                &agent_key(tag, truster),
                &name(truster),
                &format!("agent/{}", name(trustee)),
                "stemedb:trusts",
                json!(weight),
                &[],
            )?);
        }
    }
    let started = Instant::now();
    let statements = items.len();
    post_batches(client, items).await?;
    println!(
        "seed {seed}: {statements} trust statements over {agents} agents in {:.1}s (root {}); \
         now load data with `stemedb load-test --mode batch --agents {agents} --tag {tag}`",
        started.elapsed().as_secs_f64(),
        name(0),
    );
    Ok(())
}
