//! The web console: a page and its script and style, compiled into the binary (it works
//! offline) and served at `/console/` without a key (they hold no data; every read they make
//! sends the key the person typed, as a header). Sources and the build: `console/` beside
//! this crate's `src/`, and docs/console.md.
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// What the page may load and where it may connect: only this server, no inline script or
/// style, no frames, no forms posted elsewhere. User content is set as text, never as markup
/// (console/src/dom.js), so this is the second line, not the first.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
    trusted-types 'none'";

const INDEX_HTML: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/dist/app.js");
const APP_CSS: &str = include_str!("../console/app.css");

/// The console's routes, merged beside the API (outside its authorization layer).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        // Temporary: a browser keeps a permanent redirect of `/` for good.
        .route("/", get(|| async { Redirect::temporary("/console/") }))
        .route(
            "/console",
            get(|| async { Redirect::temporary("/console/") }),
        )
        .route(
            "/console/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
}

/// One asset with the headers every console answer carries.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    page_headers(headers, CONTENT_SECURITY_POLICY);
    response
}

/// The headers of a page served to a browser (the console's, and `/docs`): its
/// Content-Security-Policy, no sniffing of types, no framing, no referrer.
pub(crate) fn page_headers(headers: &mut HeaderMap, content_security_policy: &'static str) {
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, content_security_policy),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}
