//! Control records from the command line: `retract`, `reinstate`, `vote` and `trust`, each
//! signed locally (the key never leaves the machine) and posted to its endpoint; and `sign`,
//! which signs a body from a file and prints the wire form without posting it. The record
//! shapes are docs/signing.md §7; who may do what is docs/truth.md.
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use stemedb::SystemClock;
use stemedb::core::Clock;
use stemedb_client::Draft;

use crate::{ServerArgs, keyfile};

/// Who signs: a key file and the agent id it speaks for.
#[derive(clap::Args)]
pub struct SignerArgs {
    /// Key file from `stemedb keygen`.
    #[arg(long)]
    pub key: PathBuf,
    /// Agent id (bound to the key by its first accepted record).
    #[arg(long)]
    pub agent: String,
}

impl SignerArgs {
    /// Signs a control record about `subject`, valid from now.
    fn sign(&self, subject: &str, predicate: &str, value: Value) -> Result<Value> {
        let key = keyfile::load(&self.key)?;
        let now = SystemClock.now().to_rfc3339();
        Draft::new(&self.agent, subject, predicate, value, &now)
            .sign(&key)
            .with_context(|| format!("signing {predicate} about {subject:?}"))
    }
}

#[derive(clap::Args)]
pub struct RetractArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    signer: SignerArgs,
    /// An assertion id, or a subject such as source/TRIAL (every assertion citing it).
    target: String,
    /// Why (1 to 4096 bytes); kept with the retraction and shown wherever it applies.
    #[arg(long)]
    reason: String,
    /// Also retract everything that rests on the target (derived_from and sources).
    #[arg(long)]
    cascade: bool,
    /// Print the server's JSON answer.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ReinstateArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    signer: SignerArgs,
    /// The id of the retraction to undo.
    retraction: String,
    #[arg(long)]
    reason: String,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct VoteArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    signer: SignerArgs,
    /// The assertion voted on.
    id: String,
    /// A vote against (the default is a vote for).
    #[arg(long)]
    down: bool,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct TrustArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    signer: SignerArgs,
    /// The agent trusted (its agent id).
    trustee: String,
    /// How much, in [0, 1]; 0 removes the edge.
    #[arg(long, default_value_t = 1.0)]
    weight: f64,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct SignArgs {
    /// A JSON body without `signature` (`-` reads standard input). `public_key` is filled in
    /// from the key; `agent_id` and `timestamp` from the flags when the body lacks them.
    file: PathBuf,
    /// Key file from `stemedb keygen`.
    #[arg(long)]
    key: PathBuf,
    /// Agent id, when the body has none.
    #[arg(long)]
    agent: Option<String>,
}

pub async fn retract(args: RetractArgs) -> Result<()> {
    let mut value = json!({"reason": args.reason});
    if args.cascade {
        value["cascade"] = json!(true);
    }
    let wire = args.signer.sign(&args.target, "stemedb:retracts", value)?;
    let answer = post(&args.server, "/v1/retract", &wire, "retracting").await?;
    report(&answer, args.json, |a| {
        retraction_line(a, "retraction", "retracted")
    })
}

pub async fn reinstate(args: ReinstateArgs) -> Result<()> {
    let value = json!({"reason": args.reason});
    let wire = args
        .signer
        .sign(&args.retraction, "stemedb:retracts", value)?;
    let answer = post(&args.server, "/v1/retract", &wire, "reinstating").await?;
    report(&answer, args.json, |a| {
        retraction_line(a, "reinstatement", "reinstated")
    })
}

/// "retraction ID (sequence N): K assertion(s) retracted", from the answer's `{done}_count`.
fn retraction_line(answer: &Value, noun: &str, done: &str) -> String {
    format!(
        "{noun} {} (sequence {}): {} assertion(s) {done}",
        answer["id"].as_str().unwrap_or("?"),
        answer["sequence"],
        answer[format!("{done}_count")]
    )
}

pub async fn vote(args: VoteArgs) -> Result<()> {
    let value = json!(if args.down { -1 } else { 1 });
    let wire = args.signer.sign(&args.id, "stemedb:vote", value)?;
    let answer = post(&args.server, "/v1/vote", &wire, "voting").await?;
    report(&answer, args.json, |a| {
        format!(
            "vote {} (sequence {})",
            a["id"].as_str().unwrap_or("?"),
            a["sequence"]
        )
    })
}

pub async fn trust(args: TrustArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.weight) {
        bail!("--weight must be in [0, 1]; got {}", args.weight);
    }
    let subject = format!("agent/{}", args.trustee);
    let wire = args
        .signer
        .sign(&subject, "stemedb:trusts", json!(args.weight))?;
    let answer = post(&args.server, "/v1/trust", &wire, "stating trust").await?;
    report(&answer, args.json, |a| {
        format!(
            "trust statement {} (sequence {}): {} trusts {} with weight {}",
            a["id"].as_str().unwrap_or("?"),
            a["sequence"],
            args.signer.agent,
            args.trustee,
            args.weight
        )
    })
}

pub fn sign(args: &SignArgs) -> Result<()> {
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?
    };
    let Value::Object(mut body) = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?
    else {
        bail!("{} must hold one JSON object (a body)", args.file.display());
    };
    if body.contains_key("signature") {
        bail!(
            "{} is already signed (it has a signature)",
            args.file.display()
        );
    }
    fill_missing(&mut body, args.agent.as_deref());
    let key = keyfile::load(&args.key)?;
    body.entry("public_key")
        .or_insert_with(|| json!(key.public_key().to_hex()));
    let wire = stemedb_client::sign(body, &key)?;
    println!("{}", serde_json::to_string(&wire)?);
    Ok(())
}

/// `agent_id` from `--agent` and `timestamp` = now, where the body has neither.
fn fill_missing(body: &mut Map<String, Value>, agent: Option<&str>) {
    if let Some(agent) = agent {
        body.entry("agent_id").or_insert_with(|| json!(agent));
    }
    body.entry("timestamp")
        .or_insert_with(|| json!(SystemClock.now().to_rfc3339()));
}

/// Posts a signed record; the server's answer, or its problem as the error.
async fn post(server: &ServerArgs, path: &str, wire: &Value, doing: &str) -> Result<Value> {
    let (_, answer) = server
        .client()?
        .post_json(path, wire)
        .await
        .with_context(|| format!("{doing} at {}", server.server))?;
    Ok(answer)
}

/// Prints the answer as JSON, or the one line `line` makes of it.
fn report(answer: &Value, json: bool, line: impl Fn(&Value) -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(answer)?);
    } else {
        println!("{}", line(answer));
    }
    Ok(())
}
