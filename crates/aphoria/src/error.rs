//! The library's one error type: each variant names what went wrong and where.
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AphoriaError {
    /// Displayed as the path alone: the cause is the error's source, which `{:#}` (anyhow)
    /// prints after it, so printing it here too would say it twice.
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error("claim {id}: {message}")]
    BadClaim { id: String, message: String },
    #[error("no claim with id {0:?} in .aphoria/claims.toml")]
    UnknownClaim(String),
    #[error("trust pack {path}: {message}")]
    BadPack { path: PathBuf, message: String },
    #[error("the store: {0}")]
    Store(String),
    #[error(transparent)]
    Db(#[from] stemedb::DbError),
}

impl AphoriaError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub fn bad_file(path: &Path, message: impl Into<String>) -> Self {
        Self::BadFile {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    pub fn bad_claim(id: &str, message: impl Into<String>) -> Self {
        Self::BadClaim {
            id: id.to_owned(),
            message: message.into(),
        }
    }
}
