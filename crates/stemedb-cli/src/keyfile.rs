//! Key files: JSON `{"algorithm": "ed25519", "public_key": hex, "secret_key": hex}`, mode 0600.
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use stemedb_core::SecretKey;

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Where to write the key file; prints to stdout when absent.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

pub fn keygen(args: &KeygenArgs) -> Result<()> {
    let key = SecretKey::generate()?;
    let doc = json!({"algorithm": "ed25519", "public_key": key.public_key().to_hex(), "secret_key": key.seed_hex()});
    let text = format!("{}\n", serde_json::to_string_pretty(&doc)?);
    match &args.out {
        None => print!("{text}"),
        Some(path) => {
            if path.exists() && !args.force {
                bail!("{} exists; pass --force to replace it", path.display());
            }
            if args.force {
                let _ = std::fs::remove_file(path);
            }
            write_private(path, &text)?;
            eprintln!(
                "wrote {} (public key {})",
                path.display(),
                key.public_key().to_hex()
            );
        }
    }
    Ok(())
}

/// Writes a secret to a new file readable by its owner only (mode 0600 from its creation, so
/// it is never readable by others, even for a moment); refuses to replace a file.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

pub fn load(path: &Path) -> Result<SecretKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    let doc: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a key file", path.display()))?;
    let secret = doc["secret_key"]
        .as_str()
        .with_context(|| format!("{} has no secret_key", path.display()))?;
    let key = SecretKey::parse_hex(secret)?;
    if doc["public_key"]
        .as_str()
        .is_some_and(|p| p != key.public_key().to_hex())
    {
        bail!("{}: public_key does not match secret_key", path.display());
    }
    Ok(key)
}
