//! `GET /v1/query` answered without the router: the one route every reader calls, taken
//! through the same edge checks (`EdgeStack::run`), the same access rule and authentication
//! (`auth::authorize_then`) and the same handler body (`api::query_string`) as the router
//! takes it, without the router's per-request work around them (finding the route, cloning
//! and boxing the service of each middleware layer, the extractors).
//!
//! Invariant: a request this path takes gets the answer the router would give it, byte for
//! byte but for the request id and the date (`crates/stemedb-cli/tests/it/direct.rs` holds
//! the two side by side over one database). So it takes only what the router would route to
//! `api::query_get`: the method `GET` (the router also answers `HEAD` there, and that stays
//! with it) and the path `/v1/query` exactly. Whether the path is taken at all changes no
//! answer, only the cost: that is the benchmarks' to show (docs/benchmarks.md, "Thirty-fifth
//! session": 11 against 13 µs of server CPU a kept recency answer).
use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use crate::{AppState, EdgeStack, api, auth};

/// The route's path, and its template: the router declares the route with it (`lib.rs`), the
/// request metrics and the access table name it so.
pub(crate) const QUERY_ROUTE: &str = "/v1/query";

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

    /// Whether the direct path answers `request` (else the router does).
    pub(crate) fn takes<B>(request: &axum::http::Request<B>) -> bool {
        request.method() == Method::GET && request.uri().path() == QUERY_ROUTE
    }

    /// Answers a request that [`Direct::takes`].
    pub(crate) async fn query(self, request: Request) -> Response {
        let Self { state, stack } = self;
        let state = &state;
        stack
            .run(QUERY_ROUTE, request, |request| async move {
                auth::authorize_then(state, QUERY_ROUTE, request, |request| async move {
                    let raw = request.uri().query();
                    api::query_string(state, raw).await.into_response()
                })
                .await
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, uri: &str, taken: bool) {
        let request = axum::http::Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(())
            .unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
        assert_eq!(Direct::takes(&request), taken, "{method} {uri}");
    }

    #[test]
    fn only_a_get_of_the_query_path_is_taken() {
        check(Method::GET, "/v1/query", true);
        check(Method::GET, "/v1/query?subject=a&lens=recency", true);
        check(Method::GET, "http://localhost/v1/query?subject=a", true);
        // The router's: HEAD (answered from GET's route), other methods, other paths.
        check(Method::HEAD, "/v1/query?subject=a", false);
        check(Method::POST, "/v1/query", false);
        check(Method::GET, "/v1/query/", false);
        check(Method::GET, "/v1/queryx", false);
        check(Method::GET, "/V1/query", false);
        check(Method::GET, "/v1/%71uery", false);
        check(Method::GET, "//v1/query", false);
    }
}
