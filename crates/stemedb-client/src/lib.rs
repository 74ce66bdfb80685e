//! A Rust HTTP client for the StemeDB API. Signing happens on the caller's side with
//! `stemedb_core` (see [`sign`]); the server never sees secret keys.
#![forbid(unsafe_code)]

mod draft;

use std::time::Duration;

pub use draft::{Draft, sign};

use serde_json::Value;
use stemedb_core::CoreError;

/// What a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server: {0}")]
    Http(#[from] reqwest::Error),
    #[error("server answered {status}: {detail}")]
    Problem {
        status: u16,
        kind: String,
        detail: String,
        problem: Value,
    },
    #[error("unexpected response: {0}")]
    Decode(String),
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl ClientError {
    /// The problem's stable type (e.g. `urn:stemedb:problem:validation-failed`), if any.
    pub fn problem_type(&self) -> Option<&str> {
        match self {
            ClientError::Problem { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// The answer to `POST /v1/assert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertReply {
    pub status: u16,
    pub id: String,
    pub sequence: u64,
    pub duplicate: bool,
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl Client {
    /// `base_url` like `http://127.0.0.1:18180`; `api_key` is sent as `X-API-Key`.
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<Self, ClientError> {
        // The server closes a kept-alive connection after it idles for its header-read timeout
        // (30 s by default); dropping idle connections sooner keeps a request from racing that.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(20))
            .build()?;
        Ok(Self {
            http,
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

    /// Sends a request and returns (status, JSON body); problem answers become `ClientError::Problem`.
    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<(u16, Value), ClientError> {
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::Decode(format!("{e}: {}", String::from_utf8_lossy(&bytes)))
        })?;
        if status >= 400 {
            return Err(ClientError::Problem {
                status,
                kind: body["type"].as_str().unwrap_or_default().to_owned(),
                detail: body["detail"].as_str().unwrap_or_default().to_owned(),
                problem: body,
            });
        }
        Ok((status, body))
    }

    pub async fn assert(&self, wire: &Value) -> Result<AssertReply, ClientError> {
        let body = serde_json::to_vec(wire).map_err(|e| ClientError::Decode(e.to_string()))?;
        let (status, reply) = self
            .send(
                self.request(reqwest::Method::POST, "/v1/assert")
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await?;
        Ok(AssertReply {
            status,
            id: reply["id"]
                .as_str()
                .ok_or_else(|| ClientError::Decode("no id".into()))?
                .to_owned(),
            sequence: reply["sequence"]
                .as_u64()
                .ok_or_else(|| ClientError::Decode("no sequence".into()))?,
            duplicate: reply["duplicate"].as_bool().unwrap_or(false),
        })
    }

    /// Posts `{"assertions": items}`; returns the per-item results document.
    pub async fn assert_batch(&self, items: &[Value]) -> Result<Value, ClientError> {
        let body = serde_json::to_vec(&serde_json::json!({ "assertions": items }))
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let builder = self
            .request(reqwest::Method::POST, "/v1/assert/batch")
            .header("content-type", "application/json")
            .body(body);
        Ok(self.send(builder).await?.1)
    }

    /// Posts raw bytes to a path (for tests of malformed input).
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Result<(u16, Value), ClientError> {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    /// The record with this id, or `None` on 404.
    pub async fn get(&self, id: &str) -> Result<Option<Value>, ClientError> {
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
    pub async fn query(&self, params: &[(&str, &str)]) -> Result<Value, ClientError> {
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
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// POSTs a JSON document to `path` (e.g. a signed record to `/v1/retract`).
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.post_raw(path, bytes).await
    }

    /// GETs a JSON document from `path` with query parameters.
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
            .await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        if status >= 400 {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(ClientError::Problem {
                status,
                kind: body["type"].as_str().unwrap_or_default().to_owned(),
                detail: body["detail"].as_str().unwrap_or_default().to_owned(),
                problem: body,
            });
        }
        Ok(bytes.to_vec())
    }

    /// `GET /v1/audit/export`: the JSON Lines export, as bytes.
    pub async fn audit_export(&self, params: &[(&str, &str)]) -> Result<Vec<u8>, ClientError> {
        self.get_bytes("/v1/audit/export", params).await
    }

    pub async fn health(&self) -> Result<Value, ClientError> {
        Ok(self
            .send(self.request(reqwest::Method::GET, "/v1/health"))
            .await?
            .1)
    }
}
