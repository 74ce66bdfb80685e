//! `aphoria verify …` and `aphoria pack …`.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use aphoria::claims::ClaimsFile;
use aphoria::verify::{Origin, Verdict, Verification};
use clap::Subcommand;

use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum VerifyCmd {
    /// Scan, record the observations, and judge every claim: Pass, Conflict, Missing,
    /// Unclaimed. Exits 1 on a Conflict.
    Run {
        #[arg(long)]
        json: bool,
        /// List every unclaimed observation.
        #[arg(long)]
        show_unclaimed: bool,
        /// Judge without recording the observations.
        #[arg(long)]
        dry_run: bool,
        /// Exit 1 on a Missing claim too.
        #[arg(long)]
        fail_on_missing: bool,
    },
    /// Which extractors can verify each claim (a claim no extractor covers stays Missing).
    Map {
        #[arg(long)]
        json: bool,
    },
    /// Install a git pre-commit hook that runs `aphoria verify run --dry-run`.
    InstallHook,
}

#[derive(Debug, Subcommand)]
pub enum PackCmd {
    /// Sign a rules file (the claims.toml format) as pack NAME and write the pack file.
    Build {
        rules: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a pack file, store its rules and make its agent a trust root.
    Install { file: PathBuf },
    /// The installed packs.
    List,
    /// Stop enforcing pack NAME: its file leaves `.aphoria/packs/`.
    Remove { name: String },
}

pub fn run(g: &Global, cmd: VerifyCmd) -> Result<ExitCode> {
    match cmd {
        VerifyCmd::Run {
            json,
            show_unclaimed,
            dry_run,
            fail_on_missing,
        } => {
            let root = g.root()?;
            let repo = g.repo_name(&root);
            let (scan, v) = g.with_project(|p| Ok(p.verify(&repo, dry_run)?))?;
            if json {
                print_json(&serde_json::json!({"scan": scan, "verification": v}))?;
            } else {
                print_verification(&v, show_unclaimed);
                println!(
                    "{} files, {} observations in {} ms",
                    scan.files,
                    scan.observations.len(),
                    scan.elapsed_ms
                );
            }
            let failed = v.counts.conflict > 0 || (fail_on_missing && v.counts.missing > 0);
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        VerifyCmd::Map { json } => map(g, json),
        VerifyCmd::InstallHook => install_hook(g),
    }
}

fn print_verification(v: &Verification, show_unclaimed: bool) {
    println!(
        "{:<10} {:<28} {:<8} {:<26} expectation",
        "verdict", "claim", "observed", "predicate"
    );
    for c in &v.claims {
        let from = match &c.origin {
            Origin::Project => String::new(),
            Origin::Pack { pack, .. } => format!(" (pack {pack})"),
        };
        println!(
            "{:<10} {:<28} {:<8} {:<26} {}{from}",
            c.verdict.as_str(),
            c.id,
            c.observed,
            c.predicate,
            c.expectation
        );
        if let Some(o) = &c.overridden_by {
            println!(
                "           contradicts rule {} of pack {} ({}, record {}): {}",
                o.pack_rule, o.pack, o.agent, o.record, o.expectation
            );
        }
        for f in c.violations.iter().take(10) {
            println!(
                "           {}:{} {} = {}",
                f.path, f.line, f.subject, f.value
            );
        }
        if c.violations.len() > 10 {
            println!("           … and {} more", c.violations.len() - 10);
        }
    }
    if show_unclaimed {
        for f in &v.unclaimed {
            println!(
                "{:<10} {}:{} {} {} = {}",
                Verdict::Unclaimed.as_str(),
                f.path,
                f.line,
                f.subject,
                f.predicate,
                f.value
            );
        }
    }
    let n = &v.counts;
    println!(
        "pass {}, conflict {}, missing {}, unclaimed {}",
        n.pass, n.conflict, n.missing, n.unclaimed
    );
}

fn map(g: &Global, json: bool) -> Result<ExitCode> {
    let root = g.root()?;
    let claims = ClaimsFile::load(&aphoria::layout::Layout::new(&root).claims())?;
    let extractors = aphoria::extract::all();
    let rows: Vec<serde_json::Value> = claims
        .claims
        .iter()
        .map(|c| {
            let by: Vec<&str> = extractors
                .iter()
                .filter(|e| e.predicates().contains(&c.predicate.as_str()))
                .map(|e| e.name())
                .collect();
            serde_json::json!({"claim": c.id, "predicate": c.predicate, "extractors": by})
        })
        .collect();
    if json {
        print_json(&rows)?;
    } else {
        for r in &rows {
            let by: Vec<&str> = r["extractors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            let by = if by.is_empty() {
                "NO EXTRACTOR: always missing".to_owned()
            } else {
                by.join(", ")
            };
            println!(
                "{:<28} {:<26} {by}",
                r["claim"].as_str().unwrap_or(""),
                r["predicate"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn install_hook(g: &Global) -> Result<ExitCode> {
    let root = g.root()?;
    // git says where hooks live (a worktree's, or `core.hooksPath`).
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["rev-parse", "--git-path", "hooks"])
        .output()
        .context("running git")?;
    if !out.status.success() {
        anyhow::bail!(
            "{} is not a git work tree: no hooks to install into",
            root.display()
        );
    }
    let hooks = root.join(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::create_dir_all(&hooks).with_context(|| format!("making {}", hooks.display()))?;
    let path = hooks.join("pre-commit");
    if path.exists() {
        anyhow::bail!(
            "{} exists; add `aphoria verify run --dry-run` to it by hand",
            path.display()
        );
    }
    std::fs::write(&path, "#!/bin/sh\n# Installed by `aphoria verify install-hook`.\nexec aphoria verify run --dry-run\n")
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    println!("installed {}", path.display());
    Ok(ExitCode::SUCCESS)
}

pub fn pack(g: &Global, cmd: PackCmd) -> Result<ExitCode> {
    match cmd {
        PackCmd::Build { rules, name, out } => {
            let file = ClaimsFile::load(&rules)?;
            let layout = aphoria::layout::Layout::new(&g.root()?);
            layout.init()?;
            let bytes = aphoria::pack::build(&file, &name, &layout.keys())?;
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "pack {name}: {} rules in {}",
                file.claims.len(),
                out.display()
            );
        }
        PackCmd::Install { file } => {
            let pack = g.with_project(|p| Ok(p.install_pack(&file)?))?;
            println!(
                "installed pack {} ({} rules), agent {} is a trust root",
                pack.name,
                pack.rules.len(),
                pack.agent
            );
        }
        PackCmd::Remove { name } => g.with_project(|p| {
            p.remove_pack(&name)?;
            println!("removed pack {name}: its rules are no longer enforced");
            Ok(())
        })?,
        PackCmd::List => g.with_project(|p| {
            for pack in &p.packs {
                println!(
                    "{:<20} {:<32} {} rules, key {}",
                    pack.name,
                    pack.agent,
                    pack.rules.len(),
                    pack.public_key
                );
            }
            Ok(())
        })?,
    }
    Ok(ExitCode::SUCCESS)
}
