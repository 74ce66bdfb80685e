//! A Rust HTTP client for the StemeDB API. Signing happens on the caller's side with
//! `stemedb_core` (see [`sign`]); the server never sees secret keys. Answers are the
//! `stemedb_wire` types the server writes (re-exported as [`wire`]).
#![forbid(unsafe_code)]

mod draft;

use std::time::Duration;

pub use draft::{Draft, sign};

use serde::de::DeserializeOwned;
use serde_json::Value;
use stemedb_core::CoreError;
pub use stemedb_wire as wire;
use stemedb_wire::{
    BatchResponse, HealthResponse, Problem, QueryResponse, Record, RetractResponse,
};

/// The TLS error behind a failed request, if that is what it was. The connector wraps it in
/// io::Errors, whose `source` skips what they wrap, so each is opened with `get_ref` too.
fn tls_cause(error: &reqwest::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cause = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner),
            None => e.source(),
        };
    }
    None
}

/// What a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "nothing is listening at {url}: start the server (`stemedb serve`) or point --server / \
         STEMEDB_SERVER at it"
    )]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}'s certificate is not trusted or the TLS handshake failed: {detail}")]
    Tls {
        url: String,
        detail: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} did not answer in time")]
    TimedOut {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("talking to the server: {0}")]
    Http(#[from] reqwest::Error),
    #[error("server answered {status}: {detail}")]
    Problem {
        status: u16,
        kind: String,
        detail: String,
        problem: Box<Problem>,
    },
    #[error("unexpected response: {0}")]
    Decode(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("the CA certificate is not PEM: {0}")]
    CaCertificate(String),
}

impl ClientError {
    /// Whether this error already says what to do, so that the causes under it (the HTTP
    /// stack's) are detail for `--verbose`, not for the one-line message.
    pub fn says_what_to_do(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. }
                | ClientError::Tls { .. }
                | ClientError::TimedOut { .. }
        )
    }

    /// The problem's stable type (e.g. `urn:stemedb:problem:validation-failed`), if any.
    pub fn problem_type(&self) -> Option<&str> {
        match self {
            ClientError::Problem { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// The answer to `POST /v1/assert`, with its status (201 stored, 200 already stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertReply {
    pub status: u16,
    pub id: String,
    pub sequence: u64,
    pub duplicate: bool,
}

/// The error of an answer with status `status` and body `bytes`: its problem document, or one
/// made up from the body when the body is not one.
fn problem_error(status: u16, bytes: &[u8]) -> ClientError {
    let problem = serde_json::from_slice::<Problem>(bytes).unwrap_or_else(|_| Problem {
        agent_id: None,
        bound_public_key: None,
        detail: String::from_utf8_lossy(bytes).into_owned(),
        field: None,
        id: None,
        retry_after_ms: None,
        rule: None,
        status,
        title: String::new(),
        kind: String::new(),
    });
    ClientError::Problem {
        status,
        kind: problem.kind.clone(),
        detail: problem.detail.clone(),
        problem: Box::new(problem),
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ClientError::Decode(format!("{e}: {}", String::from_utf8_lossy(bytes))))
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl Client {
    /// `base_url` like `http://127.0.0.1:18180`; `api_key` is sent as `X-API-Key`. An
    /// `https://` server must present a certificate the system trusts.
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<Self, ClientError> {
        Self::with_ca(base_url, api_key, None)
    }

    /// As [`Client::new`], also trusting the PEM certificates in `ca_pem` (a server with a
    /// self-signed certificate, or a private CA). TLS is rustls with the ring provider,
    /// installed as the process's default provider unless one is installed already.
    pub fn with_ca(
        base_url: &str,
        api_key: Option<String>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err only when another thread installed one first, which serves as well.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        // The server closes a kept-alive connection after it idles for its header-read timeout
        // (30 s by default); dropping idle connections sooner keeps a request from racing that.
        // No redirects: a redirect to another host would carry the API key along.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(20));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::CaCertificate(e.to_string()))?;
            if certs.is_empty() {
                return Err(ClientError::CaCertificate("no certificate in it".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        Ok(Self {
            http: builder.build()?,
            base: base_url.trim_end_matches('/').to_owned(),
            api_key,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{}", self.base, path));
        match &self.api_key {
            Some(key) => builder.header("X-API-Key", key),
            None => builder,
        }
    }

    /// A request that got no answer, named by what the user can do about it.
    fn transport(&self, source: reqwest::Error) -> ClientError {
        let url = self.base.clone();
        if let Some(tls) = tls_cause(&source) {
            let detail = tls.to_string();
            ClientError::Tls {
                url,
                detail,
                source,
            }
        } else if source.is_connect() {
            ClientError::Unreachable { url, source }
        } else if source.is_timeout() {
            ClientError::TimedOut { url, source }
        } else {
            ClientError::Http(source)
        }
    }

    /// Sends a request and returns (status, body read as `T`); problem answers become
    /// `ClientError::Problem`.
    async fn send<T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<(u16, T), ClientError> {
        let response = builder.send().await.map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        if status >= 400 {
            return Err(problem_error(status, &bytes));
        }
        Ok((status, decode(&bytes)?))
    }

    /// Posts a JSON document to `path` and reads the answer as `T`.
    async fn post_typed<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<(u16, T), ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(bytes),
        )
        .await
    }

    pub async fn assert(&self, wire: &Value) -> Result<AssertReply, ClientError> {
        let (status, reply): (u16, stemedb_wire::AssertResponse) =
            self.post_typed("/v1/assert", wire).await?;
        Ok(AssertReply {
            status,
            id: reply.id,
            sequence: reply.sequence,
            duplicate: reply.duplicate,
        })
    }

    /// Posts `{"assertions": items}`; returns the per-item results.
    pub async fn assert_batch(&self, items: &[Value]) -> Result<BatchResponse, ClientError> {
        let body = serde_json::json!({ "assertions": items });
        Ok(self.post_typed("/v1/assert/batch", &body).await?.1)
    }

    /// `POST /v1/retract` with a signed (or, from a custodial key, unsigned) retraction.
    pub async fn retract(&self, wire: &Value) -> Result<(u16, RetractResponse), ClientError> {
        self.post_typed("/v1/retract", wire).await
    }

    /// Posts raw bytes to a path (for tests of malformed input); the answer as JSON.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Result<(u16, Value), ClientError> {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    /// The record with this id, or `None` on 404.
    pub async fn get(&self, id: &str) -> Result<Option<Record>, ClientError> {
        match self
            .send(self.request(reqwest::Method::GET, &format!("/v1/assertions/{id}")))
            .await
        {
            Ok((_, record)) => Ok(Some(record)),
            Err(ClientError::Problem { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/query` with these parameters.
    pub async fn query(
        &self,
        params: &[(&str, &str)],
    ) -> Result<QueryResponse<Record>, ClientError> {
        Ok(self
            .send(
                self.request(reqwest::Method::GET, "/v1/query")
                    .query(params),
            )
            .await?
            .1)
    }

    /// `GET /v1/query` returning the status and raw body without parsing it (for load tests,
    /// where the client must not spend the CPU the server needs).
    pub async fn query_text(&self, params: &[(&str, &str)]) -> Result<(u16, String), ClientError> {
        let response = self
            .request(reqwest::Method::GET, "/v1/query")
            .query(params)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// POSTs a JSON document to `path` and returns the answer as JSON: for routes without a
    /// typed method here, and for tests of the HTTP surface itself.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), ClientError> {
        self.post_typed(path, body).await
    }

    /// GETs a JSON document from `path` with query parameters, as JSON (see [`Self::post_json`]).
    pub async fn get_json(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, ClientError> {
        Ok(self
            .send(self.request(reqwest::Method::GET, path).query(params))
            .await?
            .1)
    }

    /// GETs `path` and returns the body's bytes (JSON Lines exports and backup pages);
    /// problem answers become `ClientError::Problem`.
    pub async fn get_bytes(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Vec<u8>, ClientError> {
        let response = self
            .request(reqwest::Method::GET, path)
            .query(params)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        if status >= 400 {
            return Err(problem_error(status, &bytes));
        }
        Ok(bytes.to_vec())
    }

    /// `GET /v1/audit/export`: the JSON Lines export, as bytes.
    pub async fn audit_export(&self, params: &[(&str, &str)]) -> Result<Vec<u8>, ClientError> {
        self.get_bytes("/v1/audit/export", params).await
    }

    pub async fn health(&self) -> Result<HealthResponse, ClientError> {
        Ok(self
            .send(self.request(reqwest::Method::GET, "/v1/health"))
            .await?
            .1)
    }
}
