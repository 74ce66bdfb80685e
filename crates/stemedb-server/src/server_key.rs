//! The server's own Ed25519 key, which signs backup manifests (docs/security.md). It is created
//! at first start in the data directory: `server.key` (the seed, hex, mode 0600) and
//! `server.pub` (the public half, hex), which the operator keeps elsewhere to check backups.
//! The secret is never logged or served; `GET /v1/admin/status` shows the public half.
use std::path::{Path, PathBuf};

use stemedb::core::{PublicKey, SecretKey};

pub const FILE_NAME: &str = "server.key";
pub const PUBLIC_FILE_NAME: &str = "server.pub";

#[derive(Debug, thiserror::Error)]
pub enum ServerKeyError {
    #[error("server key {path}: {reason}")]
    Storage { path: PathBuf, reason: String },
}

fn storage(path: &Path, e: impl std::fmt::Display) -> ServerKeyError {
    ServerKeyError::Storage {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// The server's signing key. `Debug` shows only the public half.
#[derive(Debug)]
pub struct ServerKey(SecretKey);

impl ServerKey {
    /// Loads `DIR/server.key`, or creates it (0600) when there is none; (re)writes
    /// `DIR/server.pub` when it is missing or does not match. Returns the key and, when it
    /// was created, the secret file's path.
    pub fn open(dir: &Path) -> Result<(ServerKey, Option<PathBuf>), ServerKeyError> {
        let path = dir.join(FILE_NAME);
        let (secret, created) = match std::fs::read_to_string(&path) {
            Ok(text) => (
                SecretKey::parse_hex(&text).map_err(|e| storage(&path, e))?,
                None,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = SecretKey::generate().map_err(|e| storage(&path, e))?;
                crate::files::create_private(&path, format!("{}\n", secret.seed_hex()).as_bytes())
                    .map_err(|e| storage(&path, e))?;
                (secret, Some(path))
            }
            Err(e) => return Err(storage(&path, e)),
        };
        let public = format!("{}\n", secret.public_key().to_hex());
        let public_path = dir.join(PUBLIC_FILE_NAME);
        if std::fs::read_to_string(&public_path).ok().as_deref() != Some(public.as_str()) {
            crate::files::write_atomic(&public_path, public.as_bytes())
                .map_err(|e| storage(&public_path, e))?;
        }
        Ok((ServerKey(secret), created))
    }

    pub fn secret(&self) -> &SecretKey {
        &self.0
    }

    pub fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }
}
