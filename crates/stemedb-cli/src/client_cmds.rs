//! `stemedb assert` and `stemedb query`: sign locally and post; query and print a table.
use anyhow::{Context, Result};
use serde_json::{Value, json};
use stemedb::SystemClock;
use stemedb::core::Clock;
use stemedb_client::wire::{QueryResponse, Record};

use stemedb_client::Draft;

use crate::control_cmds::SignerArgs;
use crate::{ServerArgs, keyfile};

#[derive(clap::Args)]
pub struct AssertArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    signer: SignerArgs,
    #[arg(long)]
    subject: String,
    #[arg(long)]
    predicate: String,
    /// The value as JSON, e.g. 81, "\"high\"", '{"mg": 81}'.
    #[arg(long)]
    value: String,
    /// In [0, 1]; omitted means 1.
    #[arg(long)]
    confidence: Option<f64>,
    /// RFC 3339 UTC valid time; defaults to now.
    #[arg(long)]
    timestamp: Option<String>,
    /// A source subject this rests on (repeatable).
    #[arg(long = "source")]
    sources: Vec<String>,
    /// Free-text provenance.
    #[arg(long)]
    provenance: Option<String>,
    /// Print the server's JSON answer.
    #[arg(long)]
    json: bool,
    /// Print only the record's id (for scripts: `id=$(stemedb assert … --quiet)`).
    #[arg(short, long, conflicts_with = "json")]
    quiet: bool,
}

/// The draft `stemedb assert` signs: its flags, with the valid time defaulting to now.
fn draft_from(args: &AssertArgs) -> Result<Draft> {
    let value: Value = serde_json::from_str(&args.value).with_context(|| {
        format!(
            "--value {:?} is not JSON (quote strings: '\"text\"')",
            args.value
        )
    })?;
    let timestamp = args
        .timestamp
        .clone()
        .unwrap_or_else(|| SystemClock.now().to_rfc3339());
    let mut draft = Draft::new(
        &args.signer.agent,
        &args.subject,
        &args.predicate,
        value,
        &timestamp,
    )
    .sources(&args.sources);
    if let Some(c) = args.confidence {
        draft = draft.confidence(c);
    }
    if let Some(p) = &args.provenance {
        draft = draft.provenance(p);
    }
    Ok(draft)
}

pub async fn assert(args: AssertArgs) -> Result<()> {
    let key = keyfile::load(&args.signer.key)?;
    let wire = draft_from(&args)?.sign(&key)?;
    let reply = args
        .server
        .client()?
        .assert(&wire)
        .await
        .context("posting the assertion")?;
    if args.json {
        println!(
            "{}",
            json!({"id": reply.id, "sequence": reply.sequence, "duplicate": reply.duplicate})
        );
    } else if args.quiet {
        println!("{}", reply.id);
    } else if reply.duplicate {
        println!("already stored: {} (sequence {})", reply.id, reply.sequence);
    } else {
        println!("stored: {} (sequence {})", reply.id, reply.sequence);
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Exact subject, or a prefix ending in /* (e.g. drug/*).
    #[arg(long)]
    subject: String,
    #[arg(long)]
    predicate: Option<String>,
    /// evidence (the default: votes by earned accuracy), recency, authority, consensus,
    /// conflict or layered (docs/lenses.md).
    #[arg(long, default_value = "evidence")]
    lens: String,
    #[command(flatten)]
    time: TimeArgs,
    /// Let retracted assertions take part.
    #[arg(long)]
    include_retracted: bool,
    /// Let superseded assertions take part, and every assertion of an agent (not only its latest).
    #[arg(long)]
    include_superseded: bool,
    /// Groups per page.
    #[arg(long)]
    limit: Option<u64>,
    /// Start at this page (the `next_cursor` an earlier page printed).
    #[arg(long, conflicts_with = "all")]
    cursor: Option<String>,
    /// Follow every page to the end.
    #[arg(long)]
    all: bool,
    /// Print the raw JSON answer (one document per page).
    #[arg(long)]
    json: bool,
}

/// Where in time a read looks (docs/api.md, "Queries").
#[derive(clap::Args, Clone, Default)]
pub struct TimeArgs {
    /// Valid time (RFC 3339): only assertions with timestamp ≤ this.
    #[arg(long = "as-of")]
    pub as_of: Option<String>,
    /// Transaction time (RFC 3339): only records recorded by then.
    #[arg(long = "known-at")]
    pub known_at: Option<String>,
    /// Only records up to this log sequence.
    #[arg(long = "at-sequence")]
    pub at_sequence: Option<u64>,
}

impl TimeArgs {
    /// The query parameters these flags set.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        params.extend(self.as_of.clone().map(|t| ("as_of", t)));
        params.extend(self.known_at.clone().map(|t| ("known_at", t)));
        params.extend(self.at_sequence.map(|s| ("at_sequence", s.to_string())));
        params
    }
}

/// Every page of a query from `cursor` on (one page unless `all`), each handed to `page`.
pub async fn query_pages(
    client: &stemedb_client::Client,
    params: &[(&str, String)],
    mut cursor: Option<String>,
    all: bool,
    mut page: impl FnMut(&QueryResponse<Record>) -> Result<()>,
) -> Result<Option<String>> {
    loop {
        let mut sent: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Some(c) = &cursor {
            sent.push(("cursor", c));
        }
        let answer = client.query(&sent).await.context("querying")?;
        page(&answer)?;
        cursor = answer.next_cursor;
        if cursor.is_none() || !all {
            return Ok(cursor);
        }
    }
}

pub async fn query(args: QueryArgs) -> Result<()> {
    let mut params = vec![
        ("subject", args.subject.clone()),
        ("lens", args.lens.clone()),
    ];
    params.extend(args.predicate.clone().map(|p| ("predicate", p)));
    params.extend(args.time.params());
    params.extend(args.limit.map(|l| ("limit", l.to_string())));
    for (flag, name) in [
        (args.include_retracted, "include_retracted"),
        (args.include_superseded, "include_superseded"),
    ] {
        if flag {
            params.push((name, "true".to_owned()));
        }
    }
    let client = args.server.client()?;
    let next = query_pages(&client, &params, args.cursor.clone(), args.all, |answer| {
        if args.json {
            println!("{}", serde_json::to_string_pretty(answer)?);
        } else {
            print_groups(answer);
        }
        Ok(())
    })
    .await?;
    if let Some(cursor) = next.filter(|_| !args.json) {
        println!("more groups follow: add --cursor {cursor} (or --all for every page)");
    }
    Ok(())
}

/// A readable table: one block per group, winner first.
pub fn print_groups(answer: &QueryResponse<Record>) {
    if answer.groups.is_empty() {
        println!("(no assertions match)");
    }
    for group in &answer.groups {
        println!(
            "{} · {}   lens={}   conflict_score={:.3}",
            group.subject, group.predicate, answer.lens, group.conflict_score
        );
        println!("  why: {}", group.explanation);
        println!(
            "  {:<4} {:<14} {:>5}  {:<26} {:<24} id",
            "rank", "value", "conf", "agent", "timestamp"
        );
        for (rank, a) in group.assertions.iter().enumerate() {
            let mark = if rank == 0 { "★" } else { " " };
            println!(
                "  {mark}{:<3} {:<14} {:>5}  {:<26} {:<24} {}",
                rank + 1,
                a.body.value.to_string(),
                a.body
                    .confidence
                    .map_or("1".to_owned(), |c| format!("{c:.2}")),
                a.body.agent_id,
                a.body.timestamp,
                a.id.get(..12).unwrap_or_default()
            );
        }
        println!();
    }
}
