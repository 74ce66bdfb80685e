//! `toml_settings`: every setting of a TOML configuration file (not a Cargo manifest), and
//! the scope of the addresses it binds or listens on.
use std::net::IpAddr;

use serde_json::Value;

use super::support::{TomlLines, is_scalar, toml_to_json};
use crate::observe::{Extractor, FileKind, Input, Observation};

/// Key names (lowercase, `-` read as `_`) whose value is an address to bind or listen on.
const BIND_KEYS: [&str; 7] = [
    "bind",
    "listen",
    "addr",
    "address",
    "bind_address",
    "listen_address",
    "host",
];

/// Reads every scalar and array of scalars of a TOML file.
pub struct TomlSettings;

impl Extractor for TomlSettings {
    fn name(&self) -> &'static str {
        "toml_settings"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["config.value", "net.bind_ip_scope"]
    }

    fn describe(&self) -> &'static str {
        "Reads every value of a TOML configuration file, and whether the addresses it binds \
         are loopback, unspecified or other."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        if input.file.test_only || input.file.kind != FileKind::Toml {
            return;
        }
        let Some(root) = input.toml else { return };
        let walker = Walker {
            input,
            lines: TomlLines::new(&input.file.text),
        };
        let mut path = Vec::new();
        for (key, value) in root {
            path.push(key.clone());
            walker.walk(&mut path, value, out);
            path.pop();
        }
    }
}

struct Walker<'a> {
    input: &'a Input<'a>,
    lines: TomlLines,
}

impl Walker<'_> {
    /// Emits the leaves of `value`, whose key path is `path` (array elements by index).
    fn walk(&self, path: &mut Vec<String>, value: &toml::Value, out: &mut Vec<Observation>) {
        match value {
            toml::Value::Table(table) => {
                for (key, inner) in table {
                    path.push(key.clone());
                    self.walk(path, inner, out);
                    path.pop();
                }
            }
            toml::Value::Array(items) if !items.iter().all(is_scalar) => {
                for (index, inner) in items.iter().enumerate() {
                    path.push(index.to_string());
                    self.walk(path, inner, out);
                    path.pop();
                }
            }
            _ => self.leaf(path, value, out),
        }
    }

    fn leaf(&self, path: &[String], value: &toml::Value, out: &mut Vec<Observation>) {
        let Some(json) = toml_to_json(value) else {
            return; // a float JSON cannot hold
        };
        let subject = self.input.file_subject(&path.join("."));
        let line = self.lines.line(path);
        let file = &self.input.file.path;
        let scope = match (path.last(), value.as_str()) {
            (Some(key), Some(text)) if is_bind_key(key) => bind_scope(text),
            _ => None,
        };
        if let Some(scope) = scope {
            let scope = Value::from(scope);
            out.push(Observation::new(
                subject.clone(),
                "net.bind_ip_scope",
                scope,
                file,
                line,
            ));
        }
        out.push(Observation::new(subject, "config.value", json, file, line));
    }
}

fn is_bind_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    BIND_KEYS.contains(&key.as_str()) || key.ends_with("_bind") || key.ends_with("_listen")
}

/// The scope of an `ip:port`, `host:port`, `[ipv6]:port` or bare IP; `None` for anything
/// else (a URL, a bare host name, a version string).
pub fn bind_scope(text: &str) -> Option<&'static str> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip_scope(ip));
    }
    let (host, port) = text.rsplit_once(':')?;
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let host = match host.strip_prefix('[') {
        Some(inner) => return inner.strip_suffix(']')?.parse().ok().map(ip_scope),
        None => host,
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip_scope(ip));
    }
    is_host_name(host).then(|| {
        if host.eq_ignore_ascii_case("localhost") {
            "loopback"
        } else {
            "other"
        }
    })
}

fn ip_scope(ip: IpAddr) -> &'static str {
    let ip = ip.to_canonical();
    if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else {
        "other"
    }
}

/// A DNS name: labels of letters, digits and `-`, starting with a letter or digit.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            label
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{TomlSettings, bind_scope};
    use crate::extract::testing::{check, run};

    const CONFIG: &str = r#"version = "1.2.3"
started = 1979-05-27T07:32:00Z
ratio = 0.5
tags = ["a", "b"]

[server]
bind = "0.0.0.0:8080"
admin-listen = "127.0.0.1:9090"
host = "db.internal:5432"
addr = "::1"
url = "http://0.0.0.0:80"
# bind = "0.0.0.0:1"

[[servers]]
host = "10.0.0.1"
[[servers]]
host = "localhost"
port = 22

[nested]
inline = { listen = "[::]:443", n = 1 }
matrix = [[1, 2], [3]]
"#;

    #[test]
    fn values_and_bind_scopes() {
        let s = |key: &str| format!("repo/deploy/app.toml::{key}");
        let want = [
            (s("version"), "config.value", json!("1.2.3")),
            (s("started"), "config.value", json!("1979-05-27T07:32:00Z")),
            (s("ratio"), "config.value", json!(0.5)),
            (s("tags"), "config.value", json!(["a", "b"])),
            (s("server.bind"), "config.value", json!("0.0.0.0:8080")),
            (s("server.bind"), "net.bind_ip_scope", json!("unspecified")),
            (
                s("server.admin-listen"),
                "config.value",
                json!("127.0.0.1:9090"),
            ),
            (
                s("server.admin-listen"),
                "net.bind_ip_scope",
                json!("loopback"),
            ),
            (s("server.host"), "config.value", json!("db.internal:5432")),
            (s("server.host"), "net.bind_ip_scope", json!("other")),
            (s("server.addr"), "config.value", json!("::1")),
            (s("server.addr"), "net.bind_ip_scope", json!("loopback")),
            (s("server.url"), "config.value", json!("http://0.0.0.0:80")),
            (s("servers.0.host"), "config.value", json!("10.0.0.1")),
            (s("servers.0.host"), "net.bind_ip_scope", json!("other")),
            // A bare host name is not an address with a port nor an IP.
            (s("servers.1.host"), "config.value", json!("localhost")),
            (s("servers.1.port"), "config.value", json!(22)),
            (s("nested.inline.listen"), "config.value", json!("[::]:443")),
            (
                s("nested.inline.listen"),
                "net.bind_ip_scope",
                json!("unspecified"),
            ),
            (s("nested.inline.n"), "config.value", json!(1)),
            (s("nested.matrix.0"), "config.value", json!([1, 2])),
            (s("nested.matrix.1"), "config.value", json!([3])),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(s, p, v)| (s.as_str(), *p, v.clone()))
            .collect();
        check(&TomlSettings, "deploy/app.toml", CONFIG, &want);
        let found = run(&TomlSettings, "deploy/app.toml", CONFIG);
        let line = |key: &str| {
            found
                .iter()
                .find(|o| o.subject.ends_with(key))
                .map(|o| o.line)
        };
        assert_eq!(line("::server.bind"), Some(7));
        assert_eq!(line("::servers.1.host"), Some(17));
        assert_eq!(line("::nested.inline.listen"), Some(21));
    }

    #[test]
    fn nothing_from_decoys() {
        // Cargo manifests have their own extractors; test fixtures and unparsable files say
        // nothing.
        check(
            &TomlSettings,
            "Cargo.toml",
            "[package]\nname = \"x\"\n",
            &[],
        );
        check(
            &TomlSettings,
            "tests/fixtures/app.toml",
            "bind = \"0.0.0.0:1\"\n",
            &[],
        );
        check(&TomlSettings, "deploy/app.toml", "bind = \n", &[]);
        check(
            &TomlSettings,
            "deploy/empty.toml",
            "# bind = \"0.0.0.0:1\"\n[server]\n",
            &[],
        );
    }

    #[test]
    fn bind_scope_reads_only_addresses() {
        assert_eq!(bind_scope("127.0.0.2:80"), Some("loopback"));
        assert_eq!(bind_scope("localhost:80"), Some("loopback"));
        assert_eq!(bind_scope("[::ffff:127.0.0.1]:80"), Some("loopback"));
        assert_eq!(bind_scope("0.0.0.0"), Some("unspecified"));
        assert_eq!(bind_scope("::"), Some("unspecified"));
        assert_eq!(bind_scope("192.168.1.4:8080"), Some("other"));
        assert_eq!(bind_scope("1.2.3"), None);
        assert_eq!(bind_scope("localhost"), None);
        assert_eq!(bind_scope(":8080"), None);
        assert_eq!(bind_scope("http://0.0.0.0:80"), None);
        assert_eq!(bind_scope("host:port"), None);
        assert_eq!(bind_scope("a b:80"), None);
    }
}
