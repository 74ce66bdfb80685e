//! `stemedb api-key create|list|revoke|rotate`: the server's API keys, for an administrator
//! (docs/security.md). A new or rotated secret is shown once: written to `--out FILE` (created
//! with mode 0600, never replaced), or else printed alone on stdout.
use anyhow::{Context, Result};
use serde_json::{Value, json};
use stemedb_client::wire::{ApiKey, ApiKeyList, ApiKeyWithSecret};

use crate::ServerArgs;

#[derive(clap::Args)]
pub struct ApiKeyArgs {
    #[command(subcommand)]
    command: ApiKeyCommand,
}

#[derive(clap::Subcommand)]
enum ApiKeyCommand {
    /// Create a key; prints its secret (shown once) on stdout.
    Create(CreateArgs),
    /// Every key, without secrets.
    List(ServerOnly),
    /// Revoke a key: refused from the next request.
    Revoke(ById),
    /// A new secret for a key; the old one keeps working for the server's grace period.
    Rotate(ById),
}

#[derive(clap::Args)]
struct CreateArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// What the key is for (1 to 100 characters).
    #[arg(long)]
    name: String,
    /// read, write or admin.
    #[arg(long, default_value = "read")]
    role: String,
    /// RFC 3339 UTC time at which the key stops working.
    #[arg(long)]
    expires_at: Option<String>,
    /// Requests per second (0: unlimited); absent: the role's default.
    #[arg(long)]
    rate_limit_per_sec: Option<u32>,
    /// An agent this key may write for without signing (custodial signing; repeatable).
    #[arg(long = "agent-id")]
    agent_ids: Vec<String>,
    /// Write the secret to this new file (mode 0600) instead of stdout.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct ServerOnly {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ById {
    #[command(flatten)]
    server: ServerArgs,
    /// The key's id (from `api-key list`).
    id: String,
    /// Write the new secret to this new file (mode 0600) instead of stdout (`rotate`).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

pub async fn run(args: ApiKeyArgs) -> Result<()> {
    match args.command {
        ApiKeyCommand::Create(args) => create(args).await,
        ApiKeyCommand::List(args) => list(args).await,
        ApiKeyCommand::Revoke(args) => {
            let path = format!("/v1/api-keys/{}/revoke", path_id(&args.id)?);
            let key: ApiKey = post(&args.server, &path, json!({}), "revoking").await?;
            eprintln!("revoked {} ({})", key.id, key.name);
            Ok(())
        }
        ApiKeyCommand::Rotate(args) => {
            let path = format!("/v1/api-keys/{}/rotate", path_id(&args.id)?);
            let key: ApiKeyWithSecret = post(&args.server, &path, json!({}), "rotating").await?;
            give_secret(&key, "rotated", args.out.as_deref())
        }
    }
}

async fn create(args: CreateArgs) -> Result<()> {
    let mut body = json!({"name": args.name, "role": args.role, "agent_ids": args.agent_ids});
    if let Some(t) = args.expires_at {
        body["expires_at"] = json!(t);
    }
    if let Some(r) = args.rate_limit_per_sec {
        body["rate_limit_per_sec"] = json!(r);
    }
    let key: ApiKeyWithSecret = post(&args.server, "/v1/api-keys", body, "creating a key").await?;
    give_secret(&key, "created", args.out.as_deref())
}

async fn list(args: ServerOnly) -> Result<()> {
    let answer = args
        .server
        .client()?
        .get_json("/v1/api-keys", &[])
        .await
        .with_context(|| format!("listing the keys of {}", args.server.server))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let list: ApiKeyList = serde_json::from_value(answer).context("an unexpected key list")?;
    println!(
        "{:<34} {:<6} {:<24} {:<22} name",
        "id", "role", "created", "state"
    );
    for key in &list.keys {
        let state = match (&key.revoked_at, &key.expires_at) {
            (Some(at), _) => format!("revoked {at}"),
            (None, Some(at)) => format!("expires {at}"),
            (None, None) => "active".to_owned(),
        };
        println!(
            "{:<34} {:<6} {:<24} {:<22} {}",
            key.id, key.role, key.created_at, state, key.name
        );
    }
    Ok(())
}

/// A key id as a path segment: refused if it could change the path.
fn path_id(id: &str) -> Result<&str> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        anyhow::bail!("{id:?} is not a key id (see `stemedb api-key list`)");
    }
    Ok(id)
}

async fn post<T: serde::de::DeserializeOwned>(
    server: &ServerArgs,
    path: &str,
    body: Value,
    doing: &str,
) -> Result<T> {
    let (_, answer) = server
        .client()?
        .post_json(path, &body)
        .await
        .with_context(|| format!("{doing} at {}", server.server))?;
    serde_json::from_value(answer).with_context(|| format!("{doing}: an unexpected answer"))
}

/// The secret to `out` (a new file, mode 0600) or alone on stdout; what it is, on stderr.
fn give_secret(key: &ApiKeyWithSecret, done: &str, out: Option<&std::path::Path>) -> Result<()> {
    let fields = &key.key_fields;
    let what = format!(
        "{done} key {} ({}, role {})",
        fields.id, fields.name, fields.role
    );
    match out {
        Some(path) => {
            crate::keyfile::write_private(path, &format!("{}\n", key.key))?;
            eprintln!("{what}; its secret is in {} (mode 0600)", path.display());
        }
        None => {
            eprintln!("{what}; its secret, shown this once:");
            println!("{}", key.key);
        }
    }
    Ok(())
}
