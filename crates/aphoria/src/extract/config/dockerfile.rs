//! `dockerfile`: the base image of each stage and how it is pinned, the user the final image
//! runs as, the ports it exposes and whether it adds files from remote URLs — read with a
//! line grammar (continuations, comments, heredocs, the `escape` directive).
use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::docker_syntax::{Instruction, instructions};
use crate::observe::{Extractor, FileKind, Input, Observation};

/// Reads Dockerfiles and Containerfiles.
pub struct Dockerfile;

impl Extractor for Dockerfile {
    fn name(&self) -> &'static str {
        "dockerfile"
    }

    fn predicates(&self) -> &'static [&'static str] {
        &[
            "docker.base_image",
            "docker.base_image_pin",
            "docker.user",
            "docker.exposed_ports",
            "docker.add_remote_url",
        ]
    }

    fn describe(&self) -> &'static str {
        "Reads a Dockerfile's base images and their pinning, the final user, the exposed ports \
         and remote ADD sources."
    }

    fn extract(&self, input: &Input<'_>, out: &mut Vec<Observation>) {
        if input.file.test_only || input.file.kind != FileKind::Dockerfile {
            return;
        }
        let mut state = State::default();
        for instruction in instructions(&input.file.text) {
            state.read(input, &instruction, out);
        }
        state.finish(input, out);
    }
}

/// The final stage's user, the exposed ports and remote sources seen so far.
#[derive(Default)]
struct State {
    stages: usize,
    /// Named stages (lower-cased, as Docker compares them) and the user each ends with: a
    /// stage built on one inherits it.
    stage_users: HashMap<String, Option<(String, usize)>>,
    /// The current stage's name, lower-cased.
    current: Option<String>,
    keys: HashSet<String>,
    last_from_line: usize,
    user: Option<(String, usize)>,
    ports: BTreeSet<String>,
    ports_line: Option<usize>,
    add_remote_line: Option<usize>,
}

impl State {
    fn read(&mut self, input: &Input<'_>, instruction: &Instruction, out: &mut Vec<Observation>) {
        let line = instruction.line;
        match instruction.keyword.as_str() {
            "FROM" => self.from(input, instruction, out),
            "USER" if self.stages > 0 => {
                self.user = Some((instruction.args.clone(), line));
                if let Some(name) = &self.current {
                    self.stage_users.insert(name.clone(), self.user.clone());
                }
            }
            "EXPOSE" => {
                self.ports
                    .extend(instruction.args.split_whitespace().map(str::to_owned));
                self.ports_line.get_or_insert(line);
            }
            "ADD" if adds_remote(&instruction.args) => {
                self.add_remote_line.get_or_insert(line);
            }
            _ => {}
        }
    }

    fn from(&mut self, input: &Input<'_>, instruction: &Instruction, out: &mut Vec<Observation>) {
        let index = self.stages;
        self.stages += 1;
        self.last_from_line = instruction.line;
        let mut words = instruction
            .args
            .split_whitespace()
            .filter(|w| !w.starts_with("--"));
        let Some(image) = words.next() else { return };
        let name = match (words.next(), words.next()) {
            (Some(as_), Some(name)) if as_.eq_ignore_ascii_case("as") => Some(name),
            _ => None,
        };
        let key = format!("stage.{}", name.map_or(index.to_string(), str::to_owned));
        // A stage built on an earlier stage starts as its user; on an image, as root unless
        // the image says otherwise.
        let parent = self.stage_users.get(&image.to_lowercase()).cloned();
        self.user = parent.clone().flatten();
        self.current = name.map(str::to_lowercase);
        if let Some(name) = &self.current {
            self.stage_users.insert(name.clone(), self.user.clone());
        }
        // A stage built on an earlier stage, or on an image named by a build argument, has
        // no pin of its own to judge.
        let judged = !image.contains('$') && parent.is_none();
        if !self.keys.insert(key.clone()) {
            return; // a stage name used twice: Docker refuses the file
        }
        let subject = input.file_subject(&key);
        let file = &input.file.path;
        let image_value = Value::from(image);
        out.push(Observation::new(
            subject.clone(),
            "docker.base_image",
            image_value,
            file,
            instruction.line,
        ));
        if judged {
            let pin = Value::from(pin(image));
            out.push(Observation::new(
                subject,
                "docker.base_image_pin",
                pin,
                file,
                instruction.line,
            ));
        }
    }

    fn finish(self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let subject = input.file_subject("");
        let file = &input.file.path;
        if self.stages > 0 {
            let user = match self.user {
                Some((user, line)) => Observation::new(
                    subject.clone(),
                    "docker.user",
                    Value::from(user),
                    file,
                    line,
                ),
                // Unless the base image set one, an image with no USER runs as root.
                None => Observation::new(
                    subject.clone(),
                    "docker.user",
                    Value::from("root"),
                    file,
                    self.last_from_line,
                )
                .confidence(0.9),
            };
            out.push(user);
        }
        if let Some(line) = self.ports_line {
            let ports: Vec<String> = self.ports.into_iter().collect();
            out.push(Observation::new(
                subject.clone(),
                "docker.exposed_ports",
                Value::from(ports),
                file,
                line,
            ));
        }
        if let Some(line) = self.add_remote_line {
            out.push(Observation::new(
                subject,
                "docker.add_remote_url",
                Value::Bool(true),
                file,
                line,
            ));
        }
    }
}

/// How a base image reference is pinned.
fn pin(image: &str) -> &'static str {
    if image.eq_ignore_ascii_case("scratch") {
        return "scratch";
    }
    if image.contains('@') {
        return "digest";
    }
    // The tag follows the last `:` of the last path segment (a registry may have a port).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "tag",
        _ => "latest",
    }
}

/// True when an `ADD` copies from an `http(s)://` URL (shell or JSON form).
fn adds_remote(args: &str) -> bool {
    let words: Vec<String> = if args.starts_with('[') {
        serde_json::from_str(args).unwrap_or_default()
    } else {
        args.split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .map(str::to_owned)
            .collect()
    };
    let sources = &words[..words.len().saturating_sub(1)];
    sources.iter().any(|w| {
        let w = w.to_ascii_lowercase();
        w.starts_with("http://") || w.starts_with("https://")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Dockerfile, pin};
    use crate::extract::testing::{check, run};

    const MULTI_STAGE: &str = r#"# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM rust:1.90-bookworm AS builder
USER builder
RUN cargo build --release \
    # a comment inside a continuation
    --locked
RUN <<EOF
FROM evil:latest
USER nobody
EOF
from builder as tested
FROM gcr.io/distroless/cc@sha256:0123abcd
expose 8080 9090/tcp \
       8080
ADD https://example.com/tool.tar.gz /opt/
ADD ["http://example.com/a", "/b"]
ADD ./local /srv/
# USER app
"#;

    #[test]
    fn stages_user_ports_and_remote_adds() {
        let s = |key: &str| format!("repo/Dockerfile::{key}");
        let file = "repo/Dockerfile".to_owned();
        let want = [
            (
                s("stage.builder"),
                "docker.base_image",
                json!("rust:1.90-bookworm"),
            ),
            (s("stage.builder"), "docker.base_image_pin", json!("tag")),
            (s("stage.tested"), "docker.base_image", json!("builder")),
            (
                s("stage.2"),
                "docker.base_image",
                json!("gcr.io/distroless/cc@sha256:0123abcd"),
            ),
            (s("stage.2"), "docker.base_image_pin", json!("digest")),
            (file.clone(), "docker.user", json!("root")),
            (
                file.clone(),
                "docker.exposed_ports",
                json!(["8080", "9090/tcp"]),
            ),
            (file, "docker.add_remote_url", json!(true)),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(s, p, v)| (s.as_str(), *p, v.clone()))
            .collect();
        check(&Dockerfile, "Dockerfile", MULTI_STAGE, &want);
        let found = run(&Dockerfile, "Dockerfile", MULTI_STAGE);
        let user = found.iter().find(|o| o.predicate == "docker.user");
        assert_eq!(user.map(|o| (o.line, o.confidence)), Some((12, 0.9)));
        let ports = found.iter().find(|o| o.predicate == "docker.exposed_ports");
        assert_eq!(ports.map(|o| o.line), Some(13));
    }

    #[test]
    fn the_last_user_of_the_last_stage() {
        let text = "FROM alpine\nUSER root\nFROM debian:12 AS run\nUSER app\nuser 10001:10001\n";
        let s = |key: &str| format!("repo/deploy/app.dockerfile::{key}");
        let want = [
            (s("stage.0"), "docker.base_image", json!("alpine")),
            (s("stage.0"), "docker.base_image_pin", json!("latest")),
            (s("stage.run"), "docker.base_image", json!("debian:12")),
            (s("stage.run"), "docker.base_image_pin", json!("tag")),
            (
                "repo/deploy/app.dockerfile".to_owned(),
                "docker.user",
                json!("10001:10001"),
            ),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(s, p, v)| (s.as_str(), *p, v.clone()))
            .collect();
        check(&Dockerfile, "deploy/app.dockerfile", text, &want);
    }

    #[test]
    fn a_stage_inherits_the_user_of_the_stage_it_builds_on() {
        let text = "FROM alpine:3.20 AS base\nUSER app\nFROM base\nRUN true\n";
        let s = |key: &str| format!("repo/Dockerfile::{key}");
        let want = [
            (s("stage.base"), "docker.base_image", json!("alpine:3.20")),
            (s("stage.base"), "docker.base_image_pin", json!("tag")),
            (s("stage.1"), "docker.base_image", json!("base")),
            ("repo/Dockerfile".to_owned(), "docker.user", json!("app")),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(s, p, v)| (s.as_str(), *p, v.clone()))
            .collect();
        check(&Dockerfile, "Dockerfile", text, &want);
    }

    #[test]
    fn nothing_from_decoys() {
        let text = "FROM alpine:3.20\nUSER app\nEXPOSE 80\n";
        check(&Dockerfile, "tests/fixtures/Dockerfile", text, &[]);
        // Only comments; a file that is not a Dockerfile.
        check(
            &Dockerfile,
            "Dockerfile",
            "# FROM alpine\n# EXPOSE 80\n",
            &[],
        );
        check(&Dockerfile, "docs/Dockerfile.md", text, &[]);
    }

    #[test]
    fn pins() {
        assert_eq!(pin("scratch"), "scratch");
        assert_eq!(pin("localhost:5000/app"), "latest");
        assert_eq!(pin("localhost:5000/app:latest"), "latest");
        assert_eq!(pin("localhost:5000/app:1.2"), "tag");
        assert_eq!(pin("app:1.2@sha256:ab"), "digest");
    }
}
