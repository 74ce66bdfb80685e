//! Why the store believes what it does: `skeptic` (how much a group disagrees, its clusters and
//! outliers) and `provenance` (an assertion's derived_from tree down to its cited sources, each
//! signature checked by the server). The tree printer is shared with `blame`.
use std::fmt::Write;

use anyhow::{Context, Result};
use serde_json::Value;
use stemedb_client::wire::SkepticResponse;

use crate::ServerArgs;
use crate::client_cmds::TimeArgs;

#[derive(clap::Args)]
pub struct SkepticArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The group's exact subject.
    subject: String,
    /// The group's predicate.
    predicate: String,
    #[command(flatten)]
    time: TimeArgs,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ProvenanceArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The assertion's id.
    id: String,
    /// Valid time (RFC 3339): stages and sources as of then.
    #[arg(long = "as-of")]
    as_of: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn skeptic(args: SkepticArgs) -> Result<()> {
    let mut params = vec![
        ("subject", args.subject.clone()),
        ("predicate", args.predicate.clone()),
    ];
    params.extend(args.time.params());
    let sent: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = args
        .server
        .client()?
        .get_json("/v1/skeptic", &sent)
        .await
        .with_context(|| format!("asking the skeptic at {}", args.server.server))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    print!("{}", skeptic_text(answer)?);
    Ok(())
}

/// The skeptic's answer as lines of text (the CLI prints them, the MCP server returns them).
pub fn skeptic_text(answer: Value) -> Result<String> {
    let report: SkepticResponse =
        serde_json::from_value(answer).context("the skeptic's answer has an unexpected shape")?;
    let mut out = String::new();
    let verdict = if report.disputed {
        "DISPUTED"
    } else {
        "settled"
    };
    let _ = writeln!(
        out,
        "{} · {}: {verdict} (conflict score {:.3}; disputed above {})",
        report.subject, report.predicate, report.conflict_score, report.disputed_score_min
    );
    if let Some(median) = &report.weighted_median {
        let _ = writeln!(out, "  weighted median: {median}");
    }
    for cluster in &report.clusters {
        let share = cluster.share * 100.0;
        let agents = cluster.agents.join(", ");
        let _ = writeln!(out, "  {share:>5.1} %  {}  ({agents})", cluster.value);
    }
    for o in &report.outliers {
        let _ = writeln!(
            out,
            "  outlier: {} from {} ({}), distance {:.2} ({})",
            o.value,
            o.agent_id,
            short(&o.id),
            o.distance,
            report.outlier_rule
        );
    }
    Ok(out)
}

pub async fn provenance(args: ProvenanceArgs) -> Result<()> {
    let client = args.server.client()?;
    let tree = fetch_provenance(&client, &args.id, args.as_of.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&tree)?);
    } else {
        print!("{}", tree_text(&tree));
    }
    Ok(())
}

/// `GET /v1/assertions/{id}/provenance`.
pub async fn fetch_provenance(
    client: &stemedb_client::Client,
    id: &str,
    as_of: Option<&str>,
) -> Result<Value> {
    let params: Vec<(&str, &str)> = as_of.map(|t| ("as_of", t)).into_iter().collect();
    let path = format!("/v1/assertions/{}/provenance", record_id(id)?);
    client
        .get_json(&path, &params)
        .await
        .with_context(|| format!("reading the provenance of {id}"))
}

/// `text` as a record id (lowercase), or why it is not one.
pub fn record_id(text: &str) -> Result<String> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!("{text:?} is not a record id (64 hex characters)");
    }
    Ok(text.to_ascii_lowercase())
}

/// The first 12 hex digits of an id, as git shortens hashes.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The provenance tree as text, one line per node (the CLI prints it, `blame` and the MCP
/// server use it too).
pub fn tree_text(node: &Value) -> String {
    let mut out = String::new();
    write_tree(&mut out, node, 0);
    out
}

/// One line per node, indented by depth: the assertion, then its sources, then what it was
/// derived from (the `ProvenanceNode` shape of docs/api.md, read as JSON).
fn write_tree(out: &mut String, node: &Value, depth: usize) {
    let pad = "    ".repeat(depth);
    let a = &node["assertion"];
    let text = |v: &Value, field: &str| v[field].as_str().unwrap_or("?").to_owned();
    let check = if node["signature_valid"] == true {
        "signature valid"
    } else {
        "SIGNATURE INVALID"
    };
    let _ = writeln!(
        out,
        "{pad}{} · {} = {}  by {}  ({}, {}, {check})",
        text(a, "subject"),
        text(a, "predicate"),
        a["value"],
        text(a, "agent_id"),
        short(&text(a, "id")),
        text(a, "lifecycle_stage")
    );
    if node["cycle"] == true {
        let _ = writeln!(out, "{pad}    (already shown above: a cycle)");
    }
    for source in node["sources"].as_array().into_iter().flatten() {
        let by: Vec<String> = source["retracted_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|id| short(id).to_owned())
            .collect();
        let retracted = if by.is_empty() {
            String::new()
        } else {
            format!("  RETRACTED by {}", by.join(", "))
        };
        let _ = writeln!(
            out,
            "{pad}    source {}{retracted}",
            text(source, "subject")
        );
        for leaf in source["assertions"].as_array().into_iter().flatten() {
            let d = &leaf["assertion"];
            let (p, v, agent) = (text(d, "predicate"), &d["value"], text(d, "agent_id"));
            let _ = writeln!(out, "{pad}        {p} = {v}  by {agent}");
        }
    }
    for missing in node["missing"].as_array().into_iter().flatten() {
        let id = short(missing.as_str().unwrap_or("?"));
        let _ = writeln!(out, "{pad}    derived from {id} (not stored here)");
    }
    for parent in node["derived_from"].as_array().into_iter().flatten() {
        write_tree(out, parent, depth + 1);
    }
    if node["truncated"] == true {
        let _ = writeln!(out, "{pad}    … (the depth limit stopped the walk here)");
    }
}
