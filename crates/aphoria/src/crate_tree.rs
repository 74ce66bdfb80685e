//! Where a Rust file sits in its crate, beyond its path: crate roots a manifest names
//! (`[lib] path`, `[[bin]] path`: ripgrep's `crates/core/main.rs`), so that module paths
//! start there, and out-of-line modules declared under `#[cfg(test)]` (`#[cfg(test)] mod
//! testutil;`), whose files are test code like the declaration.

/// The directories of the crate roots a `Cargo.toml` in `dir` names in `[lib]` and `[[bin]]`.
pub fn source_roots(dir: &str, manifest: &toml::Table) -> Vec<String> {
    let lib = manifest.get("lib").into_iter();
    let bins = manifest
        .get("bin")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten();
    lib.chain(bins)
        .filter_map(|target| target.get("path")?.as_str())
        .filter_map(|path| {
            let path = path.trim_start_matches("./");
            let parent = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            let joined = [dir, parent]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>();
            (!joined.is_empty()).then(|| joined.join("/"))
        })
        .collect()
}

/// The module path of `path` when it lies under one of `roots` (the longest wins):
/// `crates/core/flags/doc/man.rs` under `crates/core` is `flags::doc::man`.
pub fn module_under(path: &str, roots: &[String]) -> Option<String> {
    let root = roots
        .iter()
        .filter(|r| path.starts_with(r.as_str()) && path.as_bytes().get(r.len()) == Some(&b'/'))
        .max_by_key(|r| r.len())?;
    let inner = path[root.len() + 1..].strip_suffix(".rs")?;
    let mut parts: Vec<&str> = inner.split('/').collect();
    if matches!(parts.last(), Some(&"mod")) || parts == ["lib"] || parts == ["main"] {
        parts.pop();
    }
    Some(parts.join("::"))
}

/// The files (and directories, ending in `/`) of the modules `text`, the Rust file at `path`,
/// declares out of line under `#[cfg(test)]`.
pub fn cfg_test_children(path: &str, text: &str) -> Vec<String> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let own = name.strip_suffix(".rs").unwrap_or(name);
    // lib.rs, main.rs and mod.rs keep their children beside them; foo.rs in foo/.
    let base = match own {
        "lib" | "main" | "mod" => dir.to_owned(),
        _ if dir.is_empty() => own.to_owned(),
        _ => format!("{dir}/{own}"),
    };
    let prefix = if base.is_empty() {
        String::new()
    } else {
        format!("{base}/")
    };
    let mut out = Vec::new();
    let mut armed = false;
    for line in text.lines().map(str::trim) {
        let rest = match line.strip_prefix("#[cfg(test)]") {
            Some(rest) => {
                armed = true;
                rest.trim()
            }
            None => line,
        };
        if rest.is_empty() || rest.starts_with("#[") || rest.starts_with("//") {
            continue; // the attribute alone, another attribute, a comment: still armed
        }
        if armed && let Some(module) = out_of_line_mod(rest) {
            out.extend([format!("{prefix}{module}.rs"), format!("{prefix}{module}/")]);
        }
        armed = false;
    }
    out
}

/// `NAME` of `mod NAME;` with any visibility, or `None`.
fn out_of_line_mod(line: &str) -> Option<&str> {
    let line = line.strip_prefix("pub").map_or(line, |rest| {
        let rest = rest.trim_start();
        match rest.strip_prefix('(') {
            Some(inner) => inner.split_once(')').map_or(rest, |(_, after)| after),
            None => rest,
        }
    });
    let name = line
        .trim_start()
        .strip_prefix("mod ")?
        .trim()
        .strip_suffix(';')?
        .trim();
    name.chars()
        .all(|c| c.is_alphanumeric() || c == '_')
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg_test_modules_out_of_line() {
        let check = |path: &str, text: &str, want: &[&str]| {
            assert_eq!(cfg_test_children(path, text), want, "{path}: {text:?}");
        };
        check(
            "crates/s/src/lib.rs",
            "#[cfg(test)]\nmod testutil;\n",
            &["crates/s/src/testutil.rs", "crates/s/src/testutil/"],
        );
        check(
            "src/net.rs",
            "#[cfg(test)] pub(crate) mod fake;\n",
            &["src/net/fake.rs", "src/net/fake/"],
        );
        check(
            "src/lib.rs",
            "#[cfg(test)]\nmod tests {\n}\nmod real;\n",
            &[],
        );
        check(
            "src/lib.rs",
            "mod real;\n#[cfg(not(test))]\nmod other;\n",
            &[],
        );
    }

    #[test]
    fn modules_start_at_the_crate_root_a_manifest_names() {
        let manifest: toml::Table = "[[bin]]\nname = \"rg\"\npath = \"crates/core/main.rs\"\n"
            .parse()
            .unwrap_or_default();
        let roots = source_roots("", &manifest);
        assert_eq!(roots, ["crates/core"]);
        assert_eq!(
            module_under("crates/core/flags/doc/man.rs", &roots).as_deref(),
            Some("flags::doc::man")
        );
        assert_eq!(
            module_under("crates/core/main.rs", &roots).as_deref(),
            Some("")
        );
        assert_eq!(module_under("crates/corex/a.rs", &roots), None);
        let lib: toml::Table = "[lib]\npath = \"lib.rs\"\n".parse().unwrap_or_default();
        assert_eq!(source_roots("crates/x", &lib), ["crates/x"]);
    }
}
