//! `shell_scripts`: whether a shell script runs in strict mode (`set -euo pipefail`), and how
//! many of its lines pipe a download straight into a shell.
use serde_json::Value;

use crate::observe::{Extractor, FileKind, Input, Observation};

/// Reads `.sh` files and scripts with a shell `#!`.
pub struct ShellScripts;

impl Extractor for ShellScripts {
    fn name(&self) -> &'static str {
        "shell_scripts"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["shell.strict_mode", "shell.pipe_to_shell"]
    }

    fn describe(&self) -> &'static str {
        "Reads whether a shell script sets -e, -u and -o pipefail, and counts the lines that \
         pipe curl or wget into a shell."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        if input.file.test_only || input.file.kind != FileKind::Shell {
            return;
        }
        let text = &input.file.text;
        let subject = input.file_subject("");
        let file = &input.file.path;
        // Only a script that runs on its own (a `#!` line) has a mode to judge: a `.sh` file
        // without one is sourced or read as data (ripgrep's completion word lists).
        if text.starts_with("#!") {
            let strict = strict_line(text);
            let value = Value::Bool(strict.is_some());
            let line = strict.unwrap_or(1);
            out.push(Observation::new(
                subject.clone(),
                "shell.strict_mode",
                value,
                file,
                line,
            ));
        }
        let piped: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| pipes_download_to_shell(line))
            .map(|(i, _)| i + 1)
            .collect();
        if let Some(&first) = piped.first() {
            let count = Value::from(piped.len());
            out.push(Observation::new(
                subject,
                "shell.pipe_to_shell",
                count,
                file,
                first,
            ));
        }
    }
}

/// Which of errexit, nounset and pipefail are on.
#[derive(Default)]
struct Flags {
    errexit: bool,
    nounset: bool,
    pipefail: bool,
}

impl Flags {
    fn set_short(&mut self, flag: char, on: bool) {
        match flag {
            'e' => self.errexit = on,
            'u' => self.nounset = on,
            _ => {}
        }
    }

    fn set_long(&mut self, name: &str, on: bool) {
        match name {
            "errexit" => self.errexit = on,
            "nounset" => self.nounset = on,
            "pipefail" => self.pipefail = on,
            _ => {}
        }
    }

    fn strict(&self) -> bool {
        self.errexit && self.nounset && self.pipefail
    }
}

/// The line of the top-level `set` that completes strict mode, if one does. Flags add up
/// over several `set` lines (`set -e` then `set -uo pipefail`) and `+e` turns one off.
fn strict_line(text: &str) -> Option<usize> {
    let mut flags = Flags::default();
    for (i, line) in text.lines().enumerate() {
        // Top level: not indented into a function or a branch.
        let Some(args) = line.strip_prefix("set ") else {
            continue;
        };
        read_set(&mut flags, args);
        if flags.strict() {
            return Some(i + 1);
        }
    }
    None
}

/// Applies the options of `set <args>` to `flags`.
fn read_set(flags: &mut Flags, args: &str) {
    let args = args.split(" #").next().unwrap_or(args);
    let args = args.split([';', '&', '|']).next().unwrap_or(args);
    // How many of the next words name long options, and whether they turn them on.
    let mut long_names: Vec<bool> = Vec::new();
    for word in args.split_whitespace() {
        if !long_names.is_empty() {
            let on = long_names.remove(0);
            flags.set_long(word, on);
            continue;
        }
        if word == "--" || word == "-" {
            break; // what follows are positional parameters
        }
        let (on, cluster) = match (word.strip_prefix('-'), word.strip_prefix('+')) {
            (Some(cluster), _) => (true, cluster),
            (_, Some(cluster)) => (false, cluster),
            _ => break,
        };
        for flag in cluster.chars() {
            if flag == 'o' {
                long_names.push(on);
            } else {
                flags.set_short(flag, on);
            }
        }
    }
}

/// True when a line (not a comment) pipes `curl` or `wget` into `sh` or `bash`, directly or
/// through `sudo`.
fn pipes_download_to_shell(line: &str) -> bool {
    let line = line.trim();
    if line.starts_with('#') {
        return false;
    }
    let line = line.split(" #").next().unwrap_or(line);
    let stages = pipe_stages(line);
    let Some(download) = stages.iter().position(|s| stage_downloads(s)) else {
        return false;
    };
    stages[download + 1..].iter().any(|s| stage_is_shell(s))
}

/// The stages of a pipeline: split on `|` and `|&`, not on `||`.
fn pipe_stages(line: &str) -> Vec<&str> {
    let bytes = line.as_bytes();
    let mut stages = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let double = bytes.get(i + 1) == Some(&b'|') || (i > 0 && bytes[i - 1] == b'|');
        if b == b'|' && !double {
            stages.push(&line[start..i]);
            start = i + 1;
        }
    }
    stages.push(&line[start..]);
    stages
        .into_iter()
        .map(|s| s.strip_prefix('&').unwrap_or(s))
        .collect()
}

/// The name a command word runs (`/usr/bin/curl` → `curl`).
fn command_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn stage_downloads(stage: &str) -> bool {
    stage
        .split_whitespace()
        .any(|w| matches!(command_name(w), "curl" | "wget"))
}

/// A stage whose command is `sh` or `bash`, possibly behind `sudo` and its options.
fn stage_is_shell(stage: &str) -> bool {
    let mut words = stage.split_whitespace();
    let mut command = words.next();
    if command == Some("sudo") {
        command = words.find(|w| !w.starts_with('-'));
    }
    command.is_some_and(|w| matches!(command_name(w), "sh" | "bash"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::ShellScripts;
    use crate::extract::testing::{check, run};

    /// Checks the mode of `text` run as a script (a `#!/bin/sh` line added when it has none).
    fn strict(path: &str, text: &str, on: bool) {
        let subject = format!("repo/{path}");
        let want = [(subject.as_str(), "shell.strict_mode", json!(on))];
        let script = match text.starts_with("#!") {
            true => text.to_owned(),
            false => format!("#!/bin/sh\n{text}"),
        };
        check(&ShellScripts, path, &script, &want);
    }

    #[test]
    fn a_file_without_a_shebang_has_no_mode_to_judge() {
        check(&ShellScripts, "words.sh", "{a,b,c}\n", &[]);
        check(
            &ShellScripts,
            "lib.sh",
            "venv() {\n  python3 -m venv x\n}\n",
            &[],
        );
    }

    #[test]
    fn strict_mode_in_its_spellings() {
        strict("a.sh", "#!/bin/bash\nset -euo pipefail\n", true);
        strict(
            "a.sh",
            "#!/bin/sh\n# why\nset -e -u -o pipefail # strict\n",
            true,
        );
        strict("a.sh", "set -Eeuxo pipefail\n", true);
        strict("a.sh", "set -o errexit -o nounset -o pipefail\n", true);
        strict("a.sh", "set -e\nset -u\nset -o pipefail\n", true);
        strict("bin/run", "#!/usr/bin/env bash\nset -euo pipefail\n", true);
    }

    #[test]
    fn not_strict() {
        strict("a.sh", "#!/bin/bash\nset -e\n", false);
        strict("a.sh", "set -eu\n", false);
        strict("a.sh", "# set -euo pipefail\necho hi\n", false);
        strict("a.sh", "f() {\n  set -euo pipefail\n}\n", false);
        strict("a.sh", "set -e\nset +e\nset -uo pipefail\n", false);
        strict("a.sh", "set -- -euo pipefail\n", false);
    }

    #[test]
    fn downloads_piped_into_a_shell() {
        let text = "#!/bin/sh\nset -euo pipefail\n\
                    curl -fsSL https://example.com/install.sh | sh\n\
                    # curl https://example.com/x | bash\n\
                    wget -qO- https://example.com/y | sudo -E bash -s -- --yes\n\
                    curl -fsSL https://example.com/z | tee z.sh\n\
                    curl -fsS https://example.com/health || sh ./fallback.sh\n\
                    echo done\n";
        check(
            &ShellScripts,
            "install.sh",
            text,
            &[
                ("repo/install.sh", "shell.strict_mode", json!(true)),
                ("repo/install.sh", "shell.pipe_to_shell", json!(2)),
            ],
        );
        let found = run(&ShellScripts, "install.sh", text);
        let piped = found.iter().find(|o| o.predicate == "shell.pipe_to_shell");
        assert_eq!(piped.map(|o| o.line), Some(3));
    }

    #[test]
    fn nothing_from_test_scripts_and_other_files() {
        let text = "set -e\ncurl https://example.com/x | sh\n";
        check(&ShellScripts, "tests/fixtures/install.sh", text, &[]);
        check(&ShellScripts, "docs/install.md", text, &[]);
    }
}
