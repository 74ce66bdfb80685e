//! Who may call what: API keys and roles, checked once per request by [`authorize`] against
//! the access table (`table.rs`, mirrored in docs/security.md), with a per-key GCRA rate limit.
//! Handlers receive a [`Caller`]; no request body can change it.
pub mod keys;
mod limits;
mod table;

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use stemedb::core::Timestamp;

use crate::{ApiError, AppState, problem};
pub use keys::{KeyChange, KeyRecord, KeyStore, NewKey};
pub use table::{Access, ROUTES, required_access};

/// What a key may do. Ordered: each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("API key storage: {0}")]
    Storage(String),
    #[error("API key file {path} is damaged: {reason}; restore it from a backup or move it aside")]
    Damaged { path: PathBuf, reason: String },
    #[error("no API key {0}")]
    NoSuchKey(String),
    #[error("the key is revoked")]
    Revoked,
    #[error("{0}")]
    BadSetting(String),
}

/// Authentication settings (docs/security.md). `Debug` never shows the root key.
#[derive(Clone)]
pub struct AuthConfig {
    /// False only with `--auth disabled`, which is refused unless bound to loopback.
    pub enabled: bool,
    /// `STEMEDB_ROOT_API_KEY`: an admin key given by the operator (at least 32 characters).
    pub root_api_key: Option<String>,
    /// Serve `/metrics` without a key (default false: it needs a read key).
    pub metrics_open: bool,
    /// How long the previous secret of a rotated key keeps working (default 24 h).
    pub rotation_grace_ms: u64,
    /// Default request rates per key, by role (0: unlimited). The root key is not limited.
    pub read_rate_per_sec: u32,
    pub write_rate_per_sec: u32,
    pub admin_rate_per_sec: u32,
    /// Rate shared by all requests without a key on open routes (`/v1/health`).
    pub open_rate_per_sec: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            root_api_key: None,
            metrics_open: false,
            rotation_grace_ms: 24 * 60 * 60 * 1000,
            read_rate_per_sec: 2_000,
            write_rate_per_sec: 2_000,
            admin_rate_per_sec: 200,
            open_rate_per_sec: 50,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("enabled", &self.enabled)
            .field("root_api_key", &self.root_api_key.as_ref().map(|_| "<set>"))
            .field("metrics_open", &self.metrics_open)
            .field("rotation_grace_ms", &self.rotation_grace_ms)
            .finish_non_exhaustive()
    }
}

/// Who is calling: the key's id, name and role (no secret).
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    pub agent_ids: Vec<String>,
}

/// The caller of a request, as the handlers see it (`None` on an open route without a key).
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Principal>);

/// Name of the file the first start writes its admin key to.
pub const ADMIN_KEY_FILE: &str = "admin.key";
const ROOT_KEY_ID: &str = "root";

/// The keys, the root key's hash and the rate limiters of one server.
pub struct Auth {
    pub config: AuthConfig,
    keys: RwLock<KeyStore>,
    root_hash: Option<[u8; 32]>,
    limits: limits::Limits,
}

impl Auth {
    /// Loads the keys of a data directory. With authentication on and no key at all (no root
    /// key, no stored key), creates an admin key and writes it to `DATA_DIR/admin.key` (0600);
    /// its path is returned so that the caller can say where it is, never what it is.
    pub fn open(
        dir: Option<&Path>,
        config: AuthConfig,
    ) -> Result<(Auth, Option<PathBuf>), AuthError> {
        if let Some(root) = &config.root_api_key
            && (root.len() < 32 || root.len() > 256 || !root.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(AuthError::BadSetting(
                "STEMEDB_ROOT_API_KEY must be 32 to 256 printable ASCII characters".into(),
            ));
        }
        let mut keys = match dir {
            Some(dir) => KeyStore::open(dir)?,
            None => KeyStore::in_memory(),
        };
        let mut created = None;
        if config.enabled && config.root_api_key.is_none() && keys.is_empty() {
            let now = now();
            let new = NewKey {
                name: "bootstrap-admin".into(),
                role: Role::Admin,
                expires_at: None,
                // The operator's first key stands in for a root key, which is never limited:
                // `stemedb load-test` and `backup` with their defaults then measure the
                // server, not a rate limit (issue 11). An admin may set a rate on it.
                rate_limit_per_sec: Some(0),
                agent_ids: Vec::new(),
            };
            let (_, secret) = keys.create(new, now)?;
            if let Some(dir) = dir {
                let path = dir.join(ADMIN_KEY_FILE);
                write_private(&path, &secret)?;
                created = Some(path);
            }
        }
        let root_hash = config.root_api_key.as_deref().map(keys::secret_hash);
        let limits = limits::Limits::new(&config);
        Ok((
            Auth {
                config,
                keys: RwLock::new(keys),
                root_hash,
                limits,
            },
            created,
        ))
    }

    /// Runs `f` on the key store (management routes).
    pub fn with_keys<T>(
        &self,
        f: impl FnOnce(&mut KeyStore) -> Result<T, AuthError>,
    ) -> Result<T, ApiError> {
        self.update_keys(f).map_err(ApiError::from)
    }

    /// Runs `f` on the key store under its write lock (the admin state's apply path).
    pub fn update_keys<T>(
        &self,
        f: impl FnOnce(&mut KeyStore) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let mut keys = self
            .keys
            .write()
            .map_err(|_| AuthError::Storage("key store lock poisoned".into()))?;
        f(&mut keys)
    }

    /// The caller behind a request's credentials.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let secret = credential(headers)?;
        if self
            .root_hash
            .is_some_and(|h| h == keys::secret_hash(&secret))
        {
            return Ok(Principal {
                key_id: ROOT_KEY_ID.into(),
                name: "STEMEDB_ROOT_API_KEY".into(),
                role: Role::Admin,
                agent_ids: Vec::new(),
            });
        }
        if !keys::well_formed(&secret) {
            return Err(ApiError::Unauthorized(
                "malformed API key: expected sdb_ followed by 64 hex digits".into(),
            ));
        }
        let keys = self
            .keys
            .read()
            .map_err(|_| ApiError::Internal("key store lock poisoned".into()))?;
        let Some((key, entry)) = keys.lookup(&secret) else {
            return Err(ApiError::Unauthorized("unknown API key".into()));
        };
        let now = now();
        if key.revoked_at.is_some() {
            return Err(ApiError::Unauthorized(format!(
                "API key {} is revoked",
                key.id
            )));
        }
        if key.expires_at.is_some_and(|t| t <= now) {
            return Err(ApiError::Unauthorized(format!(
                "API key {} has expired",
                key.id
            )));
        }
        if entry.valid_until.is_some_and(|t| t <= now) {
            return Err(ApiError::Unauthorized(format!(
                "this secret of API key {} was rotated and its grace period is over",
                key.id
            )));
        }
        Ok(Principal {
            key_id: key.id.clone(),
            name: key.name.clone(),
            role: key.role,
            agent_ids: key.agent_ids.clone(),
        })
    }

    /// The rate a key is held to (0: unlimited).
    fn rate_of(&self, principal: &Principal) -> u32 {
        if principal.key_id == ROOT_KEY_ID {
            return 0;
        }
        let stored = self.keys.read().ok().and_then(|keys| {
            keys.get(&principal.key_id)
                .and_then(|k| k.rate_limit_per_sec)
        });
        stored.unwrap_or(match principal.role {
            Role::Read => self.config.read_rate_per_sec,
            Role::Write => self.config.write_rate_per_sec,
            Role::Admin => self.config.admin_rate_per_sec,
        })
    }

    /// Decides one request: `Ok(caller)` or the problem to answer with.
    fn decide(&self, access: Access, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if !self.config.enabled {
            return Ok(Caller(Some(Principal {
                key_id: "auth-disabled".into(),
                name: "auth disabled".into(),
                role: Role::Admin,
                agent_ids: Vec::new(),
            })));
        }
        let presented = has_credential(headers);
        if access == Access::Open && !presented {
            self.limits.check_open()?;
            return Ok(Caller(None));
        }
        let principal = self.authenticate(headers)?;
        if let Access::Needs(required) = access
            && principal.role < required
        {
            return Err(ApiError::Forbidden {
                role: principal.role.name(),
                required: required.name(),
            });
        }
        self.limits
            .check_key(&principal.key_id, self.rate_of(&principal))?;
        Ok(Caller(Some(principal)))
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::NoSuchKey(id) => ApiError::NotFound {
                what: "API key",
                id,
            },
            AuthError::Revoked => ApiError::Conflict("the key is revoked".into()),
            AuthError::BadSetting(text) => ApiError::BadRequest(text),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub fn now() -> Timestamp {
    use stemedb::core::Clock;
    stemedb::SystemClock.now()
}

fn has_credential(headers: &HeaderMap) -> bool {
    headers.contains_key("x-api-key") || headers.contains_key(axum::http::header::AUTHORIZATION)
}

/// The key a request presents, from `X-API-Key` or `Authorization: Bearer`.
pub fn credential(headers: &HeaderMap) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::Unauthorized(format!("malformed credentials: {why}"));
    let from_header = headers
        .get("x-api-key")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| bad("X-API-Key is not ASCII"))
        })
        .transpose()?;
    let from_bearer = match headers.get(axum::http::header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| bad("Authorization is not ASCII"))?;
            let (scheme, token) = text
                .split_once(' ')
                .ok_or_else(|| bad("Authorization must be `Bearer <key>`"))?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(bad("only the Bearer scheme is accepted"));
            }
            Some(token.trim().to_owned())
        }
    };
    let secret = match (from_header, from_bearer) {
        (Some(a), Some(b)) if a != b => return Err(bad("X-API-Key and Bearer disagree")),
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(ApiError::Unauthorized(
                "this route needs an API key: send X-API-Key or Authorization: Bearer".into(),
            ));
        }
    };
    if secret.is_empty() || secret.len() > 256 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("the key must be 1 to 256 printable ASCII characters"));
    }
    Ok(secret)
}

/// Writes a secret to a new file readable only by its owner.
fn write_private(path: &Path, secret: &str) -> Result<(), AuthError> {
    crate::files::create_private(path, format!("{secret}\n").as_bytes())
        .map_err(|e| AuthError::Storage(format!("{}: {e}", path.display())))
}

/// The middleware: looks the matched route up in the access table, authenticates, checks the
/// role and the rate, and hands the handler a [`Caller`]. A route missing from the table is
/// refused (fail closed).
pub async fn authorize(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let path = matched.as_ref().map_or("", |m| m.as_str());
    authorize_then(&state, path, request, |request| next.run(request)).await
}

/// [`authorize`] for the route template `path`, with `inner` in the place of the handler (the
/// middleware's, and `direct.rs`'s for the route it answers without the router).
pub(crate) async fn authorize_then<F, Fut>(
    state: &AppState,
    path: &str,
    mut request: Request,
    inner: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let Some(access) = required_access(request.method(), path, state.auth.config.metrics_open)
    else {
        return problem::into_response(&ApiError::Internal(format!(
            "route {} {path} is missing from the access table",
            request.method()
        )));
    };
    match state.auth.decide(access, request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            inner(request).await
        }
        Err(error) => problem::into_response(&error),
    }
}
