//! The edge of the API, before routing and authorization: refuses a request whose framing is
//! ambiguous, that repeats a header meant to appear once, that names a `Host` the server does
//! not answer to (DNS rebinding), that a browser page of a foreign origin sends to change
//! state (CORS is deny by default), that sends a JSON route anything but `application/json`,
//! or that announces a body over its route's limit (at once, before any `100 Continue`).
//! It answers CORS preflights, and turns a bare 404/405 from below into a problem.
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{ApiError, ServerConfig, problem};

/// Headers a request may carry at most once.
const SINGLE_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "content-type",
    "authorization",
    "x-api-key",
    "origin",
];
const ALLOW_METHODS: &str = "GET, POST, PATCH";
const ALLOW_HEADERS: &str = "content-type, x-api-key, authorization, x-request-id";
const EXPOSE_HEADERS: &str =
    "x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset";
const PREFLIGHT_MAX_AGE_S: &str = "600";
/// Longest `Host` or `Origin` value echoed in a problem's detail.
const ECHO_CHARS_MAX: usize = 200;

/// Routes that read a JSON body: (method, route, bounded by the batch limit rather than the
/// assertion limit). A route taking a body must be listed; the http_strict test checks every
/// OpenAPI operation with a request body against this.
const JSON_BODY_ROUTES: &[(&str, &str, bool)] = &[
    ("POST", "/v1/assert", false),
    ("POST", "/v1/assert/batch", true),
    ("POST", "/v1/query", false),
    ("POST", "/v1/retract", false),
    ("POST", "/v1/vote", false),
    ("POST", "/v1/trust", false),
    ("POST", "/v1/gold-standard", false),
    ("POST", "/v1/epochs", false),
    ("POST", "/v1/quarantine/{id}/approve", false),
    ("POST", "/v1/quarantine/{id}/reject", false),
    ("POST", "/v1/admin/curators", false),
    ("POST", "/v1/admin/trust-roots", false),
    ("POST", "/v1/api-keys", false),
    ("PATCH", "/v1/api-keys/{id}", false),
    ("POST", "/v1/admin/backup/verified", false),
];

/// Marks a request whose head had both `Content-Length` and `Transfer-Encoding` (found below
/// hyper, which drops the length: `framing.rs`).
#[derive(Clone, Copy, Debug)]
pub struct AmbiguousFraming;

/// The edge policy of one listener.
pub struct Edge {
    config: Arc<ServerConfig>,
    /// The listener is on a loopback address: only loopback names and the allow-list.
    loopback_bind: bool,
    /// `allowed_hosts`, as host names (lower case, no port).
    allowed_hosts: Vec<String>,
    /// `cors_origins`, lower case, without a trailing `/`.
    cors_origins: Vec<String>,
}

/// What the edge decided before the request goes on.
enum Verdict {
    /// Route it; `cors`: the allowed origin to name in the answer.
    Pass { cors: Option<HeaderValue> },
    /// Answer now (a refusal or a preflight).
    Answer(Response),
}

impl Edge {
    pub fn new(config: Arc<ServerConfig>, loopback_bind: bool) -> Edge {
        let allowed_hosts = config.allowed_hosts.iter().map(|h| host_name(h)).collect();
        let cors_origins = config
            .cors_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .collect();
        Edge {
            config,
            loopback_bind,
            allowed_hosts,
            cors_origins,
        }
    }

    /// `route`: the request's route template, as the router matched it (`None`: no route).
    fn decide(&self, route: Option<&str>, request: &Request) -> Result<Verdict, ApiError> {
        if request.extensions().get::<AmbiguousFraming>().is_some() {
            return Err(ApiError::AmbiguousFraming);
        }
        let headers = request.headers();
        if let Some(name) = SINGLE_HEADERS
            .into_iter()
            .find(|name| headers.get_all(*name).iter().nth(1).is_some())
        {
            return Err(ApiError::DuplicateHeader(name));
        }
        self.check_host(request)?;
        let cors = match self.check_origin(request)? {
            Origin::Preflight(origin) => return Ok(Verdict::Answer(preflight(origin))),
            Origin::Cors(origin) => Some(origin),
            Origin::Plain => None,
        };
        let json_route = route.and_then(|path| {
            JSON_BODY_ROUTES
                .iter()
                .find(|(m, p, _)| *p == path && *m == request.method().as_str())
        });
        if json_route.is_some() {
            check_json(headers)?;
        }
        let limit_bytes = if json_route.is_some_and(|(_, _, batch)| *batch) {
            self.config.batch_body_bytes_max
        } else {
            self.config.assertion_body_bytes_max
        };
        let announced = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|bytes| bytes > limit_bytes as u64) {
            return Err(ApiError::PayloadTooLarge { limit_bytes });
        }
        Ok(Verdict::Pass { cors })
    }

    /// Refuses a `Host` (or absolute-form authority) the server does not answer to.
    fn check_host(&self, request: &Request) -> Result<(), ApiError> {
        let from_header = request.headers().get(header::HOST).map(|v| v.to_str());
        let from_uri = request.uri().authority().map(|a| Ok(a.as_str()));
        for host in from_header.into_iter().chain(from_uri) {
            let Ok(host) = host else {
                return Err(ApiError::HostNotAllowed("(not ASCII)".into()));
            };
            let name = host_name(host);
            let listed = self.allowed_hosts.contains(&name);
            let allowed = if self.loopback_bind {
                listed || is_loopback_name(&name)
            } else {
                listed || self.allowed_hosts.is_empty()
            };
            if !allowed {
                return Err(ApiError::HostNotAllowed(echo(host)));
            }
        }
        Ok(())
    }

    /// Applies the CORS policy to a request's `Origin`.
    fn check_origin(&self, request: &Request) -> Result<Origin, ApiError> {
        let headers = request.headers();
        let Some(value) = headers.get(header::ORIGIN) else {
            return Ok(Origin::Plain);
        };
        let origin = value.to_str().unwrap_or_default().to_ascii_lowercase();
        let listed = self.cors_origins.contains(&origin);
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let allowed = listed || host.is_some_and(|host| same_origin(&origin, host));
        let method = request.method();
        let preflight = method == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let safe = [Method::GET, Method::HEAD].contains(method) && !preflight;
        match (allowed, preflight) {
            (true, true) => Ok(Origin::Preflight(value.clone())),
            (true, false) if listed => Ok(Origin::Cors(value.clone())),
            (true, false) => Ok(Origin::Plain),
            (false, _) if safe => Ok(Origin::Plain),
            (false, _) => Err(ApiError::OriginNotAllowed(echo(
                value.to_str().unwrap_or("(not ASCII)"),
            ))),
        }
    }

    /// Whether answers vary with `Origin` (some origins get CORS headers, others do not).
    fn varies_by_origin(&self) -> bool {
        !self.cors_origins.is_empty()
    }
}

/// How a request stands with respect to CORS.
enum Origin {
    /// No `Origin`, or the server's own, or a foreign one reading: route it, no CORS headers.
    Plain,
    /// A configured origin: route it and name it in the answer.
    Cors(HeaderValue),
    /// A preflight from an allowed origin: answer it here.
    Preflight(HeaderValue),
}

/// Decides, lets `inner` answer, and shapes the answer.
pub async fn guard<F, Fut>(edge: &Edge, route: Option<&str>, request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let cors = match edge.decide(route, &request) {
        Ok(Verdict::Pass { cors }) => cors,
        Ok(Verdict::Answer(response)) => return response,
        Err(error) => return problem::into_response(&error),
    };
    // The URI shares the request's buffer: no copy unless a 404 names its path below.
    let uri = request.uri().clone();
    let mut response = inner(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        match response.status() {
            StatusCode::NOT_FOUND => {
                response = problem::into_response(&ApiError::NoRoute(uri.path().to_owned()));
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                response = problem::into_response(&ApiError::MethodNotAllowed);
            }
            _ => {}
        }
    }
    let headers = response.headers_mut();
    if edge.varies_by_origin() {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
    if let Some(origin) = cors {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    response
}

/// The answer to an allowed preflight.
fn preflight(origin: HeaderValue) -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE_S),
            ),
            (header::VARY, HeaderValue::from_static("origin")),
        ],
    )
        .into_response()
}

/// Refuses a body declared as anything but `application/json` (parameters allowed).
fn check_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers.get(header::CONTENT_TYPE);
    let media = value
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim());
    match media {
        Some(media) if media.eq_ignore_ascii_case("application/json") => Ok(()),
        Some(_) => Err(ApiError::UnsupportedMediaType(echo(
            value.and_then(|v| v.to_str().ok()).unwrap_or("(not ASCII)"),
        ))),
        None => Err(ApiError::UnsupportedMediaType("no content-type".into())),
    }
}

/// The host name of an authority (`name[:port]`, `[v6]:port`): lower case, without port,
/// brackets or a trailing dot.
fn host_name(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_owned();
    }
    let name = match authority.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => authority.as_str(),
    };
    name.trim_end_matches('.').to_owned()
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `origin` (lower case) is the server's own as the request names it in `host`.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let host = host.trim().to_ascii_lowercase();
    let strip = |a: &str| a.strip_suffix(default_port).unwrap_or(a).to_owned();
    !authority.contains('/') && strip(authority) == strip(&host)
}

/// A client-sent value, bounded for a problem's detail.
fn echo(value: &str) -> String {
    value.chars().take(ECHO_CHARS_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_and_origins() {
        assert_eq!(host_name("LocalHost:8080"), "localhost");
        assert_eq!(host_name("[::1]:80"), "::1");
        assert_eq!(host_name("example.org."), "example.org");
        assert!(is_loopback_name("127.9.9.9") && is_loopback_name("::1"));
        assert!(!is_loopback_name("127.0.0.1.evil.example"));
        assert!(same_origin("http://localhost:80", "localhost"));
        assert!(same_origin("https://db.example:443", "db.example"));
        assert!(!same_origin("https://db.example:8443", "db.example"));
        assert!(!same_origin("null", "localhost"));
    }
}
