//! The count and duration of every answered request, by method, route and status
//! (`stemedb_http_requests_total`, `stemedb_http_request_duration_seconds`), with their
//! handles kept per thread.
//!
//! Why kept: a labelled metric looked up in the recorder's registry at each request hashed its
//! name and labels and allocated the labels; the registry's share of the server's samples under
//! winner queries went from 2.05 % to 1.4 % with the handles kept (docs/benchmarks.md,
//! twenty-fourth session). A thread looks each (method, route, status) up once and then uses
//! the handles it keeps.
//!
//! Invariants: every label takes a bounded set of values, since a series per value is kept
//! for the life of the process. The method is one of HTTP's standard methods or `other` (any
//! client may send an extension method of its own spelling), the route is a route template or
//! `unmatched`, the status is a number from 100 to 999. The handles kept are the recorder's
//! own, so the recorder is installed before any request is counted (`AppState::open_with`
//! calls `observe::handle()` first) and never drops idle series (no `idle_timeout`): a handle
//! kept from before either would count into nothing.
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
    static HANDLES_BY_ROUTE: RefCell<HashMap<String, Vec<Handles>>> =
        RefCell::new(HashMap::new());
}

/// Counts one answered request and records how long it took.
pub fn count_request(method: &'static str, route: &str, status: u16, took: Duration) {
    let counted = HANDLES_BY_ROUTE.try_with(|cell| {
        let Ok(mut by_route) = cell.try_borrow_mut() else {
            return false;
        };
        let kept = match by_route.get_mut(route) {
            Some(kept) => kept,
            None => by_route.entry(route.to_owned()).or_default(),
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
        true
    });
    if counted != Ok(true) {
        // The thread's table is gone (thread exit) or in use (never re-entered): the
        // registry's own lookup counts it.
        let handles = Handles::new(method, route, status);
        handles.requests.increment(1);
        handles.duration.record(took.as_secs_f64());
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
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
        let method = Method::from_bytes(sent.as_bytes()).expect("a method token");
        assert_eq!(method_label(&method), label, "{sent}");
    }
}
