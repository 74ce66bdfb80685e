//! `process_spawn`: the programs code runs with `Command::new`, and whether it hands a
//! command line to a shell (`sh -c`), where quoting mistakes become injections.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use syn::visit::Visit;
use syn::{Expr, UseTree};

use super::syntax::{call_path, idents, str_lit, token_str};
use super::tally::Tally;
use super::visit::{Cx, Hook, walk_input};
use crate::observe::{Extractor, Input, Observation, line_of};

const SPAWNS: &str = "process.spawns";
const SHELL: &str = "process.shell";

const SHELLS: [&str; 4] = ["sh", "bash", "zsh", "dash"];

/// Lists spawned programs and shell command lines per fn outside tests.
pub struct ProcessSpawn;

/// `-c`, alone or in a cluster of short options (`-ec`, `-lc`).
fn is_command_flag(arg: &str) -> bool {
    let Some(flags) = arg.strip_prefix('-') else {
        return false;
    };
    flags.contains('c') && flags.chars().all(|c| c.is_ascii_lowercase())
}

/// True when an `.args(..)` argument lists a `-c` flag: an array, a reference to one, or
/// `vec![..]`.
fn lists_command_flag(arg: &Expr) -> bool {
    match arg {
        Expr::Array(a) => a
            .elems
            .iter()
            .filter_map(str_lit)
            .any(|l| is_command_flag(&l.value())),
        Expr::Reference(r) => lists_command_flag(&r.expr),
        Expr::Macro(m) => m
            .mac
            .tokens
            .clone()
            .into_iter()
            .filter_map(|t| token_str(&t))
            .any(|l| is_command_flag(&l.value())),
        _ => false,
    }
}

#[derive(Default)]
struct Finder {
    tally: Tally,
    /// Items that start a shell, with the line of the first.
    shells: BTreeMap<String, usize>,
    /// Items that pass `-c`.
    command_flags: BTreeSet<String>,
    /// The file imports clap's `Command`, so a bare `Command::new` builds a CLI.
    clap_command: bool,
}

impl Finder {
    /// `Command::new(program)`, at `line`.
    fn spawn(&mut self, item: &str, program: &Expr, line: usize) {
        let program = str_lit(program).map_or_else(|| "<dynamic>".to_owned(), |l| l.value());
        let base = program.rsplit('/').next().unwrap_or(&program);
        if SHELLS.contains(&base) {
            self.shells.entry(item.to_owned()).or_insert(line);
        }
        self.tally.list(item, SPAWNS, line, &program);
    }

    fn method_call(&mut self, item: &str, call: &syn::ExprMethodCall) {
        let [arg] = call.args.iter().collect::<Vec<_>>()[..] else {
            return;
        };
        let flag = match call.method.to_string().as_str() {
            "arg" => str_lit(arg).is_some_and(|l| is_command_flag(&l.value())),
            "args" => lists_command_flag(arg),
            _ => false,
        };
        if flag {
            self.command_flags.insert(item.to_owned());
        }
    }
}

/// True when `path` is a process `Command::new`: qualified under a `process` module, or bare
/// in a file that does not import clap's `Command` (a CLI definition, not a child process).
fn is_process_command(path: &syn::Path, clap_command: bool) -> bool {
    let names = idents(path);
    let [prefix @ .., ty, ctor] = names.as_slice() else {
        return false;
    };
    if ty != "Command" || ctor != "new" {
        return false;
    }
    match prefix {
        [] => !clap_command,
        [first, .., last] | [first @ last] => last == "process" || first == "async_process",
    }
}

/// True when a `use` in the file imports `Command` (or everything) from clap.
fn imports_clap_command(file: &syn::File) -> bool {
    struct Uses(bool);
    impl<'ast> Visit<'ast> for Uses {
        fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
            self.0 |= tree_imports(&u.tree, false);
        }
    }
    fn tree_imports(tree: &UseTree, under_clap: bool) -> bool {
        match tree {
            UseTree::Path(p) => tree_imports(&p.tree, under_clap || p.ident == "clap"),
            UseTree::Name(n) => under_clap && n.ident == "Command",
            UseTree::Rename(r) => under_clap && r.ident == "Command",
            UseTree::Glob(_) => under_clap,
            UseTree::Group(g) => g.items.iter().any(|t| tree_imports(t, under_clap)),
        }
    }
    let mut uses = Uses(false);
    uses.visit_file(file);
    uses.0
}

impl Hook for Finder {
    fn expr(&mut self, cx: &Cx<'_>, expr: &Expr) {
        match expr {
            Expr::Call(call) if call.args.len() == 1 => {
                let clap = self.clap_command;
                let Some(path) = call_path(expr).filter(|p| is_process_command(p, clap)) else {
                    return;
                };
                let line = path.segments.last().map_or(1, |s| line_of(s.ident.span()));
                if let Some(program) = call.args.first() {
                    self.spawn(cx.item, program, line);
                }
            }
            Expr::MethodCall(call) => self.method_call(cx.item, call),
            _ => {}
        }
    }
}

impl Extractor for ProcessSpawn {
    fn name(&self) -> &'static str {
        "process_spawn"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[SPAWNS, SHELL]
    }

    fn describe(&self) -> &'static str {
        "Lists the programs each fn outside tests runs with Command::new, and whether it runs a shell with -c."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let mut finder = Finder {
            clap_command: input.rust.is_some_and(imports_clap_command),
            ..Finder::default()
        };
        if !walk_input(input, &mut finder) {
            return;
        }
        for (item, line) in &finder.shells {
            if finder.command_flags.contains(item) {
                finder.tally.value(item, SHELL, *line, json!(true));
            }
        }
        finder.tally.emit(input, out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::ProcessSpawn;
    use crate::extract::testing::check;

    const CODE: &str = r#"
        pub fn deploy(script: &str) {
            Command::new("sh").arg("-c").arg(script).status().ok();
            std::process::Command::new("git").args(["pull", "--ff-only"]).status().ok();
        }
        pub fn strict(script: &str) {
            tokio::process::Command::new("/bin/bash").args(&["-ec", script]);
        }
        pub fn run(prog: &Path) {
            Command::new(prog).arg("-v").spawn().ok();
            Command::new("bash").arg("script.sh");
        }
        pub fn lookalikes() {
            let c = Command::default();
            let s = Shell::new("sh");
            other.arg("-c");
        }
        #[cfg(test)]
        mod tests {
            fn f() { Command::new("sh").arg("-c").arg("true"); }
        }
    "#;

    #[test]
    fn lists_spawned_programs() {
        let e = ProcessSpawn;
        let list = |l: &[&str]| json!(l);
        check(
            &e,
            "src/ops.rs",
            CODE,
            &[
                (
                    "repo/demo/ops::deploy",
                    "process.spawns",
                    list(&["git", "sh"]),
                ),
                ("repo/demo/ops::deploy", "process.shell", json!(true)),
                (
                    "repo/demo/ops::strict",
                    "process.spawns",
                    list(&["/bin/bash"]),
                ),
                ("repo/demo/ops::strict", "process.shell", json!(true)),
                (
                    "repo/demo/ops::run",
                    "process.spawns",
                    list(&["<dynamic>", "bash"]),
                ),
            ],
        );
        check(&e, "examples/ops.rs", CODE, &[]);
        let cli = r#"
            use clap::{Arg, Command};
            pub fn cli() -> Command { Command::new("git").arg(Arg::new("c")) }
            pub fn run() { std::process::Command::new("ls"); clap::Command::new("x"); }
        "#;
        let want = [("repo/demo/cli::run", "process.spawns", json!(["ls"]))];
        check(&e, "src/cli.rs", cli, &want);
    }
}
