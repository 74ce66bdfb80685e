//! `env_config`: the environment variables code reads (`std::env::var("X")`, `env!("X")`,
//! `option_env!("X")`) and those a clap struct takes its options from (`#[arg(env = "X")]`).
use proc_macro2::TokenTree;
use syn::{Attribute, Expr, Macro};

use super::syntax::{
    attr_tokens, call_path, clap_field_attrs, first_str_token, idents, macro_name, str_lit,
    token_str,
};
use super::tally::Tally;
use super::visit::{Cx, Hook, Node, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const ENV_VAR: &str = "config.env_var";

/// Lists the environment variables read per fn (per struct for clap options) outside tests.
pub struct EnvConfig;

/// The variable a clap attribute's `env` names: `env = "X"`, or bare `env`, which clap
/// derives from the field's name in capitals. With the line to report.
fn clap_env(field: Option<&syn::Ident>, attr: &Attribute) -> Option<(String, usize)> {
    let tokens = attr_tokens(attr);
    let at = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i == "env"))?;
    match (tokens.get(at + 1), tokens.get(at + 2)) {
        (Some(TokenTree::Punct(p)), Some(value)) if p.as_char() == '=' => {
            let lit = token_str(value)?;
            Some((lit.value(), line_of(lit.span())))
        }
        (None, _) | (Some(TokenTree::Punct(_)), _) => {
            let field = field?;
            Some((field.to_string().to_uppercase(), line_of(field.span())))
        }
        _ => None,
    }
}

#[derive(Default)]
struct Finder {
    tally: Tally,
}

impl Hook for Finder {
    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        let Some(path) = call_path(expr) else { return };
        let names = idents(path);
        let [.., module, func] = names.as_slice() else {
            return;
        };
        if module != "env" || !matches!(func.as_str(), "var" | "var_os") {
            return;
        }
        let Expr::Call(call) = expr else { return };
        if let Some(lit) = call.args.first().and_then(str_lit) {
            self.tally
                .list(cx.item, ENV_VAR, line_of(lit.span()), &lit.value());
        }
    }

    fn mac(&mut self, cx: &Cx<'_>, mac: &Macro) {
        if !matches!(macro_name(mac).as_str(), "env" | "option_env") {
            return;
        }
        if let Some(lit) = first_str_token(&mac.tokens) {
            self.tally
                .list(cx.item, ENV_VAR, line_of(lit.span()), &lit.value());
        }
    }

    fn item(&mut self, cx: &Cx<'_>, _attrs: &[Attribute], node: Node<'_>) {
        for (field, attr) in clap_field_attrs(&node) {
            if let Some((name, line)) = clap_env(field, attr) {
                self.tally.list(cx.item, ENV_VAR, line, &name);
            }
        }
    }
}

impl Extractor for EnvConfig {
    fn name(&self) -> &'static str {
        "env_config"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[ENV_VAR]
    }

    fn describe(&self) -> &'static str {
        "Lists environment variables read with std::env::var, env!/option_env! per fn, and clap env options per struct, outside tests."
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

    use super::EnvConfig;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        pub fn settings() -> Settings {
            let home = std::env::var("HOME").ok();
            let dir = env::var_os("DATA_DIR");
            let level = env::var("LOG_LEVEL").or_else(|_| std::env::var("HOME"));
            let built = env!("CARGO_PKG_VERSION");
            let sha = option_env!("GIT_SHA");
            Settings
        }
        pub fn dynamic(key: &str) {
            let a = std::env::var(key);
            let b = var("NOT_ENV");
            let c = config::var("NOT_ENV_EITHER");
            let d = std::env::args();
        }
        #[derive(Parser)]
        pub struct Args {
            #[arg(long, env = "STEMEDB_ADDR", default_value = "127.0.0.1:7410")]
            addr: String,
            #[arg(long, env)]
            data_dir: PathBuf,
            #[clap(long)]
            verbose: bool,
            #[serde(rename = "env")]
            other: u8,
        }
        #[cfg(test)]
        mod tests {
            fn f() { std::env::var("TEST_ONLY").ok(); }
        }
    "#;

    #[test]
    fn lists_env_vars() {
        let e = EnvConfig;
        let list = |l: &[&str]| json!(l);
        check(
            &e,
            "src/cli.rs",
            CODE,
            &[
                (
                    "repo/demo/cli::settings",
                    "config.env_var",
                    list(&[
                        "CARGO_PKG_VERSION",
                        "DATA_DIR",
                        "GIT_SHA",
                        "HOME",
                        "LOG_LEVEL",
                    ]),
                ),
                (
                    "repo/demo/cli::Args",
                    "config.env_var",
                    list(&["DATA_DIR", "STEMEDB_ADDR"]),
                ),
            ],
        );
        check(&e, "tests/cli.rs", CODE, &[]);
    }
}
