//! Git-like views of what is stored: `log SUBJECT` (every assertion under a subject and every
//! retraction, reinstatement, vote, gold mark, review and epoch acting on them, newest first),
//! `show ID` (one record, checked offline: its id and signature, its stage and votes), `blame`
//! (why a group's answer is what it is: the winner, the lens's reason, its provenance) and
//! `diff` (the answers under a subject at two times, and what changed). `log` reads the audit
//! export (docs/truth.md), so it shows what an auditor would get.
use anyhow::{Context, Result, bail};
use serde_json::Value;
use stemedb::core::audit::verify_record;

use crate::ServerArgs;
use crate::client_cmds::{TimeArgs, query_pages};
use crate::truth_cmds::{fetch_provenance, record_id, short, tree_text};

#[derive(clap::Args)]
pub struct LogArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Exact subject, or a prefix ending in /* (e.g. drug/*).
    subject: String,
    /// Show at most this many records (newest first).
    #[arg(short = 'n', long = "max-count")]
    max_count: Option<usize>,
    /// As of a valid time (RFC 3339): what the log held for assertions up to then.
    #[arg(long = "as-of")]
    as_of: Option<String>,
    /// One JSON record per line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The record's id (64 hex characters).
    id: String,
    /// Print the record as JSON (with `verified`).
    #[arg(long)]
    json: bool,
}

/// Control predicates `log` shows: those that act on an assertion. Trust statements are about
/// agents, not subjects, and stay out.
const LOGGED_CONTROL: [&str; 5] = [
    "stemedb:retracts",
    "stemedb:vote",
    "stemedb:gold-standard",
    "stemedb:review",
    "stemedb:epoch",
];

pub async fn log(args: LogArgs) -> Result<()> {
    let mut params = vec![("subject", args.subject.as_str())];
    if let Some(t) = &args.as_of {
        params.push(("as_of", t.as_str()));
    }
    let bytes = args
        .server
        .client()?
        .audit_export(&params)
        .await
        .with_context(|| {
            format!(
                "reading the log of {} at {}",
                args.subject, args.server.server
            )
        })?;
    let mut records = logged_records(&bytes)?;
    records.truncate(args.max_count.unwrap_or(usize::MAX));
    if records.is_empty() && !args.json {
        println!("(nothing stored under {})", args.subject);
    }
    for record in &records {
        if args.json {
            println!("{}", serde_json::to_string(record)?);
        } else {
            print_entry(record, &records);
        }
    }
    Ok(())
}

/// The export's assertions and the control records acting on them, newest first.
fn logged_records(export: &[u8]) -> Result<Vec<Value>> {
    let mut records = Vec::new();
    for line in export.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let entry: Value = serde_json::from_slice(line).context("the export has a bad line")?;
        let record = &entry["record"];
        let predicate = record["predicate"].as_str().unwrap_or_default();
        let logged = match entry["kind"].as_str() {
            Some("assertion") => true,
            Some("dependency") => LOGGED_CONTROL.contains(&predicate),
            _ => false,
        };
        if logged {
            records.push(record.clone());
        }
    }
    records.sort_by_key(|r| std::cmp::Reverse(r["sequence"].as_u64().unwrap_or(0)));
    Ok(records)
}

/// What a record is, in a word (a retraction of a retraction is a reinstatement).
fn kind(record: &Value, all: &[Value]) -> &'static str {
    match record["predicate"].as_str().unwrap_or_default() {
        "stemedb:retracts" => {
            let target = record["subject"].as_str().unwrap_or_default();
            let of_retraction = all
                .iter()
                .any(|r| r["id"] == target && r["predicate"] == "stemedb:retracts");
            if of_retraction {
                "reinstatement"
            } else {
                "retraction"
            }
        }
        "stemedb:vote" => "vote",
        "stemedb:gold-standard" => "gold standard",
        "stemedb:review" => "review",
        "stemedb:epoch" => "epoch",
        _ => "assertion",
    }
}

fn print_entry(record: &Value, all: &[Value]) {
    let text = |field: &str| record[field].as_str().unwrap_or_default().to_owned();
    let kind = kind(record, all);
    println!(
        "{kind} {}  #{}  recorded {}  {}",
        text("id"),
        record["sequence"],
        text("recorded_at"),
        text("lifecycle_stage")
    );
    let agent = text("agent_id");
    let value = &record["value"];
    match kind {
        "assertion" => {
            let confidence = record["confidence"].as_f64().unwrap_or(1.0);
            println!(
                "    {agent}: {} · {} = {value}  (confidence {confidence}, valid from {})",
                text("subject"),
                text("predicate"),
                text("timestamp")
            );
            if let Some(sources) = record["sources"].as_array() {
                let names: Vec<&str> = sources.iter().filter_map(Value::as_str).collect();
                println!("    sources: {}", names.join(", "));
            }
            for (field, label) in [
                ("retracted_by", "retracted by"),
                ("superseded_by", "superseded by"),
            ] {
                if let Some(by) = record[field].as_str() {
                    println!("    {label} {}", short(by));
                }
            }
        }
        "vote" => println!("    {agent} votes {value} on {}", short(&text("subject"))),
        _ => println!(
            "    {agent} on {}: {}",
            short(&text("subject")),
            value["reason"]
                .as_str()
                .map_or(value.to_string(), |r| format!("{r:?}"))
        ),
    }
    println!();
}

pub async fn show(args: ShowArgs) -> Result<()> {
    let path = format!("/v1/assertions/{}", record_id(&args.id)?);
    let client = args.server.client()?;
    let mut record = client
        .get_json(&path, &[])
        .await
        .with_context(|| format!("reading {} at {}", args.id, args.server.server))?;
    // A record that verifies but is not the one asked for is as wrong as one that does not.
    let asked = args.id.to_ascii_lowercase();
    let verified = verify_record(&record)
        .map_err(|e| e.to_string())
        .and_then(|id| {
            if id.to_hex() == asked {
                Ok(id)
            } else {
                Err(format!(
                    "the server answered with another record ({})",
                    id.to_hex()
                ))
            }
        });
    if args.json {
        record["verified"] = Value::Bool(verified.is_ok());
        println!("{}", serde_json::to_string_pretty(&record)?);
        if let Err(why) = verified {
            bail!("the record does not verify: {why}");
        }
        return Ok(());
    }
    match &verified {
        Ok(_) => println!("record {} (id and signature verified offline)", args.id),
        Err(why) => println!("record {} DOES NOT VERIFY: {why}", args.id),
    }
    print_fields(&record);
    if verified.is_err() {
        bail!("the record does not verify");
    }
    Ok(())
}

/// The record's fields, one per line, envelope first.
fn print_fields(record: &Value) {
    let Some(map) = record.as_object() else {
        return;
    };
    for (name, value) in map {
        if name == "id" {
            continue;
        }
        let shown = value.as_str().map_or(value.to_string(), str::to_owned);
        println!("  {name:<18} {shown}");
    }
}

#[derive(clap::Args)]
pub struct BlameArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The group's exact subject.
    subject: String,
    /// The group's predicate.
    predicate: String,
    /// recency, authority, consensus, conflict or layered.
    #[arg(long, default_value = "recency")]
    lens: String,
    #[command(flatten)]
    time: TimeArgs,
}

pub async fn blame(args: BlameArgs) -> Result<()> {
    let client = args.server.client()?;
    let mut params = vec![
        ("subject", args.subject.clone()),
        ("predicate", args.predicate.clone()),
        ("lens", args.lens.clone()),
    ];
    params.extend(args.time.params());
    let mut group = None;
    query_pages(&client, &params, None, false, |answer| {
        group = answer.groups.first().cloned();
        Ok(())
    })
    .await?;
    let Some(group) = group else {
        println!("(nothing stored for {} · {})", args.subject, args.predicate);
        return Ok(());
    };
    let w = &group.winner;
    println!(
        "{} · {} = {}  (lens {}, conflict score {:.3})",
        group.subject, group.predicate, w.body.value, args.lens, group.conflict_score
    );
    println!(
        "  winner: {} by {}, valid from {}",
        short(&w.id),
        w.body.agent_id,
        w.body.timestamp
    );
    println!("  why:    {}", group.explanation);
    let others = group.assertions.iter().filter(|a| a.id != w.id);
    for a in others.take(5) {
        println!(
            "  beat:   {} by {} ({})",
            a.body.value,
            a.body.agent_id,
            short(&a.id)
        );
    }
    if group.assertions_total > 6 {
        println!("  … {} candidates in all", group.assertions_total);
    }
    println!("provenance:");
    let tree = fetch_provenance(&client, &w.id, args.time.as_of.as_deref()).await?;
    for line in tree_text(&tree).lines() {
        println!("    {line}");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The earlier time (RFC 3339).
    #[arg(long)]
    from: String,
    /// The later time (RFC 3339); now when absent.
    #[arg(long)]
    to: Option<String>,
    /// Exact subject, or a prefix ending in /* (e.g. drug/*).
    subject: String,
    #[arg(long, default_value = "recency")]
    lens: String,
    /// Compare valid times (`as_of`: what was true then, as known now) instead of what the
    /// store knew at each time (`known_at`, the default).
    #[arg(long)]
    valid_time: bool,
}

/// A group's answer: (value, agent, id).
type Answer = (Value, String, String);

pub async fn diff(args: DiffArgs) -> Result<()> {
    let client = args.server.client()?;
    let bound = if args.valid_time { "as_of" } else { "known_at" };
    let before = answers(&client, &args, bound, Some(&args.from)).await?;
    let after = answers(&client, &args, bound, args.to.as_deref()).await?;
    let (mut changed, mut added, mut removed) = (0, 0, 0);
    let keys: std::collections::BTreeSet<_> = before.keys().chain(after.keys()).collect();
    let show = |a: &Answer| format!("{} ({}, {})", a.0, a.1, short(&a.2));
    for key in keys {
        let name = format!("{} · {}", key.0, key.1);
        match (before.get(key), after.get(key)) {
            (Some(b), Some(a)) if b.2 != a.2 => {
                changed += 1;
                println!("~ {name}: {} → {}", show(b), show(a));
            }
            (None, Some(a)) => {
                added += 1;
                println!("+ {name}: {}", show(a));
            }
            (Some(b), None) => {
                removed += 1;
                println!("- {name}: {}", show(b));
            }
            _ => {}
        }
    }
    let to = args.to.as_deref().unwrap_or("now");
    println!(
        "{changed} changed, {added} added, {removed} removed between {} and {to} ({} groups then, {} now)",
        args.from,
        before.len(),
        after.len()
    );
    Ok(())
}

/// Every group's winner under the subject at `time` (now when `None`).
async fn answers(
    client: &stemedb_client::Client,
    args: &DiffArgs,
    bound: &'static str,
    time: Option<&str>,
) -> Result<std::collections::BTreeMap<(String, String), Answer>> {
    let mut params = vec![
        ("subject", args.subject.clone()),
        ("lens", args.lens.clone()),
        ("winner_only", "true".to_owned()),
        ("limit", "1000".to_owned()),
    ];
    params.extend(time.map(|t| (bound, t.to_owned())));
    let mut found = std::collections::BTreeMap::new();
    query_pages(client, &params, None, true, |answer| {
        for g in &answer.groups {
            let w = &g.winner;
            let key = (g.subject.clone(), g.predicate.clone());
            found.insert(
                key,
                (w.body.value.clone(), w.body.agent_id.clone(), w.id.clone()),
            );
        }
        Ok(())
    })
    .await?;
    Ok(found)
}
