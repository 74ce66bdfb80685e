//! The command line: arguments, and opening the project each command works on.
mod claims_cmd;
mod flywheel;
mod verify_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use aphoria::layout::Layout;
use aphoria::project::Project;
use aphoria::remote::Remote;
use aphoria::store::Backend;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "aphoria",
    version,
    about = "A code-truth linter: what a codebase does against what its authors claim, kept in StemeDB"
)]
pub struct Args {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, clap::Args)]
pub struct Global {
    /// The repository to read (its `.aphoria/` holds claims, packs, keys and the store).
    #[arg(long, global = true, default_value = ".")]
    pub root: PathBuf,
    /// The first segment of every subject (default: the root directory's name).
    #[arg(long, global = true)]
    pub repo: Option<String>,
    /// Who signs claim changes: agent `aphoria/author/<name>` (default: $USER, else `local`).
    #[arg(long, global = true, env = "APHORIA_AUTHOR")]
    pub author: Option<String>,
    /// Keep records in this StemeDB server instead of the embedded store in `.aphoria/db`.
    #[arg(long, global = true, env = "APHORIA_SERVER")]
    pub server: Option<String>,
    /// The server's API key (a write key; an admin key to install packs).
    #[arg(long, global = true, env = "STEMEDB_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run every extractor and print what they observed (records nothing).
    Scan(flywheel::ScanArgs),
    /// List the extractors and the predicates each can verify.
    Extractors,
    /// Create, list, explain, update, supersede, deprecate and sync claims.
    #[command(subcommand)]
    Claims(claims_cmd::ClaimsCmd),
    /// Judge every claim against the code (`run`), show coverage by extractor (`map`),
    /// install a pre-commit hook (`install-hook`).
    #[command(subcommand)]
    Verify(verify_cmd::VerifyCmd),
    /// Build and install trust packs: rule sets signed by a pack's agent.
    #[command(subcommand)]
    Pack(verify_cmd::PackCmd),
    /// Observations, claims and gaps per module.
    Coverage(flywheel::CoverageArgs),
    /// Write the claims as a document.
    #[command(subcommand)]
    Docs(flywheel::DocsCmd),
    /// The claims explained, grouped by category, with verdicts and history.
    Explain(flywheel::ExplainArgs),
    /// Candidate claims drawn from unclaimed observations.
    Suggest(flywheel::SuggestArgs),
}

pub fn run(args: Args) -> Result<ExitCode> {
    let g = &args.global;
    match args.command {
        Cmd::Scan(a) => flywheel::scan(g, &a),
        Cmd::Extractors => flywheel::extractors(),
        Cmd::Claims(c) => claims_cmd::run(g, c),
        Cmd::Verify(c) => verify_cmd::run(g, c),
        Cmd::Pack(c) => verify_cmd::pack(g, c),
        Cmd::Coverage(a) => flywheel::coverage(g, &a),
        Cmd::Docs(c) => flywheel::docs(g, c),
        Cmd::Explain(a) => flywheel::explain(g, &a),
        Cmd::Suggest(a) => flywheel::suggest(g, &a),
    }
}

impl Global {
    pub fn root(&self) -> Result<PathBuf> {
        self.root
            .canonicalize()
            .with_context(|| format!("the repository root {}", self.root.display()))
    }

    pub fn repo_name(&self, root: &Path) -> String {
        aphoria::layout::repo_name(root, self.repo.as_deref())
    }

    /// `--author`, else `$USER`, else `local`; a plain name, since it names an agent and a key
    /// file.
    fn author(&self) -> Result<String> {
        let name = self
            .author
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "local".to_owned());
        let plain = name.len() <= 64
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !plain {
            anyhow::bail!(
                "--author {name:?}: use 1 to 64 of A-Z a-z 0-9 - _ . (not starting with a dot)"
            );
        }
        Ok(name)
    }

    /// Opens the embedded store and the project over it, then runs `f`.
    pub fn with_project<T>(&self, f: impl FnOnce(&mut Project<'_>) -> Result<T>) -> Result<T> {
        let layout = Layout::new(&self.root()?);
        layout.init()?;
        let mut store: Box<dyn Backend> = match &self.server {
            Some(url) => Box::new(
                Remote::new(url, self.api_key.clone())
                    .with_context(|| format!("the server {url}"))?,
            ),
            None => Box::new(
                aphoria::layout::open_embedded(&layout)
                    .with_context(|| format!("opening the store in {}", layout.db().display()))?,
            ),
        };
        let mut project = Project::open(layout, store.as_mut(), &self.author()?)?;
        f(&mut project)
    }
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
