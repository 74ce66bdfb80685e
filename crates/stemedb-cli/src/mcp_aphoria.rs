//! The Aphoria tools `stemedb mcp --aphoria-root DIR` adds for an LLM agent: judge the
//! repository's claims, see coverage gaps, list the claims, and draw candidate claims from
//! what is observed but unclaimed (`aphoria suggest`), so a model can propose claims by
//! analogy with the ones the authors wrote. Each call opens the repository's embedded store
//! (`.aphoria/db`) on a blocking thread and closes it after.
use std::fmt::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use aphoria::layout::{self, Layout};
use aphoria::project::Project;
use aphoria::{extract, report, scan};
use serde_json::{Map, Value, json};

/// Candidate claims a suggest answer lists at most.
const SUGGESTIONS_MAX: usize = 50;

#[derive(Debug, Clone)]
pub struct AphoriaTools {
    pub root: PathBuf,
}

impl AphoriaTools {
    pub fn tool_list() -> Vec<Value> {
        let none = json!({"type": "object", "properties": {}});
        vec![
            json!({"name": "aphoria_verify",
                "description": "Judge the repository's claims (.aphoria/claims.toml and installed trust packs) against what its code does now: each claim is pass, conflict (with the code locations that break it), or missing (nothing observed); observations no claim covers are unclaimed.",
                "inputSchema": none}),
            json!({"name": "aphoria_suggest",
                "description": "Candidate claims drawn from unclaimed observations: for a predicate whose unclaimed observations all agree, a claim that they keep agreeing. Each comes as the TOML to paste into .aphoria/claims.toml; review it, write the invariant and consequence in words, and keep only claims that matter.",
                "inputSchema": {"type": "object", "properties": {
                    "limit": {"type": "integer", "minimum": 1, "maximum": SUGGESTIONS_MAX, "description": "How many (default 10)"}}}}),
            json!({"name": "aphoria_coverage",
                "description": "Per module: observations, how many a claim covers, and the modules with observations and no claim (the gaps), least covered first.",
                "inputSchema": none}),
            json!({"name": "aphoria_claims",
                "description": "The repository's claims as written: id, category, what each checks, status. Use them as examples of style before suggesting new ones.",
                "inputSchema": none}),
        ]
    }

    /// A tool's text (`None`: not an Aphoria tool).
    pub async fn call(&self, name: &str, args: &Map<String, Value>) -> Option<Result<String>> {
        let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(10);
        let tool = match name {
            "aphoria_verify" => Tool::Verify,
            "aphoria_suggest" => Tool::Suggest(
                usize::try_from(limit)
                    .unwrap_or(10)
                    .clamp(1, SUGGESTIONS_MAX),
            ),
            "aphoria_coverage" => Tool::Coverage,
            "aphoria_claims" => Tool::Claims,
            _ => return None,
        };
        let root = self.root.clone();
        let joined = tokio::task::spawn_blocking(move || tool.run(root)).await;
        Some(joined.context("the Aphoria tool stopped").and_then(|r| r))
    }
}

#[derive(Debug, Clone, Copy)]
enum Tool {
    Verify,
    Suggest(usize),
    Coverage,
    Claims,
}

impl Tool {
    fn run(self, root: PathBuf) -> Result<String> {
        // `.` has no name of its own: the repository's name comes from the absolute path.
        let root = root
            .canonicalize()
            .with_context(|| format!("the repository {}", root.display()))?;
        let layout = Layout::new(&root);
        let repo = layout::repo_name(&root, None);
        let mut store = layout::open_embedded(&layout)
            .with_context(|| format!("opening {}", layout.db().display()))?;
        let mut p = Project::open(layout, &mut store, "mcp")?;
        match self {
            Tool::Verify => Ok(verify_text(&mut p, &repo)?),
            Tool::Suggest(limit) => Ok(suggest_text(&mut p, &repo, limit)?),
            Tool::Coverage => coverage_text(&mut p, &root, &repo),
            Tool::Claims => Ok(claims_text(&p.claims()?)),
        }
    }
}

fn verify_text(p: &mut Project<'_>, repo: &str) -> Result<String, aphoria::AphoriaError> {
    let (scan, v) = p.verify(repo, true)?;
    let n = &v.counts;
    let mut out = format!(
        "{} files, {} observations: pass {}, conflict {}, missing {}, unclaimed {}.\n",
        scan.files,
        scan.observations.len(),
        n.pass,
        n.conflict,
        n.missing,
        n.unclaimed
    );
    for c in v
        .claims
        .iter()
        .filter(|c| c.verdict != aphoria::verify::Verdict::Pass)
    {
        let _ = writeln!(
            out,
            "- {} {}: {} of {} {}",
            c.verdict.as_str(),
            c.id,
            c.predicate,
            c.subject,
            c.expectation
        );
        if let Some(o) = &c.overridden_by {
            let _ = writeln!(
                out,
                "  contradicts rule {} of trust pack {}: {}",
                o.pack_rule, o.pack, o.expectation
            );
        }
        for f in c.violations.iter().take(5) {
            let _ = writeln!(out, "  {}:{} {} = {}", f.path, f.line, f.subject, f.value);
        }
    }
    Ok(out)
}

fn suggest_text(
    p: &mut Project<'_>,
    repo: &str,
    limit: usize,
) -> Result<String, aphoria::AphoriaError> {
    let (_, v) = p.verify(repo, true)?;
    let list = report::suggest(&v, repo, limit);
    if list.is_empty() {
        return Ok("No suggestion: no predicate's unclaimed observations all agree.".into());
    }
    let mut out = String::new();
    for s in &list {
        let file = aphoria::claims::ClaimsFile {
            repo: None,
            claims: vec![s.claim.clone()],
        };
        let toml = toml::to_string_pretty(&file).unwrap_or_default();
        let _ = writeln!(out, "# {} (covers {})\n{toml}", s.reason, s.covers);
    }
    Ok(out)
}

fn coverage_text(p: &mut Project<'_>, root: &std::path::Path, repo: &str) -> Result<String> {
    let scan = scan::scan(root, repo, &extract::all())?;
    let claims: Vec<_> = p.rules()?.0.into_iter().map(|r| r.claim).collect();
    let rows = report::coverage(&scan.observations, &claims, "density");
    let mut out = String::from("module | observations | claimed | density\n");
    for r in rows.iter().take(40) {
        let _ = writeln!(
            out,
            "{} | {} | {} | {:.2}",
            r.module, r.observations, r.claimed, r.density
        );
    }
    Ok(out)
}

fn claims_text(file: &aphoria::claims::ClaimsFile) -> String {
    if file.claims.is_empty() {
        return "No claims yet.".into();
    }
    let mut out = String::new();
    for c in &file.claims {
        let _ = writeln!(
            out,
            "- {} [{}, {}]: {} ({} of {} {})",
            c.id,
            c.category,
            c.status.as_str(),
            c.invariant,
            c.predicate,
            c.subject,
            c.expectation()
        );
    }
    out
}
