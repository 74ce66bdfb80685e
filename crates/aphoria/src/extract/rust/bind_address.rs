//! `bind_address`: socket addresses written as string literals (`"0.0.0.0:8080"`,
//! `"localhost:3000"`, `"[::1]:443"`) and whether each is loopback, unspecified or other.
use std::net::SocketAddr;

use syn::{Attribute, Expr};

use super::syntax::{attr_tokens, clap_field_attrs, token_str};
use super::tally::Tally;
use super::visit::{Cx, Hook, Node, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const ADDRESS: &str = "net.bind_address";
const SCOPE: &str = "net.bind_ip_scope";

/// Finds socket-address literals in code and clap defaults outside tests.
pub struct BindAddress;

/// The scope of `s` when the whole string is a socket address: an IP (IPv6 in brackets) or
/// `localhost`, a colon and a port 0–65535. Anything else (`"12:30"`, a URL) is `None`.
fn scope_of(s: &str) -> Option<&'static str> {
    let ip = match s.parse::<SocketAddr>() {
        Ok(addr) => addr.ip(),
        Err(_) => {
            let (host, port) = s.rsplit_once(':')?;
            let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
            let localhost = host.eq_ignore_ascii_case("localhost");
            return (localhost && port_ok && port.parse::<u16>().is_ok()).then_some("loopback");
        }
    };
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else {
        "other"
    })
}

#[derive(Default)]
struct Finder {
    tally: Tally,
}

impl Finder {
    fn literal(&mut self, item: &str, lit: &syn::LitStr) {
        let text = lit.value();
        if let Some(scope) = scope_of(&text) {
            let line = line_of(lit.span());
            self.tally.one_or_list(item, ADDRESS, line, &text);
            self.tally.one_or_list(item, SCOPE, line, scope);
        }
    }
}

impl Hook for Finder {
    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        if let Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) = expr
        {
            self.literal(cx.item, lit);
        }
    }

    /// A clap default (`#[arg(default_value = "127.0.0.1:8080")]`) is the address a binary
    /// binds when not told otherwise.
    fn item(&mut self, cx: &Cx<'_>, _attrs: &[Attribute], node: Node<'_>) {
        for (_, attr) in clap_field_attrs(&node) {
            for lit in attr_tokens(attr).iter().filter_map(token_str) {
                self.literal(cx.item, &lit);
            }
        }
    }
}

impl Extractor for BindAddress {
    fn name(&self) -> &'static str {
        "bind_address"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[ADDRESS, SCOPE]
    }

    fn describe(&self) -> &'static str {
        "Finds string literals that are socket addresses (IP or localhost with a port) and classifies them as loopback, unspecified or other."
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

    use super::{BindAddress, scope_of};
    use crate::extract::testing::check;

    #[test]
    fn only_whole_socket_addresses_have_a_scope() {
        assert_eq!(scope_of("127.0.0.1:8080"), Some("loopback"));
        assert_eq!(scope_of("[::1]:443"), Some("loopback"));
        assert_eq!(scope_of("LocalHost:0"), Some("loopback"));
        assert_eq!(scope_of("0.0.0.0:80"), Some("unspecified"));
        assert_eq!(scope_of("[::]:80"), Some("unspecified"));
        assert_eq!(scope_of("10.1.2.3:65535"), Some("other"));
        for no in [
            "12:30",
            "10:30:00",
            "localhost:65536",
            "localhost:+80",
            "localhost:",
            "::1:80",
            "http://127.0.0.1:80",
            "127.0.0.1",
            "example.com:80",
            "127.0.0.1:80 ",
            "1.2.3:4",
        ] {
            assert_eq!(scope_of(no), None, "{no}");
        }
    }

    const CODE: &str = r#"
        pub const DEFAULT_ADDR: &str = "127.0.0.1:7410";
        pub fn serve(public: bool) {
            let addr = if public { "0.0.0.0:8080" } else { "localhost:8080" };
            let again = "0.0.0.0:8080";
            println!("listening on {}", addr);
            log("[::]:9000");
        }
        pub fn clock() -> &'static str { let t = "12:30"; let u = "10:30:00"; t }
        pub fn peer() { connect("10.0.0.7:5432") }
        #[derive(Parser)]
        pub struct Args {
            /// Where to listen, e.g. 0.0.0.0:80.
            #[arg(long, default_value = "127.0.0.1:3000")]
            listen: String,
            #[arg(long, default_value = "12:00")]
            at: String,
        }
        #[cfg(test)]
        mod tests {
            const A: &str = "127.0.0.1:1";
            fn f() { bind("0.0.0.0:1") }
        }
    "#;

    #[test]
    fn finds_bind_addresses_per_item() {
        let e = BindAddress;
        check(
            &e,
            "src/net.rs",
            CODE,
            &[
                (
                    "repo/demo/net::DEFAULT_ADDR",
                    "net.bind_address",
                    json!("127.0.0.1:7410"),
                ),
                (
                    "repo/demo/net::DEFAULT_ADDR",
                    "net.bind_ip_scope",
                    json!("loopback"),
                ),
                (
                    "repo/demo/net::serve",
                    "net.bind_address",
                    json!(["0.0.0.0:8080", "[::]:9000", "localhost:8080"]),
                ),
                (
                    "repo/demo/net::serve",
                    "net.bind_ip_scope",
                    json!(["loopback", "unspecified"]),
                ),
                (
                    "repo/demo/net::peer",
                    "net.bind_address",
                    json!("10.0.0.7:5432"),
                ),
                ("repo/demo/net::peer", "net.bind_ip_scope", json!("other")),
                (
                    "repo/demo/net::Args",
                    "net.bind_address",
                    json!("127.0.0.1:3000"),
                ),
                (
                    "repo/demo/net::Args",
                    "net.bind_ip_scope",
                    json!("loopback"),
                ),
            ],
        );
        check(&e, "examples/x.rs", CODE, &[]);
        check(
            &e,
            "src/lib.rs",
            "/// Binds 0.0.0.0:80.\n#[doc = \"0.0.0.0:80\"]\nfn f() {}",
            &[],
        );
    }
}
