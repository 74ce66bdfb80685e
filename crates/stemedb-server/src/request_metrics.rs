//! The count and duration of every answered request, by method, route and status
//! (`stemedb_http_requests_total`, `stemedb_http_request_duration_seconds`), with their
//! handles kept per thread.
//!
//! Why kept: a labelled metric looked up in the recorder's registry at each request hashed its
//! name and labels and allocated the labels, about 3 % of the server's CPU under queries
//! (docs/benchmarks.md, twenty-fourth session). A thread looks each (method, route, status) up
//! once and then uses the handles it keeps.
//!
//! Invariant: every label takes a bounded set of values, since a series per value is kept for
//! the life of the process. The method is one of HTTP's standard methods or `other` (any
//! client may send an extension method of its own spelling), the route is a route template or
//! `unmatched`, the status is a number below 1000.
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use axum::http::Method;
use metrics::{Counter, Histogram, counter, histogram};

/// A request's method as a label: a standard method's name, or `other`.
pub fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// The handles of one (method, status) of a route.
struct Handles {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

impl Handles {
    fn new(method: &'static str, route: &str, status: u16) -> Handles {
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        Handles {
            method,
            status,
            requests: counter!("stemedb_http_requests_total", &labels),
            duration: histogram!("stemedb_http_request_duration_seconds", &labels),
        }
    }
}

thread_local! {
    /// Route → the handles of each (method, status) this thread has answered on it.
    static KEPT: RefCell<HashMap<String, Vec<Handles>>> = RefCell::new(HashMap::new());
}

/// Counts one answered request and records how long it took.
pub fn count_request(method: &'static str, route: &str, status: u16, took: Duration) {
    KEPT.with_borrow_mut(|by_route| {
        if !by_route.contains_key(route) {
            by_route.insert(route.to_owned(), Vec::new());
        }
        let Some(kept) = by_route.get_mut(route) else {
            return;
        };
        let at = match kept
            .iter()
            .position(|h| h.method == method && h.status == status)
        {
            Some(at) => at,
            None => {
                kept.push(Handles::new(method, route, status));
                kept.len() - 1
            }
        };
        if let Some(handles) = kept.get(at) {
            handles.requests.increment(1);
            handles.duration.record(took.as_secs_f64());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        #[rustfmt::skip]
        let cases: [(&str, &str); 6] = [
            ("GET", "GET"),
            ("POST", "POST"),
            ("OPTIONS", "OPTIONS"),
            ("FOOBAR", "other"),
            ("get", "other"),
            ("GETX", "other"),
        ];
        for (sent, label) in cases {
            check(sent, label);
        }
    }

    fn check(sent: &str, label: &str) {
        let method = Method::from_bytes(sent.as_bytes()).unwrap_or(Method::GET);
        assert_eq!(method_label(&method), label, "{sent}");
    }
}
