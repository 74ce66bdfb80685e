//! `stemedb arena`: plays the Arena's seeded worlds (crates/stemedb-arena) against a real
//! server. Every claim is signed by its agent's key and posted; each fact is then asked of the
//! server through every lens (`winner_only`), and the answers are scored against the world's
//! truth next to the classic truth-discovery baselines on the same claims
//! (docs/truth-quality.md). A run is idempotent: the same seed signs the same bytes, so a
//! second run against the same server finds its claims stored already.
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use stemedb::core::{AssertionId, SecretKey, Timestamp};
use stemedb_arena::{Baseline, Persona, SCENARIOS, Scenario, World, accuracy, latest_claims};
use stemedb_client::{Client, Draft};

use crate::ServerArgs;

#[derive(clap::Args)]
pub struct ArenaArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// A scenario (honest, trolls, sybils, swarm, copiers, changes), or `all`.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// Facts per world.
    #[arg(long, default_value_t = 2000)]
    facts: usize,
    /// The seed every world is drawn from (printed; replays exactly).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `unconfigured` (nobody is a trust root), `roots` (the experts are trust roots, as an
    /// operator who knows them would set), or `both`.
    #[arg(long, default_value = "both")]
    setup: String,
    /// Queries in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// Write each world's claims (one per agent and fact, as the baselines see them), its truth
    /// and the baselines' accuracy into this directory instead of playing against a server
    /// (for `scripts/arena-baselines-check.sh`).
    #[arg(long)]
    export: Option<std::path::PathBuf>,
}

/// The lenses the arena asks (conflict ranks as authority does, so it is not asked again).
const LENSES: [&str; 5] = ["recency", "authority", "consensus", "layered", "evidence"];

/// How long the arena waits for the server's reliability table to weigh its claims.
const RELIABILITY_WAIT_SECS: u64 = 120;

/// The worlds' start: 2025-01-01T00:00:00Z, in seconds since the epoch.
const START_SECS: i64 = 1_735_689_600;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    Unconfigured,
    Roots,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Unconfigured => "unconfigured",
            Setup::Roots => "roots",
        }
    }
}

fn setups(text: &str) -> Result<Vec<Setup>> {
    Ok(match text {
        "unconfigured" => vec![Setup::Unconfigured],
        "roots" => vec![Setup::Roots],
        "both" => vec![Setup::Unconfigured, Setup::Roots],
        other => anyhow::bail!("--setup {other:?}: expected unconfigured, roots or both"),
    })
}

fn scenarios(text: &str) -> Result<Vec<&'static Scenario>> {
    if text == "all" {
        return Ok(SCENARIOS.iter().collect());
    }
    let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
    Scenario::named(text)
        .map(|s| vec![s])
        .with_context(|| format!("--scenario {text:?}: expected all or one of {names:?}"))
}

pub async fn run(args: ArenaArgs) -> Result<()> {
    ensure!(args.facts > 0, "--facts must be at least 1");
    if let Some(dir) = &args.export {
        return export(&args, dir);
    }
    ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    // Settings first: a mistyped name is said before any server is asked.
    let (chosen, setups) = (scenarios(&args.scenario)?, setups(&args.setup)?);
    let client = args.server.client()?;
    client
        .health()
        .await
        .with_context(|| format!("is a server running at {}?", args.server.server))?;
    let mut rows = Vec::new();
    for scenario in chosen {
        for &setup in &setups {
            let world = World::generate(scenario, args.facts, args.seed);
            let row = play(&client, &world, setup, args.concurrency)
                .await
                .with_context(|| format!("scenario {} ({})", scenario.name, setup.name()))?;
            if !args.json {
                print_row(&row);
            }
            rows.push(row);
        }
    }
    if args.json {
        let doc = json!({"seed": args.seed, "facts": args.facts, "results": rows});
        println!("{doc}");
    }
    Ok(())
}

/// Where a world's records live on the server: one prefix per seed, scenario and setup, so
/// that trust roots granted for one setup touch no other.
fn prefix(world: &World, setup: Setup) -> String {
    format!(
        "arena/s{}/{}/{}",
        world.seed,
        world.scenario.name,
        setup.name()
    )
}

fn agent_key(agent_id: &str) -> SecretKey {
    SecretKey::from_seed(AssertionId::of_canonical(agent_id.as_bytes()).as_bytes())
}

/// Facts whose evidence answer differs from the reference that a result row names.
const DIFFERENCES_SHOWN: usize = 5;

async fn play(client: &Client, world: &World, setup: Setup, concurrency: usize) -> Result<Value> {
    let prefix = prefix(world, setup);
    let mut written = post_claims(client, world, &prefix).await?;
    if setup == Setup::Roots {
        written = written.max(grant_roots(client, world, &prefix).await?);
    }
    let first_agent = world.agents.first().map(|a| format!("{prefix}/{}", a.name));
    if let Some(agent_id) = first_agent {
        wait_for_reliability(client, &agent_id, written).await?;
    }
    let mut accuracy_by = serde_json::Map::new();
    let mut evidence_answers = Vec::new();
    for lens in LENSES {
        let answers = ask(client, world, &prefix, lens, concurrency).await?;
        accuracy_by.insert(lens.to_owned(), json!(accuracy(&world.facts, &answers)));
        if lens == "evidence" {
            evidence_answers = answers;
        }
    }
    // The same algorithm in-process on the world's claims: the server must agree with it.
    let roots: Vec<usize> = match setup {
        Setup::Roots => (0..world.agents.len())
            .filter(|&a| world.agents[a].persona == Persona::Expert)
            .collect(),
        Setup::Unconfigured => Vec::new(),
    };
    let (reference, _) = stemedb_arena::evidence_answers(world, &roots, &Default::default());
    let differing: Vec<Value> = reference
        .iter()
        .zip(&evidence_answers)
        .zip(&world.facts)
        .filter(|((a, b), _)| match (a, b) {
            (Some(a), Some(b)) => !stemedb_arena::is_correct(b, a),
            (a, b) => a.is_some() != b.is_some(),
        })
        .map(|((a, b), fact)| json!({"subject": fact.subject, "reference": a, "server": b}))
        .collect();
    let claims = latest_claims(world);
    for baseline in Baseline::ALL {
        let answers = baseline.answer(&claims);
        accuracy_by.insert(
            baseline.name().to_owned(),
            json!(accuracy(&world.facts, &answers)),
        );
    }
    Ok(json!({
        "scenario": world.scenario.name,
        "setup": setup.name(),
        "agents": world.agents.len(),
        "claims": world.claims.len(),
        "accuracy": accuracy_by,
        "evidence_differing_from_reference": differing.len(),
        // The first few, to find why (the test prints the row).
        "evidence_differences": &differing[..differing.len().min(DIFFERENCES_SHOWN)],
    }))
}

/// Waits until the server's reliability table weighs every record up to `sequence` (it is
/// refreshed in the background), so that the evidence lens answers from the claims just made.
async fn wait_for_reliability(client: &Client, agent_id: &str, sequence: u64) -> Result<()> {
    let encoded: String = agent_id
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let path = format!("/v1/agents/{encoded}");
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(RELIABILITY_WAIT_SECS);
    loop {
        let answer = client.get_json(&path, &[]).await?;
        let covered = answer["reliability"]["table_sequence"]
            .as_u64()
            .unwrap_or(0);
        if covered >= sequence {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the server's reliability table stayed at sequence {covered}, behind {sequence}, for {RELIABILITY_WAIT_SECS} s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Posts every claim; returns the highest sequence among them.
async fn post_claims(client: &Client, world: &World, prefix: &str) -> Result<u64> {
    let keys: Vec<(String, SecretKey)> = world
        .agents
        .iter()
        .map(|a| {
            let id = format!("{prefix}/{}", a.name);
            let key = agent_key(&id);
            (id, key)
        })
        .collect();
    let mut signed = Vec::with_capacity(world.claims.len());
    for claim in &world.claims {
        let (agent_id, key) = &keys[claim.agent];
        let fact = &world.facts[claim.fact];
        let secs = START_SECS + i64::try_from(claim.offset_secs)?;
        let timestamp = Timestamp::from_micros(secs * 1_000_000).to_rfc3339();
        let subject = format!("{prefix}/{}", fact.subject);
        let draft = Draft::new(
            agent_id,
            &subject,
            &fact.predicate,
            claim.value.clone(),
            &timestamp,
        );
        signed.push(draft.confidence(claim.confidence).sign(key)?);
    }
    let mut last = 0;
    for chunk in signed.chunks(1000) {
        let answer = client.assert_batch(chunk).await?;
        ensure!(
            answer.rejected == 0,
            "the server refused a claim: {answer:?}"
        );
        last = answer
            .results
            .iter()
            .filter_map(|r| r.sequence)
            .fold(last, u64::max);
    }
    Ok(last)
}

/// Makes every expert a trust root (201, or already one); returns the highest sequence of
/// the grants.
async fn grant_roots(client: &Client, world: &World, prefix: &str) -> Result<u64> {
    let mut last = 0;
    for agent in world.agents.iter().filter(|a| a.persona == Persona::Expert) {
        let agent_id = format!("{prefix}/{}", agent.name);
        let (status, answer) = client
            .post_json("/v1/admin/trust-roots", &json!({"agent_id": agent_id}))
            .await?;
        ensure!(
            status == 201 || status == 200,
            "granting {agent_id} as a trust root (an admin API key is needed): {status} {answer}"
        );
        // The grant's own sequence: the reliability table must cover it before the lenses are
        // asked (it reads `sequence` before, a field this answer does not have, so the wait
        // covered the claims alone; a table made between the claims and the grants, without
        // the roots' anchors, then answered some facts differently from the reference).
        let sequence = answer["effective_after_sequence"].as_u64();
        last = last.max(sequence.with_context(|| {
            format!("granting {agent_id} as a trust root: no effective_after_sequence in {answer}")
        })?);
    }
    Ok(last)
}

/// Each fact's winner under `lens`, `concurrency` queries at a time.
async fn ask(
    client: &Client,
    world: &World,
    prefix: &str,
    lens: &str,
    concurrency: usize,
) -> Result<Vec<Option<Value>>> {
    let questions: Vec<(String, String)> = world
        .facts
        .iter()
        .map(|f| (format!("{prefix}/{}", f.subject), f.predicate.clone()))
        .collect();
    let per_task = questions.len().div_ceil(concurrency);
    let mut tasks = Vec::new();
    for part in questions.chunks(per_task.max(1)) {
        let (client, part, lens) = (client.clone(), part.to_vec(), lens.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::with_capacity(part.len());
            for (subject, predicate) in &part {
                answers.push(winner(&client, subject, predicate, &lens).await?);
            }
            anyhow::Ok(answers)
        }));
    }
    let mut answers = Vec::with_capacity(questions.len());
    for task in tasks {
        answers.extend(task.await.context("a query task stopped")??);
    }
    Ok(answers)
}

async fn winner(
    client: &Client,
    subject: &str,
    predicate: &str,
    lens: &str,
) -> Result<Option<Value>> {
    let params = [
        ("subject", subject),
        ("predicate", predicate),
        ("lens", lens),
        ("winner_only", "true"),
    ];
    let answer = client
        .query(&params)
        .await
        .with_context(|| format!("querying {subject} {predicate} through {lens}"))?;
    Ok(answer
        .groups
        .into_iter()
        .next()
        .map(|g| g.winner.body.value))
}

fn print_row(row: &Value) {
    let accuracy = &row["accuracy"];
    let cells: Vec<String> = LENSES
        .iter()
        .copied()
        .chain(Baseline::ALL.iter().map(|b| b.name()))
        .map(|name| {
            format!(
                "{name} {:.1} %",
                accuracy[name].as_f64().unwrap_or(0.0) * 100.0
            )
        })
        .collect();
    println!(
        "{} ({}, {} agents, {} claims): {}",
        row["scenario"].as_str().unwrap_or("?"),
        row["setup"].as_str().unwrap_or("?"),
        row["agents"],
        row["claims"],
        cells.join(", ")
    );
}

/// Writes `<scenario>.claims.csv` (agent, fact, value as JSON), `<scenario>.truth.csv` (fact,
/// value as JSON) and `baselines.json` (each baseline's accuracy by scenario) into `dir`.
fn export(args: &ArenaArgs, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut accuracies = serde_json::Map::new();
    for scenario in scenarios(&args.scenario)? {
        let world = World::generate(scenario, args.facts, args.seed);
        let claims = latest_claims(&world);
        let mut rows = String::from("agent,fact,value\n");
        for (fact, said) in claims.facts.iter().enumerate() {
            for (agent, value) in said {
                rows.push_str(&format!("{agent},{fact},{}\n", csv_field(value)));
            }
        }
        let mut truth = String::from("fact,value\n");
        for (fact, f) in world.facts.iter().enumerate() {
            truth.push_str(&format!("{fact},{}\n", csv_field(&f.truth)));
        }
        let path = |suffix: &str| dir.join(format!("{}.{suffix}", scenario.name));
        std::fs::write(path("claims.csv"), rows).context("writing the claims")?;
        std::fs::write(path("truth.csv"), truth).context("writing the truth")?;
        let by_baseline: serde_json::Map<String, Value> = Baseline::ALL
            .iter()
            .map(|b| {
                let answers = b.answer(&claims);
                (b.name().to_owned(), json!(accuracy(&world.facts, &answers)))
            })
            .collect();
        accuracies.insert(scenario.name.to_owned(), Value::Object(by_baseline));
    }
    let doc = json!({"seed": args.seed, "facts": args.facts, "baselines": accuracies});
    std::fs::write(dir.join("baselines.json"), doc.to_string())
        .context("writing baselines.json")?;
    println!(
        "wrote the worlds of seed {} to {}",
        args.seed,
        dir.display()
    );
    Ok(())
}

/// A JSON value as one CSV field (quoted, inner quotes doubled).
fn csv_field(value: &Value) -> String {
    format!("\"{}\"", value.to_string().replace('"', "\"\""))
}
