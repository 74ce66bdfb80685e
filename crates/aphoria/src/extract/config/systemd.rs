//! `systemd`: every setting of a systemd unit, and which sandboxing directives a service
//! turns on — read with the unit files' ini-like line grammar.
use std::collections::BTreeMap;

use serde_json::Value;

use crate::observe::{Extractor, FileKind, Input, Observation};

/// Values systemd reads as true.
const TRUE: &[&str] = &["yes", "true", "on", "1"];

/// The hardening directives, and the values that turn each on.
const HARDENING: [(&str, &[&str]); 10] = [
    ("DynamicUser", TRUE),
    ("MemoryDenyWriteExecute", TRUE),
    ("NoNewPrivileges", TRUE),
    ("PrivateDevices", TRUE),
    ("PrivateTmp", TRUE),
    ("ProtectControlGroups", TRUE),
    (
        "ProtectHome",
        &["yes", "true", "on", "1", "read-only", "tmpfs"],
    ),
    ("ProtectKernelTunables", TRUE),
    (
        "ProtectSystem",
        &["yes", "true", "on", "1", "full", "strict"],
    ),
    ("RestrictSUIDSGID", TRUE),
];

/// Reads `.service`, `.socket` and `.timer` units.
pub struct Systemd;

impl Extractor for Systemd {
    fn name(&self) -> &'static str {
        "systemd"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &["systemd.setting", "systemd.hardening"]
    }

    fn describe(&self) -> &'static str {
        "Reads every setting of a systemd unit, and the sandboxing directives a service enables."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        if input.file.test_only || input.file.kind != FileKind::SystemdUnit {
            return;
        }
        let unit = parse(&input.file.text);
        let file = &input.file.path;
        for ((section, key), (line, values)) in &unit.settings {
            let value = match values.as_slice() {
                [one] => Value::from(one.as_str()),
                many => Value::from(many.to_vec()),
            };
            let subject = input.file_subject(&format!("{section}.{key}"));
            out.push(Observation::new(
                subject,
                "systemd.setting",
                value,
                file,
                *line,
            ));
        }
        let Some(service_line) = unit.service_line else {
            return;
        };
        if file.ends_with(".service") {
            let enabled = Value::from(hardening(&unit));
            let subject = input.file_subject("");
            out.push(Observation::new(
                subject,
                "systemd.hardening",
                enabled,
                file,
                service_line,
            ));
        }
    }
}

/// A unit's settings: (section, key) → (first line, values in the order written).
#[derive(Default)]
struct Unit {
    settings: BTreeMap<(String, String), (usize, Vec<String>)>,
    /// The line of the first `[Service]` header.
    service_line: Option<usize>,
}

fn parse(text: &str) -> Unit {
    let mut unit = Unit::default();
    let mut section = String::new();
    // A setting whose value continues on the next line: its line and text so far.
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.starts_with(['#', ';']) {
            continue; // systemd skips comment lines, inside a continuation too
        }
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(body) => (body.trim_end(), true),
            None => (trimmed, false),
        };
        let (line, joined) = match pending.take() {
            Some((line, mut joined)) => {
                joined.push(' ');
                joined.push_str(body);
                (line, joined)
            }
            None => (i + 1, body.to_owned()),
        };
        if continues {
            pending = Some((line, joined));
            continue;
        }
        unit.read_line(&mut section, line, joined.trim());
    }
    if let Some((line, joined)) = pending {
        unit.read_line(&mut section, line, joined.trim());
    }
    unit
}

impl Unit {
    fn read_line(&mut self, section: &mut String, line: usize, text: &str) {
        if let Some(name) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            *section = name.trim().to_owned();
            if section == "Service" {
                self.service_line.get_or_insert(line);
            }
            return;
        }
        // Settings before any section header belong to none: systemd refuses them.
        let Some((key, value)) = text.split_once('=') else {
            return;
        };
        if section.is_empty() || key.trim().is_empty() {
            return;
        }
        let entry = self
            .settings
            .entry((section.clone(), key.trim().to_owned()))
            .or_insert((line, Vec::new()));
        entry.1.push(value.trim().to_owned());
    }

    /// The value that wins for `key` in `[Service]`: the last one written.
    fn service_value(&self, key: &str) -> Option<&str> {
        let (_, values) = self.settings.get(&("Service".to_owned(), key.to_owned()))?;
        values.last().map(String::as_str)
    }
}

/// The hardening directives `[Service]` turns on, sorted.
fn hardening(unit: &Unit) -> Vec<&'static str> {
    HARDENING
        .iter()
        .filter(|(key, on)| {
            unit.service_value(key)
                .is_some_and(|v| on.contains(&v.to_ascii_lowercase().as_str()))
        })
        .map(|(key, _)| *key)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Systemd;
    use crate::extract::testing::{check, run};

    const SERVICE: &str = "[Unit]\n\
Description=StemeDB server\n\
After=network-online.target\n\
\n\
[Service]\n\
# NoNewPrivileges=yes\n\
ExecStart=/usr/bin/stemedb serve \\\n\
    --config /etc/stemedb/config.toml\n\
ProtectSystem=strict\n\
ProtectHome=read-only\n\
PrivateTmp=no\n\
DynamicUser=true\n\
MemoryDenyWriteExecute=yes\n\
MemoryDenyWriteExecute=no\n\
ReadWritePaths=/var/lib/stemedb\n\
ReadWritePaths=/var/log/stemedb\n\
; Restart=always\n\
\n\
[Install]\n\
WantedBy=multi-user.target\n";

    #[test]
    fn settings_and_hardening_of_a_service() {
        let s = |key: &str| format!("repo/deploy/stemedb.service::{key}");
        let set = "systemd.setting";
        let want = [
            (s("Unit.Description"), set, json!("StemeDB server")),
            (s("Unit.After"), set, json!("network-online.target")),
            (
                s("Service.ExecStart"),
                set,
                json!("/usr/bin/stemedb serve --config /etc/stemedb/config.toml"),
            ),
            (s("Service.ProtectSystem"), set, json!("strict")),
            (s("Service.ProtectHome"), set, json!("read-only")),
            (s("Service.PrivateTmp"), set, json!("no")),
            (s("Service.DynamicUser"), set, json!("true")),
            (
                s("Service.MemoryDenyWriteExecute"),
                set,
                json!(["yes", "no"]),
            ),
            (
                s("Service.ReadWritePaths"),
                set,
                json!(["/var/lib/stemedb", "/var/log/stemedb"]),
            ),
            (s("Install.WantedBy"), set, json!("multi-user.target")),
            (
                "repo/deploy/stemedb.service".to_owned(),
                "systemd.hardening",
                json!(["DynamicUser", "ProtectHome", "ProtectSystem"]),
            ),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(s, p, v)| (s.as_str(), *p, v.clone()))
            .collect();
        check(&Systemd, "deploy/stemedb.service", SERVICE, &want);
        let found = run(&Systemd, "deploy/stemedb.service", SERVICE);
        let line = |key: &str| {
            found
                .iter()
                .find(|o| o.subject.ends_with(key))
                .map(|o| o.line)
        };
        assert_eq!(line("::Service.ExecStart"), Some(7));
        assert_eq!(line("::Service.ProtectSystem"), Some(9));
        assert_eq!(line("stemedb.service"), Some(5));
    }

    #[test]
    fn no_hardening_outside_services() {
        // A timer has settings but no [Service]; a service with no sandboxing has an empty
        // list.
        let text = "[Timer]\nOnCalendar=daily\n";
        check(
            &Systemd,
            "deploy/backup.timer",
            text,
            &[(
                "repo/deploy/backup.timer::Timer.OnCalendar",
                "systemd.setting",
                json!("daily"),
            )],
        );
        let text = "[Service]\nExecStart=/bin/true\n";
        check(
            &Systemd,
            "x.service",
            text,
            &[
                (
                    "repo/x.service::Service.ExecStart",
                    "systemd.setting",
                    json!("/bin/true"),
                ),
                ("repo/x.service", "systemd.hardening", json!([])),
            ],
        );
    }

    #[test]
    fn nothing_from_decoys() {
        // Only comments; settings outside any section; a test fixture; not a unit file.
        check(
            &Systemd,
            "a.service",
            "# [Service]\n; NoNewPrivileges=yes\n",
            &[],
        );
        check(&Systemd, "a.socket", "ListenStream=8080\n", &[]);
        check(&Systemd, "tests/fixtures/a.service", SERVICE, &[]);
        check(&Systemd, "deploy/a.service.md", SERVICE, &[]);
    }
}
