//! Finds import cycles between the top-level modules of a crate, read from its `src` files as
//! text: a test helper, included by each crate's test with
//! `#[path = "../../../tests/support/module_cycles.rs"] mod module_cycles;`.
//!
//! A file's module is its path under `src` (`truth/read.rs` is `truth::read`); submodules are
//! folded into their top-level module (`truth`), and the crate root (`lib.rs`, `main.rs`) is left
//! out. A module depends on every module it names through `crate::…` or `super::…` (in `use`
//! lines and in expressions; comments are skipped). A name the root re-exports (`crate::Store`,
//! from `pub use store::Store`) counts as the module it comes from.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it names.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The dependency graph of the crate whose sources are under `src`.
pub fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    collect_rs_files(src, &mut files);
    let mut modules: Vec<(Vec<String>, String)> = Vec::new();
    for file in &files {
        let Ok(rel) = file.strip_prefix(src) else {
            continue;
        };
        let mut path: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if path.first().is_some_and(|c| c == "bin") {
            continue;
        }
        if path.last().is_some_and(|c| c == "mod") || path == ["lib"] || path == ["main"] {
            path.pop();
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        modules.push((path, strip_comments(&text)));
    }
    let tops: BTreeSet<String> = modules
        .iter()
        .filter_map(|(path, _)| path.first().cloned())
        .collect();
    let reexports = root_reexports(&modules, &tops);
    let resolve = |name: &str| -> Option<String> {
        if tops.contains(name) {
            Some(name.to_owned())
        } else {
            reexports.get(name).cloned()
        }
    };
    let mut graph: Graph = tops.iter().map(|t| (t.clone(), BTreeSet::new())).collect();
    for (path, text) in &modules {
        let Some(top) = path.first() else {
            continue;
        };
        let mut named = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            if is_path_start(text, at) {
                for name in first_names(&text[at + "crate::".len()..]) {
                    named.extend(resolve(&name));
                }
            }
        }
        for (at, _) in text.match_indices("super::") {
            if !is_path_start(text, at) {
                continue;
            }
            let mut rest = &text[at + "super::".len()..];
            let mut depth = path.len().saturating_sub(1);
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                depth = depth.saturating_sub(1);
            }
            match path.get(..depth).and_then(|p| p.first()) {
                Some(parent) => {
                    named.insert(parent.clone());
                }
                None => {
                    for name in first_names(rest) {
                        named.extend(resolve(&name));
                    }
                }
            }
        }
        named.remove(top);
        graph.entry(top.clone()).or_default().extend(named);
    }
    graph
}

/// A cycle in `graph`, as the modules along it with the first repeated at the end.
pub fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(next, graph, marks, stack) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New
            && let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

/// The graph as lines `module -> a, b`, for a failure message.
pub fn describe(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(module, deps)| {
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            format!("{module} -> {}\n", deps.join(", "))
        })
        .collect()
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Names the crate root re-exports (`pub use store::{Store, StoreOptions};`), with the
/// top-level module each comes from.
fn root_reexports(
    modules: &[(Vec<String>, String)],
    tops: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some((_, root)) = modules.iter().find(|(path, _)| path.is_empty()) else {
        return out;
    };
    for statement in root.split(';') {
        let Some(at) = statement.find("use ") else {
            continue;
        };
        let mut names = identifiers(&statement[at + "use ".len()..]);
        let Some(first) = names.next() else {
            continue;
        };
        let first = if first == "crate" || first == "self" {
            names.next().unwrap_or_default()
        } else {
            first
        };
        if tops.contains(&first) {
            for name in names {
                out.insert(name, first.clone());
            }
        }
    }
    out
}

/// The first name of each path that `rest` starts: `X` in `X::…`, or each item's first name
/// in `{X, y::Z}`.
fn first_names(rest: &str) -> Vec<String> {
    let Some(inner) = rest.strip_prefix('{') else {
        return identifiers(rest).take(1).collect();
    };
    let mut depth = 0usize;
    let mut end = inner.len();
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                end = i;
                break;
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    let mut out = Vec::new();
    let (mut depth, mut item_start) = (0usize, true);
    let mut word = String::new();
    for c in inner[..end].chars().chain([',']) {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if item_start && depth == 0 && !word.is_empty() {
            out.push(std::mem::take(&mut word));
            item_start = false;
        }
        word.clear();
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => item_start = true,
            _ => {}
        }
    }
    out
}

fn identifiers(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty() && w.chars().next().is_some_and(|c| !c.is_ascii_digit()))
        .map(str::to_owned)
}

/// `crate::` or `super::` at `at` begins a path (not `$crate::`, not the end of a longer name).
fn is_path_start(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '$'))
}

/// The text without `//` and `/* */` comments (string literals are not recognised: a `//` in
/// one drops the rest of its line, which can only hide a name, never invent one).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let line_at = rest.find("//");
        let block_at = rest.find("/*");
        match (line_at, block_at) {
            (Some(l), b) if b.is_none_or(|b| l < b) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |n| &rest[l + n..]);
            }
            (_, Some(b)) => {
                out.push_str(&rest[..b]);
                rest = rest[b..].find("*/").map_or("", |e| &rest[b + e + 2..]);
            }
            _ => {
                out.push_str(rest);
                rest = "";
            }
        }
    }
    out
}

/// Panics naming the cycle (and printing the graph) when the modules under `src` form one;
/// `modules_min` guards against a path that finds nothing.
pub fn assert_no_cycle(src: &Path, modules_min: usize) {
    let graph = module_graph(src);
    assert!(
        graph.len() >= modules_min,
        "only {} modules found under {}:\n{}",
        graph.len(),
        src.display(),
        describe(&graph)
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "module cycle: {}\n\nthe graph:\n{}",
            cycle.join(" -> "),
            describe(&graph)
        );
    }
}
