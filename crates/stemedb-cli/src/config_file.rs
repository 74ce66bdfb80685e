//! The optional TOML configuration file of `stemedb serve` and `stemedb config show`.
//! Every setting is a `serve` flag; the file may give any of them by the flag's name with
//! underscores (`request_timeout_ms = 30000`). Precedence: command-line flag, then the
//! `STEMEDB_*` environment variable, then the file, then the default. The file's values are
//! turned into flags only where neither of the first two is given, so clap stays the one place
//! that parses and checks every setting.
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::Cli;

const CONFIG_FLAG: &str = "--config";
const CONFIG_ENV: &str = "STEMEDB_CONFIG";
/// Settings whose values are never printed.
const SECRET_MARKERS: [&str; 5] = ["api_key", "master_key", "secret", "password", "token"];

/// The `serve` argument definitions (shared by `config show`).
fn serve_command() -> clap::Command {
    Cli::command()
        .find_subcommand("serve")
        .cloned()
        .unwrap_or_else(|| clap::Command::new("serve"))
}

/// The config file named by `--config` / `STEMEDB_CONFIG`, if any.
fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut iter = argv.iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == CONFIG_FLAG {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV).map(PathBuf::from)
}

/// Whether this invocation takes serve settings: `serve` or `config show`.
fn takes_serve_settings(argv: &[OsString]) -> bool {
    let words: Vec<String> = argv
        .iter()
        .skip(1)
        .take(2)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    words.first().is_some_and(|w| w == "serve")
        || (words.first().is_some_and(|w| w == "config")
            && words.get(1).is_some_and(|w| w == "show"))
}

/// Adds the file's settings as flags where the command line and environment are silent.
/// Returns the new argv and the names of the settings that came from the file.
pub fn apply(argv: Vec<OsString>) -> Result<(Vec<OsString>, BTreeSet<String>)> {
    let mut from_file = BTreeSet::new();
    if !takes_serve_settings(&argv) {
        return Ok((argv, from_file));
    }
    let Some(path) = config_path(&argv) else {
        return Ok((argv, from_file));
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let command = serve_command();
    let mut out = argv;
    for (key, value) in table {
        let long = key.replace('_', "-");
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config")
        else {
            bail!(
                "{}: unknown setting {key:?} (settings are the serve flags, e.g. request_timeout_ms)",
                path.display()
            );
        };
        let on_command_line = out.iter().any(|a| {
            let a = a.to_string_lossy();
            a == format!("--{long}") || a.starts_with(&format!("--{long}="))
        });
        let in_environment = arg
            .get_env()
            .is_some_and(|env| std::env::var_os(env).is_some());
        if on_command_line || in_environment {
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!(
                "{}: {key} must be a string, number or boolean, not {}",
                path.display(),
                other.type_str()
            ),
        };
        out.push(OsString::from(format!("--{long}")));
        out.push(OsString::from(text));
        from_file.insert(key);
    }
    Ok((out, from_file))
}

#[derive(clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(clap::Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration of `serve` (same flags, environment and file), with
    /// where each value came from. Secrets are masked.
    Show {
        #[command(flatten)]
        serve: crate::serve::ServeArgs,
        #[arg(long)]
        json: bool,
    },
}

/// Prints every serve setting: name, effective value, source.
pub fn show(argv: &[OsString], from_file: &BTreeSet<String>) -> Result<()> {
    let matches = Cli::command().get_matches_from(argv.to_vec());
    let Some(("config", config)) = matches.subcommand() else {
        bail!("not a config command");
    };
    let Some(("show", show)) = config.subcommand() else {
        bail!("not config show");
    };
    let as_json = show.get_flag("json");
    let mut rows = Vec::new();
    for arg in serve_command().get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        if id == "help" || id == "version" {
            continue;
        }
        let name = long.replace('-', "_");
        let raw: Vec<String> = show
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let value = if SECRET_MARKERS.iter().any(|m| name.contains(m)) && !raw.is_empty() {
            "****".to_owned()
        } else {
            let shown: Vec<String> = raw
                .iter()
                .map(|v| stemedb_cluster::redact_userinfo(v))
                .collect();
            shown.join(",")
        };
        let source = if from_file.contains(&name) {
            "file"
        } else {
            match show.value_source(id) {
                Some(clap::parser::ValueSource::CommandLine) => "flag",
                Some(clap::parser::ValueSource::EnvVariable) => "environment",
                Some(clap::parser::ValueSource::DefaultValue) => "default",
                _ => "unset",
            }
        };
        let env = arg
            .get_env()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        rows.push((name, value, source, env));
    }
    if as_json {
        let doc: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(n, v, s, e)| {
                (
                    n.clone(),
                    serde_json::json!({"value": v, "source": s, "env": e}),
                )
            })
            .collect();
        println!("{}", serde_json::Value::Object(doc));
    } else {
        for (name, value, source, env) in rows {
            println!("{name:<30} {value:<24} {source:<12} {env}");
        }
    }
    Ok(())
}
