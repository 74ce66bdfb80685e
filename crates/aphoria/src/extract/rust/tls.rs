//! `tls`: the TLS protocol versions code pins, and code that turns certificate verification
//! off (`danger_accept_invalid_certs(true)`, a rustls custom verifier, `SslVerifyMode::NONE`).
use std::collections::BTreeMap;

use serde_json::json;
use syn::Expr;

use super::syntax::idents;
use super::tally::Tally;
use super::visit::{Cx, Hook, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const VERSIONS: &str = "tls.protocol_versions";
const VERIFICATION: &str = "tls.cert_verification";

/// The setters that replace rustls's certificate verifier once `.dangerous()` is called.
const VERIFIER_SETTERS: [&str; 2] = [
    "set_certificate_verifier",
    "with_custom_certificate_verifier",
];

/// Reads pinned TLS versions and disabled certificate verification per fn outside tests.
pub struct Tls;

/// The TLS version a path names (`rustls::version::TLS13`, `ProtocolVersion::TLSv1_2`,
/// openssl's `SslVersion::TLS1_3`).
fn version_of(names: &[String]) -> Option<&'static str> {
    let [.., ty, name] = names else { return None };
    match (ty.as_str(), name.as_str()) {
        ("version", "TLS12") | ("ProtocolVersion", "TLSv1_2") | ("SslVersion", "TLS1_2") => {
            Some("1.2")
        }
        ("version", "TLS13") | ("ProtocolVersion", "TLSv1_3") | ("SslVersion", "TLS1_3") => {
            Some("1.3")
        }
        _ => None,
    }
}

fn is_true(expr: &Expr) -> bool {
    matches!(expr, Expr::Lit(syn::ExprLit { lit: syn::Lit::Bool(b), .. }) if b.value)
}

#[derive(Default)]
struct Finder {
    tally: Tally,
    /// Per item: the line of a `.dangerous()` call, and whether a verifier setter was seen.
    dangerous: BTreeMap<String, (Option<usize>, bool)>,
}

impl Finder {
    fn method_call(&mut self, item: &str, call: &syn::ExprMethodCall) {
        let method = call.method.to_string();
        let line = line_of(call.method.span());
        let args: Vec<&Expr> = call.args.iter().collect();
        match (method.as_str(), args.as_slice()) {
            ("danger_accept_invalid_certs" | "danger_accept_invalid_hostnames", [arg])
                if is_true(arg) =>
            {
                self.tally
                    .value(item, VERIFICATION, line, json!("disabled"));
            }
            ("dangerous", []) => {
                let seen = self.dangerous.entry(item.to_owned()).or_default();
                seen.0 = seen.0.or(Some(line));
            }
            (m, [_]) if VERIFIER_SETTERS.contains(&m) => {
                self.dangerous.entry(item.to_owned()).or_default().1 = true;
            }
            _ => {}
        }
    }
}

impl Hook for Finder {
    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        match expr {
            Expr::MethodCall(call) => self.method_call(cx.item, call),
            Expr::Path(p) => {
                let names = idents(&p.path);
                let line = p
                    .path
                    .segments
                    .last()
                    .map_or(1, |s| line_of(s.ident.span()));
                if let Some(version) = version_of(&names) {
                    self.tally.list(cx.item, VERSIONS, line, version);
                }
                if names.ends_with(&["SslVerifyMode".to_owned(), "NONE".to_owned()]) {
                    self.tally
                        .value(cx.item, VERIFICATION, line, json!("disabled"));
                }
            }
            _ => {}
        }
    }
}

impl Extractor for Tls {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[VERSIONS, VERIFICATION]
    }

    fn describe(&self) -> &'static str {
        "Reads the TLS versions each fn pins and reports certificate verification disabled (accept-invalid flags, custom rustls verifiers, SslVerifyMode::NONE)."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let mut finder = Finder::default();
        if !walk_input(input, &mut finder) {
            return;
        }
        // `.dangerous()` alone only exposes the options; replacing the verifier disables it.
        for (item, (line, setter)) in std::mem::take(&mut finder.dangerous) {
            if let (Some(line), true) = (line, setter) {
                finder
                    .tally
                    .value(&item, VERIFICATION, line, json!("disabled"));
            }
        }
        finder.tally.emit(input, out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Tls;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        pub fn server_config() -> ServerConfig {
            ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13, &version::TLS12])
        }
        pub fn insecure_client() -> reqwest::Client {
            reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap()
        }
        pub fn custom_verifier(cfg: &mut ClientConfig) {
            cfg.dangerous().set_certificate_verifier(Arc::new(NoVerify));
        }
        pub fn openssl(b: &mut SslConnectorBuilder) {
            b.set_verify(SslVerifyMode::NONE);
            b.set_min_proto_version(Some(SslVersion::TLS1_2));
        }
        pub fn secure_client() -> reqwest::Client {
            reqwest::Client::builder().danger_accept_invalid_certs(false).build().unwrap()
        }
        pub fn only_dangerous(cfg: &mut ClientConfig) {
            let d = cfg.dangerous();
            let v = SslVerifyMode::PEER;
            let name = "TLS13";
        }
        #[cfg(test)]
        mod tests {
            fn f() { b.danger_accept_invalid_certs(true); }
        }
    "#;

    #[test]
    fn reads_tls_settings_per_fn() {
        let e = Tls;
        check(
            &e,
            "src/tls.rs",
            CODE,
            &[
                (
                    "repo/demo/tls::server_config",
                    "tls.protocol_versions",
                    json!(["1.2", "1.3"]),
                ),
                (
                    "repo/demo/tls::insecure_client",
                    "tls.cert_verification",
                    json!("disabled"),
                ),
                (
                    "repo/demo/tls::custom_verifier",
                    "tls.cert_verification",
                    json!("disabled"),
                ),
                (
                    "repo/demo/tls::openssl",
                    "tls.cert_verification",
                    json!("disabled"),
                ),
                (
                    "repo/demo/tls::openssl",
                    "tls.protocol_versions",
                    json!(["1.2"]),
                ),
            ],
        );
        check(&e, "tests/tls.rs", CODE, &[]);
    }
}
