//! `aphoria claims …`: every change is a signed record in the store and in
//! `.aphoria/history.jsonl`, and the claims file is rewritten to match.
use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use aphoria::claims::{Claim, Comparison, Status};
use clap::Subcommand;
use serde_json::Value;

use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum ClaimsCmd {
    /// Add a claim.
    Create(Fields),
    /// List the claims.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One claim with every signed version of it.
    Explain {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change fields of a claim: a new version that supersedes the last.
    Update {
        /// The claim to change.
        #[arg(value_name = "ID")]
        claim: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Replace claim OLD by a new claim (a new id) whose record supersedes OLD's.
    Supersede {
        old: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Mark a claim deprecated (a new version; verify no longer judges it).
    Deprecate { id: String },
    /// Sign every claim written or edited by hand in claims.toml, into the history.
    Sync,
}

/// A claim's fields; `create` and `supersede` need id, category, subject, predicate,
/// comparison and invariant.
#[derive(Debug, Clone, clap::Args)]
pub struct Fields {
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    category: Option<String>,
    /// A subject pattern: `*` within a segment, `**` across segments.
    #[arg(long)]
    subject: Option<String>,
    #[arg(long)]
    predicate: Option<String>,
    /// equals, at_least, at_most, one_of, absent, present.
    #[arg(long)]
    comparison: Option<String>,
    /// JSON (`81`, `"loopback"`, `["1.2","1.3"]`); text that is not JSON is a string.
    #[arg(long)]
    expected: Option<String>,
    #[arg(long)]
    invariant: Option<String>,
    #[arg(long)]
    consequence: Option<String>,
    #[arg(long)]
    evidence: Option<String>,
}

impl Fields {
    fn apply(&self, c: &mut Claim) -> Result<()> {
        let set = |to: &mut String, from: &Option<String>| {
            if let Some(v) = from {
                to.clone_from(v);
            }
        };
        set(&mut c.id, &self.id);
        set(&mut c.category, &self.category);
        set(&mut c.subject, &self.subject);
        set(&mut c.predicate, &self.predicate);
        set(&mut c.invariant, &self.invariant);
        set(&mut c.consequence, &self.consequence);
        set(&mut c.evidence, &self.evidence);
        if let Some(text) = &self.comparison {
            c.comparison = Comparison::parse(text).with_context(|| {
                format!("--comparison {text:?}: use equals, at_least, at_most, one_of, absent or present")
            })?;
            if matches!(c.comparison, Comparison::Absent | Comparison::Present) {
                c.expected = None;
            }
        }
        if let Some(text) = &self.expected {
            c.expected = Some(serde_json::from_str(text).unwrap_or(Value::String(text.clone())));
        }
        Ok(())
    }

    fn to_claim(&self) -> Result<Claim> {
        let mut c = Claim {
            id: String::new(),
            category: String::new(),
            subject: String::new(),
            predicate: String::new(),
            comparison: Comparison::Present,
            expected: None,
            invariant: String::new(),
            consequence: String::new(),
            evidence: String::new(),
            status: Status::Active,
            superseded_by: None,
        };
        if self.comparison.is_none() {
            bail!("--comparison is required");
        }
        self.apply(&mut c)?;
        c.check()?;
        Ok(c)
    }
}

pub fn run(g: &Global, cmd: ClaimsCmd) -> Result<ExitCode> {
    g.with_project(|p| {
        match cmd {
            ClaimsCmd::Create(fields) => {
                let claim = fields.to_claim()?;
                let root = g.root()?;
                let record = p.create(claim.clone(), &g.repo_name(&root))?;
                println!("created claim {} ({record})", claim.id);
            }
            ClaimsCmd::List { json } => list(&p.claims()?.claims, json)?,
            ClaimsCmd::Explain { id, json } => {
                let claims = p.claims()?;
                let claim = claims
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| aphoria::AphoriaError::UnknownClaim(id.clone()))?;
                let history = p.history(&id)?;
                if json {
                    let versions: Vec<Value> = history.iter().map(version_json).collect();
                    print_json(&serde_json::json!({"claim": claim, "history": versions}))?;
                } else {
                    let map = BTreeMap::from([(id.clone(), history)]);
                    let one = aphoria::claims::ClaimsFile {
                        repo: None,
                        claims: vec![claim],
                    };
                    print!("{}", aphoria::report::explain_markdown(&one, None, &map));
                }
            }
            ClaimsCmd::Update { claim: id, fields } => {
                let mut changed = p
                    .claims()?
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| aphoria::AphoriaError::UnknownClaim(id.clone()))?;
                if fields.id.as_ref().is_some_and(|new| new != &id) {
                    bail!("`claims update` keeps the id; to give claim {id} a new id use `claims supersede {id} --id …`");
                }
                fields.apply(&mut changed)?;
                let record = p.update(&id, &|c| *c = changed.clone())?;
                println!("updated claim {id} ({record})");
            }
            ClaimsCmd::Supersede { old, fields } => {
                let claim = fields.to_claim()?;
                let record = p.supersede(&old, claim.clone())?;
                println!("claim {old} superseded by {} ({record})", claim.id);
            }
            ClaimsCmd::Deprecate { id } => {
                let record = p.update(&id, &|c| c.status = Status::Deprecated)?;
                println!("deprecated claim {id} ({record})");
            }
            ClaimsCmd::Sync => {
                let signed = p.sync()?;
                println!(
                    "signed {} claim version(s): {}",
                    signed.len(),
                    signed.join(", ")
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn version_json(v: &aphoria::store::StoredClaim) -> Value {
    serde_json::json!({
        "record": v.record, "agent": v.agent, "sequence": v.sequence, "timestamp": v.timestamp,
        "stage": v.stage, "superseded_by": v.superseded_by, "supersedes": v.supersedes,
        "claim": v.claim,
    })
}

fn list(claims: &[Claim], json: bool) -> Result<()> {
    if json {
        return print_json(&claims);
    }
    println!(
        "{:<28} {:<12} {:<11} {:<26} expectation",
        "id", "category", "status", "predicate"
    );
    for c in claims {
        println!(
            "{:<28} {:<12} {:<11} {:<26} {} over {}",
            c.id,
            c.category,
            c.status.as_str(),
            c.predicate,
            c.expectation(),
            c.subject
        );
    }
    Ok(())
}
