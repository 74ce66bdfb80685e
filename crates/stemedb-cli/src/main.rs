//! `stemedb`: one binary to run the server, manage keys, write and query assertions, show the
//! demo and drive load tests.
#![forbid(unsafe_code)]

mod admin;
mod arena;
mod audit_cmds;
mod backup;
mod bench_group;
mod bench_limits;
mod bench_truth;
mod client_cmds;
mod config_file;
mod control_cmds;
mod demo;
mod demo_truth;
mod git_cmds;
mod import_cmds;
mod key_cmds;
mod keyfile;
mod loadtest;
mod maintain;
mod mcp;
mod mcp_aphoria;
mod open_guard;
mod progress;
mod rawhttp;
mod serve;
mod truth_cmds;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// mimalloc, not glibc's allocator: every write is allocated on one thread (the writer, an
/// async worker) and freed on another, and glibc then takes the allocating arena's lock, a
/// `futex` under contention (docs/benchmarks.md, "Sixteenth session").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "stemedb",
    version,
    about = "StemeDB: Git for truth. Signed assertions, resolved through lenses."
)]
struct Cli {
    /// On an error, print every cause in full (and a stack backtrace where RUST_BACKTRACE
    /// asks for one) instead of one sentence.
    #[arg(long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

/// Where client commands send their requests.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    /// Base URL of the StemeDB server.
    #[arg(
        long = "server",
        env = "STEMEDB_SERVER",
        default_value = "http://127.0.0.1:18180"
    )]
    pub server: String,
    /// API key, sent as X-API-Key. Without it, the key in --api-key-file is used if that
    /// file exists.
    #[arg(long = "api-key", env = "STEMEDB_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// File holding the API key; the default is the admin key a server writes at its first
    /// start into its default data directory.
    #[arg(
        long = "api-key-file",
        env = "STEMEDB_API_KEY_FILE",
        default_value = "./stemedb-data/admin.key"
    )]
    pub api_key_file: std::path::PathBuf,
    /// PEM certificate(s) to trust for an https:// server besides the system's (a
    /// self-signed certificate, or a private CA).
    #[arg(long = "ca-cert", env = "STEMEDB_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,
}

/// Where the CLI looked for an API key and found none: said when the server answers 401 (a
/// server started with `--auth disabled` needs no key, so its absence alone is no error).
static KEY_NOT_FOUND: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl ServerArgs {
    pub fn client(&self) -> Result<stemedb_client::Client> {
        let ca = match &self.ca_cert {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("reading --ca-cert {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let key = self.key()?;
        if key.is_none() {
            let _ = KEY_NOT_FOUND.set(self.api_key_file.display().to_string());
        }
        stemedb_client::Client::with_ca(&self.base_url(), key, ca.as_deref()).map_err(|e| {
            match &self.ca_cert {
                Some(path) => anyhow::anyhow!("--ca-cert {}: {e}", path.display()),
                None => e.into(),
            }
        })
    }

    /// `--server` as a URL: a bare `host:port` means `http://host:port`.
    pub(crate) fn base_url(&self) -> String {
        if self.server.contains("://") {
            self.server.clone()
        } else {
            format!("http://{}", self.server)
        }
    }

    /// `--api-key`, else the first line of `--api-key-file` if it exists, else none.
    pub(crate) fn key(&self) -> Result<Option<String>> {
        if let Some(key) = &self.api_key {
            return Ok(Some(key.clone()));
        }
        let file = self.api_key_file.display();
        match std::fs::read_to_string(&self.api_key_file) {
            Ok(text) => match text.lines().next().map(str::trim) {
                Some(key) if !key.is_empty() => Ok(Some(key.to_owned())),
                _ => Err(anyhow::anyhow!("the API key file {file} is empty")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("reading the API key file {file}: {e}")),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server on an embedded data directory.
    Serve(serve::ServeArgs),
    /// Create an Ed25519 key file (mode 0600) for signing assertions.
    Keygen(keyfile::KeygenArgs),
    /// Sign an assertion locally and post it.
    Assert(client_cmds::AssertArgs),
    /// Query assertions through a lens.
    Query(client_cmds::QueryArgs),
    /// Retract an assertion, or a source and what rests on it (signed locally).
    Retract(control_cmds::RetractArgs),
    /// Undo a retraction (signed locally).
    Reinstate(control_cmds::ReinstateArgs),
    /// Vote for (or with --down, against) an assertion (signed locally).
    Vote(control_cmds::VoteArgs),
    /// State how much you trust another agent (signed locally).
    Trust(control_cmds::TrustArgs),
    /// Sign a JSON body from a file and print the wire form, without posting it.
    Sign(control_cmds::SignArgs),
    /// Import assertion bodies from JSON Lines or CSV: signed here, posted in batches,
    /// resumable after an interruption.
    Import(import_cmds::ImportArgs),
    /// Everything stored under a subject, and what acted on it, newest first (like git log).
    Log(git_cmds::LogArgs),
    /// One record: its fields, stage and votes, its id and signature checked offline.
    Show(git_cmds::ShowArgs),
    /// Why a group's answer is what it is: the winner, the lens's reason, its provenance.
    Blame(git_cmds::BlameArgs),
    /// The answers under a subject at two times, and what changed between them.
    Diff(git_cmds::DiffArgs),
    /// How much a group disagrees: its clusters of values, outliers and conflict score.
    Skeptic(truth_cmds::SkepticArgs),
    /// An assertion's provenance: what it was derived from, down to its cited sources.
    Provenance(truth_cmds::ProvenanceArgs),
    /// Load a small medical example and walk through lenses, conflict and time travel.
    Demo(demo::DemoArgs),
    /// Audit trails: `stemedb audit export --subject 'drug/*' --out FILE`.
    Audit(audit_cmds::AuditArgs),
    /// `admin status` and `admin export-state` against a running server.
    Admin(admin::AdminArgs),
    /// Back up a running server through its API (`--out DIR`, `--since PREVIOUS` for an
    /// incremental), or `backup verify DIR...`.
    Backup(backup::BackupArgs),
    /// Restore backups into a data directory (point in time with --to-sequence / --to-time).
    Restore(backup::RestoreArgs),
    /// `config show`: the effective serve configuration and where each value came from.
    Config(config_file::ConfigArgs),
    /// Scan a data directory offline: every record's checksum, id and signature, every index.
    Check(maintain::CheckArgs),
    /// Rebuild every index and the truth state of a data directory from its log.
    RebuildIndexes(maintain::RebuildArgs),
    /// Verify an audit export offline (no server): ids, signatures, references, integrity.
    Verify(audit_cmds::VerifyArgs),
    /// The Arena: seeded worlds of honest agents, trolls, sybils and copiers played against a
    /// server; each lens's accuracy next to classic truth-discovery algorithms.
    Arena(arena::ArenaArgs),
    /// Truth-maintenance benchmarks: a timed retraction cascade, or a trust graph for load-test.
    BenchTruth(bench_truth::BenchTruthArgs),
    /// Large groups: time every lens, the skeptic and the audit export on one group of N.
    BenchGroup(bench_group::BenchGroupArgs),
    /// Rate-limit isolation: does a key driven past its limit slow another key down?
    BenchRateLimit(bench_limits::BenchRateLimitArgs),
    /// The noisy side of bench-rate-limit, run as its own process.
    #[command(hide = true)]
    BenchNoise(bench_limits::BenchNoiseArgs),
    /// Drive a server with signed writes and queries; print throughput and latency percentiles.
    LoadTest(loadtest::LoadTestArgs),
    /// The server's API keys: `api-key create|list|revoke|rotate` (admin).
    ApiKey(key_cmds::ApiKeyArgs),
    /// A Model Context Protocol server on stdin/stdout, for LLM agents (docs/clients.md).
    Mcp(mcp::McpArgs),
    /// Print a completion script for a shell, e.g.
    /// `stemedb completions bash > ~/.local/share/bash-completion/completions/stemedb`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Errors read as sentences, whatever `RUST_BACKTRACE` says: `error: what failed: why`,
/// then exit status 1. (Returning the error from `main` would print its debug form, with a
/// stack backtrace on machines that set `RUST_BACKTRACE=1`.) `--verbose` asks for that form:
/// every cause on its own line, and the backtrace if `RUST_BACKTRACE` is set.
fn main() -> std::process::ExitCode {
    let mut verbose = false;
    match run(&mut verbose) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if verbose => {
            eprintln!("error: {e:?}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {}", sentence(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error's causes joined by ": ", down to the first that says what to do (an unreachable
/// server, an untrusted certificate): what lies under it is for `--verbose`. A cause the
/// message before it already ends with (an error that prints its source) is said once.
fn sentence(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let said = |before: &String| *before == text || before.ends_with(&format!(": {text}"));
        if !parts.last().is_some_and(said) {
            parts.push(text);
        }
        let client = cause.downcast_ref::<stemedb_client::ClientError>();
        if client
            .is_some_and(|e| matches!(e, stemedb_client::ClientError::Problem { status: 401, .. }))
            && let Some(file) = KEY_NOT_FOUND.get()
        {
            parts.push(format!(
                "no API key was sent: looked for {file}; pass --api-key-file or set \
                 STEMEDB_API_KEY (a server writes its admin key to DATA_DIR/admin.key at its \
                 first start)"
            ));
            break;
        }
        if client.is_some_and(stemedb_client::ClientError::says_what_to_do) {
            break;
        }
    }
    parts.join(": ")
}

fn run(verbose: &mut bool) -> Result<()> {
    let (argv, from_file) = config_file::apply(std::env::args_os().collect())?;
    let cli = Cli::parse_from(&argv);
    *verbose = cli.verbose;
    match cli.command {
        Command::Config(_) => config_file::show(&argv, &from_file),
        Command::Serve(args) => serve::run(args),
        Command::Keygen(args) => keyfile::keygen(&args),
        Command::Sign(args) => control_cmds::sign(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "stemedb",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Verify(args) => audit_cmds::verify(&args),
        Command::Check(args) => maintain::check(&args),
        Command::Restore(args) => backup::restore(&args),
        Command::RebuildIndexes(args) => maintain::rebuild(&args),
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                match command {
                    Command::Assert(args) => client_cmds::assert(args).await,
                    Command::Query(args) => client_cmds::query(args).await,
                    Command::Retract(args) => control_cmds::retract(args).await,
                    Command::Reinstate(args) => control_cmds::reinstate(args).await,
                    Command::Vote(args) => control_cmds::vote(args).await,
                    Command::Trust(args) => control_cmds::trust(args).await,
                    Command::Log(args) => git_cmds::log(args).await,
                    Command::Import(args) => import_cmds::import(args).await,
                    Command::ApiKey(args) => key_cmds::run(args).await,
                    Command::Mcp(args) => mcp::run(args).await,
                    Command::Show(args) => git_cmds::show(args).await,
                    Command::Blame(args) => git_cmds::blame(args).await,
                    Command::Diff(args) => git_cmds::diff(args).await,
                    Command::Skeptic(args) => truth_cmds::skeptic(args).await,
                    Command::Provenance(args) => truth_cmds::provenance(args).await,
                    Command::Demo(args) => demo::run(args).await,
                    Command::LoadTest(args) => loadtest::run(args).await,
                    Command::Audit(args) => audit_cmds::audit(args).await,
                    Command::Backup(args) => backup::backup(args).await,
                    Command::Admin(args) => admin::run(args).await,
                    Command::BenchTruth(args) => bench_truth::run(args).await,
                    Command::Arena(args) => arena::run(args).await,
                    Command::BenchGroup(args) => bench_group::run(args).await,
                    Command::BenchRateLimit(args) => bench_limits::run(args).await,
                    Command::BenchNoise(args) => bench_limits::noise(args).await,
                    Command::Serve(_)
                    | Command::Keygen(_)
                    | Command::Sign(_)
                    | Command::Completions { .. }
                    | Command::Verify(_)
                    | Command::Check(_)
                    | Command::RebuildIndexes(_)
                    | Command::Restore(_)
                    | Command::Config(_) => Ok(()),
                }
            })
        }
    }
}
