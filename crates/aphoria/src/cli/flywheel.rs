//! `aphoria scan`, `extractors`, `coverage`, `docs generate`, `explain`, `suggest`.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use aphoria::{extract, report, scan};
use clap::Subcommand;

use super::{Global, print_json};

#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    #[arg(long)]
    json: bool,
    /// Print every observation, not only the counts.
    #[arg(long)]
    show_observations: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CoverageArgs {
    /// table, json or markdown.
    #[arg(long, default_value = "table")]
    format: String,
    /// name, density, unclaimed or observations.
    #[arg(long, default_value = "name")]
    sort_by: String,
}

#[derive(Debug, Subcommand)]
pub enum DocsCmd {
    /// The claims as a document (markdown or json), with verdicts and history.
    Generate {
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long, default_value = "markdown")]
        format: String,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    #[arg(long, default_value = "markdown")]
    format: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SuggestArgs {
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

pub fn scan(g: &Global, a: &ScanArgs) -> Result<ExitCode> {
    let root = g.root()?;
    let report = scan::scan(&root, &g.repo_name(&root), &extract::all())?;
    if a.json {
        let observations: Vec<serde_json::Value> = report
            .observations
            .iter()
            .map(|o| serde_json::json!({"subject": o.subject, "predicate": o.predicate, "value": o.value,
                "confidence": o.confidence, "path": o.path, "line": o.line, "extractor": o.extractor}))
            .collect();
        print_json(&serde_json::json!({"report": report, "observations": observations}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.show_observations {
        for o in &report.observations {
            println!(
                "{}:{} [{}] {} {} = {}",
                o.path, o.line, o.extractor, o.subject, o.predicate, o.value
            );
        }
    }
    for (name, n) in &report.per_extractor {
        println!("{name:<20} {n}");
    }
    for (path, why) in &report.unparsed {
        println!("did not parse: {path}: {why}");
    }
    println!(
        "{} files, {} observations in {} ms",
        report.files,
        report.observations.len(),
        report.elapsed_ms
    );
    Ok(ExitCode::SUCCESS)
}

pub fn extractors() -> Result<ExitCode> {
    for e in extract::all() {
        println!(
            "{:<20} {}\n{:<20} predicates: {}",
            e.name(),
            e.describe(),
            "",
            e.predicates().join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn coverage(g: &Global, a: &CoverageArgs) -> Result<ExitCode> {
    if !["name", "density", "unclaimed", "observations"].contains(&a.sort_by.as_str()) {
        bail!(
            "--sort-by {:?}: use name, density, unclaimed or observations",
            a.sort_by
        );
    }
    let root = g.root()?;
    let scan = scan::scan(&root, &g.repo_name(&root), &extract::all())?;
    let rules = g.with_project(|p| Ok(p.rules()?.0))?;
    let claims: Vec<_> = rules.into_iter().map(|r| r.claim).collect();
    let rows = report::coverage(&scan.observations, &claims, &a.sort_by);
    match a.format.as_str() {
        "json" => print_json(&rows)?,
        "markdown" => {
            println!(
                "| module | observations | claimed | unclaimed | density |\n|---|---|---|---|---|"
            );
            for r in &rows {
                println!(
                    "| `{}` | {} | {} | {} | {:.2} |",
                    r.module, r.observations, r.claimed, r.unclaimed, r.density
                );
            }
        }
        "table" => {
            println!(
                "{:<60} {:>6} {:>8} {:>10} {:>8}",
                "module", "obs", "claimed", "unclaimed", "density"
            );
            for r in &rows {
                println!(
                    "{:<60} {:>6} {:>8} {:>10} {:>8.2}",
                    r.module, r.observations, r.claimed, r.unclaimed, r.density
                );
            }
            let gaps = rows.iter().filter(|r| r.claimed == 0).count();
            println!(
                "{} modules, {gaps} with observations and no claim",
                rows.len()
            );
        }
        other => bail!("--format {other:?}: use table, json or markdown"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The claims document: verified (dry) so it carries verdicts, with every claim's history.
fn document(g: &Global, format: &str) -> Result<String> {
    let root = g.root()?;
    let repo = g.repo_name(&root);
    g.with_project(|p| {
        let (_, v) = p.verify(&repo, true)?;
        let claims = p.claims()?;
        let mut history = BTreeMap::new();
        for c in &claims.claims {
            history.insert(c.id.clone(), p.history(&c.id).unwrap_or_default());
        }
        match format {
            "markdown" => Ok(report::explain_markdown(&claims, Some(&v), &history)),
            "json" => {
                let versions: BTreeMap<&String, Vec<serde_json::Value>> = history
                    .iter()
                    .map(|(id, h)| (id, h.iter().map(|s| serde_json::json!({"record": s.record, "agent": s.agent, "timestamp": s.timestamp, "stage": s.stage})).collect()))
                    .collect();
                Ok(serde_json::to_string_pretty(&serde_json::json!({
                    "claims": claims.claims, "verdicts": v.claims, "history": versions,
                }))?)
            }
            other => bail!("--format {other:?}: use markdown or json"),
        }
    })
}

pub fn docs(g: &Global, cmd: DocsCmd) -> Result<ExitCode> {
    let DocsCmd::Generate { output, format } = cmd;
    let text = document(g, &format)?;
    match output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn explain(g: &Global, a: &ExplainArgs) -> Result<ExitCode> {
    print!("{}", document(g, &a.format)?);
    Ok(ExitCode::SUCCESS)
}

pub fn suggest(g: &Global, a: &SuggestArgs) -> Result<ExitCode> {
    let root = g.root()?;
    let repo = g.repo_name(&root);
    let (_, v) = g.with_project(|p| Ok(p.verify(&repo, true)?))?;
    let list = report::suggest(&v, &repo, a.limit);
    if a.json {
        print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    for s in &list {
        println!(
            "{}: {} {} over {} ({})",
            s.claim.id,
            s.claim.predicate,
            s.claim.expectation(),
            s.claim.subject,
            s.reason
        );
    }
    if list.is_empty() {
        println!("no suggestion: no predicate's unclaimed observations all agree");
    }
    Ok(ExitCode::SUCCESS)
}
