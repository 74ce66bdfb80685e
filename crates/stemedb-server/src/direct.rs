//! The two routes every client calls, answered without the router: `GET /v1/query` and
//! `POST /v1/assert`. Each is taken through the same edge checks (`EdgeStack::run`, given the
//! route's template as the router would match it: the edge's JSON content-type and body-size
//! rules and the request metrics go by it), the same access rule and authentication
//! (`auth::authorize_then`) and the same handler (the query's body `api::query_string`;
//! `api::assert_one` with its extractors under the route's `DefaultBodyLimit`) as the router
//! takes it, without the router's per-request work around them (finding the route, cloning
//! and boxing the service of each middleware layer).
//!
//! Invariant: a request this path takes gets the answer the router would give it, byte for
//! byte but for the request id and the date (`crates/stemedb-cli/tests/it/direct.rs` holds
//! the two side by side over one database). So it takes only what the router would route to
//! those handlers: the method (the router also answers `HEAD` on the query route, and that
//! stays with it) and the path exactly. Whether the path is taken at all changes no answer,
//! only the cost: that is the benchmarks' to show (docs/benchmarks.md, "Thirty-fifth
//! session": 11 against 13 µs of server CPU a kept recency answer).
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use crate::{AppState, EdgeStack, ServerConfig, api, auth};

/// The routes' paths, and their templates: the router declares each route with its constant
/// (`lib.rs`), the request metrics and the access table name them so.
pub(crate) const QUERY_ROUTE: &str = "/v1/query";
pub(crate) const ASSERT_ROUTE: &str = "/v1/assert";

/// A route the direct path answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DirectRoute {
    /// `GET /v1/query` (`api::query_get`).
    Query,
    /// `POST /v1/assert` (`api::assert_one`).
    Assert,
}

impl DirectRoute {
    fn template(self) -> &'static str {
        match self {
            DirectRoute::Query => QUERY_ROUTE,
            DirectRoute::Assert => ASSERT_ROUTE,
        }
    }
}

/// What the direct path needs: the server's state and its edge checks.
#[derive(Clone)]
pub(crate) struct Direct {
    state: AppState,
    stack: EdgeStack,
}

impl Direct {
    pub(crate) fn new(state: AppState, stack: EdgeStack) -> Self {
        Self { state, stack }
    }

    /// The route the direct path answers `request` on, if any (else the router answers it).
    pub(crate) fn takes<B>(request: &axum::http::Request<B>) -> Option<DirectRoute> {
        match (request.method(), request.uri().path()) {
            (&Method::GET, QUERY_ROUTE) => Some(DirectRoute::Query),
            (&Method::POST, ASSERT_ROUTE) => Some(DirectRoute::Assert),
            _ => None,
        }
    }

    /// Answers a request that [`Direct::takes`] on `route`.
    pub(crate) async fn answer(self, route: DirectRoute, request: Request) -> Response {
        let Self { state, stack } = self;
        let state = &state;
        let template = route.template();
        stack
            .run(Some(template), request, |request| async move {
                auth::authorize_then(state, template, request, |request| async move {
                    handle(state, route, request).await
                })
                .await
            })
            .await
    }
}

/// `POST /v1/assert`'s body limit, for the router's route (`lib.rs`) and for the direct path.
pub(crate) fn assert_body_limit(config: &ServerConfig) -> DefaultBodyLimit {
    DefaultBodyLimit::max(config.assertion_body_bytes_max)
}

/// The route's handler, as the router runs it: the query's body, and `assert_one` with its
/// extractors under the route's body limit.
async fn handle(state: &AppState, route: DirectRoute, request: Request) -> Response {
    match route {
        DirectRoute::Query => api::query_string(state, request.uri().query())
            .await
            .into_response(),
        DirectRoute::Assert => {
            let limit = assert_body_limit(&state.config);
            api::assert_one
                .layer(limit)
                .call(request, state.clone())
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, uri: &str, taken: Option<DirectRoute>) {
        let request = axum::http::Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(())
            .unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
        assert_eq!(Direct::takes(&request), taken, "{method} {uri}");
    }

    #[test]
    fn only_the_routes_own_method_and_exact_path_are_taken() {
        let (query, assert) = (Some(DirectRoute::Query), Some(DirectRoute::Assert));
        check(Method::GET, "/v1/query", query);
        check(Method::GET, "/v1/query?subject=a&lens=recency", query);
        check(Method::GET, "http://localhost/v1/query?subject=a", query);
        check(Method::POST, "/v1/assert", assert);
        check(Method::POST, "/v1/assert?x=1", assert);
        // The router's: HEAD (answered from GET's route), other methods, other paths.
        check(Method::HEAD, "/v1/query?subject=a", None);
        check(Method::POST, "/v1/query", None);
        check(Method::GET, "/v1/assert", None);
        check(Method::PUT, "/v1/assert", None);
        check(Method::POST, "/v1/assert/batch", None);
        check(Method::GET, "/v1/query/", None);
        check(Method::GET, "/v1/queryx", None);
        check(Method::GET, "/V1/query", None);
        check(Method::GET, "/v1/%71uery", None);
        check(Method::GET, "//v1/query", None);
    }
}
