//! `http_routes`: the HTTP methods each route path answers, read from router builders
//! (`.route("/x", get(h).post(p))` in axum, `.route("/x", web::get().to(h))` in actix).
use syn::Expr;

use super::syntax::{call_path, str_lit};
use super::tally::Tally;
use super::visit::{Cx, Hook, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const METHODS: &str = "http.route_methods";

const VERBS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

/// Lists the HTTP methods of each route path a file declares outside tests.
pub struct HttpRoutes;

/// The verb a router fn or method names (`get`, `post_service` → `GET`, `POST`).
fn verb(name: &str) -> Option<String> {
    let name = name.strip_suffix("_service").unwrap_or(name);
    VERBS.contains(&name).then(|| name.to_uppercase())
}

/// The verbs of a route's handler: the method-router chain only (`get(a).post(b)`,
/// `web::get().to(h)`, `.layer(..)`), never calls inside the handlers themselves.
fn verbs(handler: &Expr) -> Vec<String> {
    let mut found = Vec::new();
    let mut at = handler;
    loop {
        match at {
            Expr::MethodCall(m) => {
                found.extend(verb(&m.method.to_string()));
                at = &m.receiver;
            }
            Expr::Call(_) => {
                let name = call_path(at)
                    .and_then(|p| p.segments.last())
                    .map(|s| s.ident.to_string());
                found.extend(name.as_deref().and_then(verb));
                return found;
            }
            Expr::Paren(p) => at = &p.expr,
            _ => return found,
        }
    }
}

#[derive(Default)]
struct Finder {
    tally: Tally,
}

impl Hook for Finder {
    fn expr(&mut self, _cx: &Cx<'_>, expr: &Expr) {
        let Expr::MethodCall(call) = expr else { return };
        let [path, handler] = call.args.iter().collect::<Vec<_>>()[..] else {
            return;
        };
        if call.method != "route" {
            return;
        }
        let Some(lit) = str_lit(path).filter(|l| l.value().starts_with('/')) else {
            return;
        };
        // Routes belong to the module, not the fn that builds the router.
        let item = format!("route:{}", lit.value());
        for verb in verbs(handler) {
            self.tally.list(&item, METHODS, line_of(lit.span()), &verb);
        }
    }
}

impl Extractor for HttpRoutes {
    fn name(&self) -> &'static str {
        "http_routes"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[METHODS]
    }

    fn describe(&self) -> &'static str {
        "Lists the HTTP methods each route path answers, read from .route(path, get(..).post(..)) router builders outside tests."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let mut finder = Finder::default();
        if walk_input(input, &mut finder) {
            finder.tally.emit(input, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::HttpRoutes;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        pub fn router(state: State) -> Router {
            Router::new()
                .route("/v1/assert", post(assert_handler))
                .route("/v1/query", get(query).post(query_post).layer(limit()))
                .route("/health", routing::get(|| async { cache.get("k"); "ok" }))
                .route("/files", get_service(ServeDir::new("f")))
                .with_state(state)
        }
        pub fn more(r: Router) -> Router {
            r.route("/v1/assert", axum::routing::put(replace))
        }
        pub fn actix(cfg: &mut ServiceConfig) {
            cfg.route("/legacy", web::delete().to(remove));
        }
        pub fn not_routes(r: Router, m: Map) {
            r.route("relative", get(x));
            r.route("/nested", api_router());
            m.route(PATH, get(x));
            m.get("/v1/other");
        }
        #[cfg(test)]
        mod tests {
            fn f(r: Router) { r.route("/test", get(t)); }
        }
    "#;

    #[test]
    fn lists_methods_per_route() {
        let e = HttpRoutes;
        let list = |l: &[&str]| json!(l);
        check(
            &e,
            "src/http.rs",
            CODE,
            &[
                (
                    "repo/demo/http::route:/v1/assert",
                    "http.route_methods",
                    list(&["POST", "PUT"]),
                ),
                (
                    "repo/demo/http::route:/v1/query",
                    "http.route_methods",
                    list(&["GET", "POST"]),
                ),
                (
                    "repo/demo/http::route:/health",
                    "http.route_methods",
                    list(&["GET"]),
                ),
                (
                    "repo/demo/http::route:/files",
                    "http.route_methods",
                    list(&["GET"]),
                ),
                (
                    "repo/demo/http::route:/legacy",
                    "http.route_methods",
                    list(&["DELETE"]),
                ),
            ],
        );
        check(&e, "tests/http.rs", CODE, &[]);
    }
}
