//! `stemedb mcp`: a Model Context Protocol server on stdin and stdout, so that an LLM agent can
//! assert claims, query them through a lens with the lens's explanation, ask the skeptic,
//! follow provenance, retract, and ask what was known at a time, on a running StemeDB server.
//!
//! The transport is MCP's stdio one: JSON-RPC 2.0, one message per line; stdout carries
//! nothing else (diagnostics go to stderr). The methods a tools-only server needs are served:
//! `initialize`, `ping`, `tools/list`, `tools/call`; notifications are read and dropped. A
//! tool's failure (a refusal by the server, a bad argument) is a tool result with `isError`,
//! worded for the model; only a malformed request is a JSON-RPC error. Writes are signed here
//! with `--key` as `--agent`; without a key they go unsigned and the server signs them
//! custodially, which needs an API key bound to the agent (docs/security.md).
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use stemedb::SystemClock;
use stemedb::core::{Clock, SecretKey};
use stemedb_client::Client;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::mcp_aphoria::AphoriaTools;
use crate::truth_cmds::{fetch_provenance, short, skeptic_text, tree_text};
use crate::{ServerArgs, keyfile};

/// Protocol revisions this server speaks, newest first; a client asking for another gets the
/// newest, as the specification says.
const PROTOCOL_VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];
/// Groups a query tool answer lists before it says how many more there are.
const GROUPS_SHOWN_MAX: usize = 20;

#[derive(clap::Args)]
pub struct McpArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Key file to sign writes with (`stemedb keygen`). Without it, writes are unsigned and
    /// the server signs them custodially for an API key bound to the agent.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The agent the model writes as (needed with --key).
    #[arg(long)]
    agent: Option<String>,
    /// Also offer Aphoria's tools (verify, suggest, coverage, claims) over the repository at
    /// this path, with its embedded store (docs/aphoria.md).
    #[arg(long)]
    aphoria_root: Option<PathBuf>,
    /// Longest JSON-RPC message (one line) read from stdin, in bytes; a longer one is answered
    /// with an error and skipped, never held whole.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    line_bytes_max: usize,
}

struct Tools {
    client: Client,
    key: Option<SecretKey>,
    agent: Option<String>,
    aphoria: Option<AphoriaTools>,
}

pub async fn run(args: McpArgs) -> Result<()> {
    let key = args.key.as_deref().map(keyfile::load).transpose()?;
    if key.is_some() && args.agent.is_none() {
        bail!("--key needs --agent: the agent id the model writes as");
    }
    let tools = Tools {
        client: args.server.client()?,
        key,
        agent: args.agent,
        aphoria: args.aphoria_root.map(|root| AphoriaTools { root }),
    };
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut stdout = tokio::io::stdout();
    while let Some(line) = next_line(&mut stdin, args.line_bytes_max)
        .await
        .context("reading stdin")?
    {
        let reply = match line {
            Line::Text(line) if line.trim().is_empty() => continue,
            Line::Text(line) => tools.handle(&line).await,
            Line::TooLong => Some(rpc_error(
                Value::Null,
                -32600,
                &format!(
                    "invalid request: a message longer than {} bytes (--line-bytes-max)",
                    args.line_bytes_max
                ),
            )),
            Line::NotUtf8 => Some(rpc_error(Value::Null, -32700, "parse error: not UTF-8")),
        };
        if let Some(reply) = reply {
            let mut bytes = serde_json::to_vec(&reply)?;
            bytes.push(b'\n');
            stdout.write_all(&bytes).await.context("writing stdout")?;
            stdout.flush().await.context("writing stdout")?;
        }
    }
    Ok(())
}

/// One line of stdin, read with a bound.
enum Line {
    Text(String),
    /// Longer than the bound: skipped up to its end, never held whole.
    TooLong,
    NotUtf8,
}

/// The next line of `reader` (without its newline), reading at most `bytes_max` of it; `None`
/// at the end.
async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    bytes_max: usize,
) -> std::io::Result<Option<Line>> {
    let mut bytes = Vec::new();
    let limit = u64::try_from(bytes_max)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    if (&mut *reader)
        .take(limit)
        .read_until(b'\n', &mut bytes)
        .await?
        == 0
    {
        return Ok(None);
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    } else if bytes.len() > bytes_max {
        // Past the bound: what is left of the line is read a bounded piece at a time, dropped.
        loop {
            bytes.clear();
            let read = (&mut *reader)
                .take(limit)
                .read_until(b'\n', &mut bytes)
                .await?;
            if read == 0 || bytes.last() == Some(&b'\n') {
                return Ok(Some(Line::TooLong));
            }
        }
    }
    Ok(Some(
        String::from_utf8(bytes).map_or(Line::NotUtf8, Line::Text),
    ))
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

impl Tools {
    /// The reply to one message; none for a notification.
    async fn handle(&self, line: &str) -> Option<Value> {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            return Some(rpc_error(Value::Null, -32700, "parse error: not JSON"));
        };
        if !message.is_object() {
            // Batches (arrays) are not part of the 2025-06-18 revision; say so rather than
            // leave a client waiting.
            let message = "invalid request: one JSON-RPC object per line (no batches)";
            return Some(rpc_error(Value::Null, -32600, message));
        }
        let (Some(method), Some(id)) = (message["method"].as_str(), message.get("id")) else {
            // A notification (no id), or a response to nothing we asked: nothing to answer.
            return None;
        };
        let id = id.clone();
        let params = &message["params"];
        let result = match method {
            "initialize" => initialize(params),
            "ping" => json!({}),
            "tools/list" => json!({"tools": self.tool_list()}),
            "tools/call" => match self.call(params).await {
                Some(result) => result,
                None => return Some(rpc_error(id, -32602, "unknown tool")),
            },
            _ => {
                return Some(rpc_error(
                    id,
                    -32601,
                    &format!("method not found: {method}"),
                ));
            }
        };
        Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
    }

    /// A tool's result (`None`: no such tool).
    async fn call(&self, params: &Value) -> Option<Value> {
        let empty = Map::new();
        let args = params["arguments"].as_object().unwrap_or(&empty);
        let name = params["name"].as_str()?;
        let aphoria = match &self.aphoria {
            Some(tools) => tools.call(name, args).await,
            None => None,
        };
        let outcome = match name {
            _ if aphoria.is_some() => aphoria?,
            "assert" => self.assert(args).await,
            "query" => self.query(args).await,
            "skeptic" => self.skeptic(args).await,
            "provenance" => self.provenance(args).await,
            "retract" => self.retract(args).await,
            _ => return None,
        };
        let (text, is_error) = match outcome {
            Ok(text) => (text, false),
            Err(e) => (format!("{e:#}"), true),
        };
        Some(json!({"content": [{"type": "text", "text": text}], "isError": is_error}))
    }

    /// StemeDB's tools, and Aphoria's when a repository was named.
    fn tool_list(&self) -> Value {
        let mut list = tool_list();
        if let (Some(_), Value::Array(items)) = (&self.aphoria, &mut list) {
            items.extend(AphoriaTools::tool_list());
        }
        list
    }

    /// A write: signed here, or unsigned for the server to sign custodially.
    async fn write(&self, path: &str, body: Map<String, Value>) -> Result<Value> {
        let wire = match &self.key {
            Some(key) => {
                let mut body = body;
                body.insert("public_key".into(), json!(key.public_key().to_hex()));
                stemedb_client::sign(body, key)?
            }
            None => Value::Object(body),
        };
        let (_, answer) = self.client.post_json(path, &wire).await?;
        Ok(answer)
    }

    /// A control or assertion body with this session's agent, valid from now.
    /// Without an agent the server picks the one agent the API key is bound to.
    fn body(&self, subject: &str, predicate: &str, value: Value) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("subject".into(), json!(subject));
        body.insert("predicate".into(), json!(predicate));
        body.insert("value".into(), value);
        body.insert("timestamp".into(), json!(SystemClock.now().to_rfc3339()));
        if let Some(agent) = &self.agent {
            body.insert("agent_id".into(), json!(agent));
        }
        body
    }

    async fn assert(&self, args: &Map<String, Value>) -> Result<String> {
        let value = args.get("value").cloned().context("`value` is required")?;
        let mut body = self.body(text(args, "subject")?, text(args, "predicate")?, value);
        for field in [
            "confidence",
            "sources",
            "provenance",
            "timestamp",
            "derived_from",
        ] {
            if let Some(v) = args.get(field).filter(|v| !v.is_null()) {
                body.insert(field.to_owned(), v.clone());
            }
        }
        let answer = self.write("/v1/assert", body).await?;
        let verb = if answer["duplicate"] == true {
            "already stored"
        } else {
            "stored"
        };
        Ok(format!(
            "{verb}: assertion {} (log sequence {}). Cite this id to retract it or to follow \
             its provenance.",
            answer["id"].as_str().unwrap_or("?"),
            answer["sequence"]
        ))
    }

    async fn query(&self, args: &Map<String, Value>) -> Result<String> {
        let mut params = vec![("subject", text(args, "subject")?.to_owned())];
        for name in ["predicate", "lens", "as_of", "known_at"] {
            if let Some(v) = args.get(name).and_then(Value::as_str) {
                params.push((name, v.to_owned()));
            }
        }
        for flag in ["include_retracted", "include_superseded"] {
            if args.get(flag) == Some(&Value::Bool(true)) {
                params.push((flag, "true".to_owned()));
            }
        }
        let sent: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = self.client.query(&sent).await?;
        Ok(groups_text(&answer))
    }

    async fn skeptic(&self, args: &Map<String, Value>) -> Result<String> {
        let mut params = vec![
            ("subject", text(args, "subject")?),
            ("predicate", text(args, "predicate")?),
        ];
        for name in ["as_of", "known_at"] {
            match args.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::String(v)) => params.push((name, v)),
                Some(other) => bail!("{name} must be an RFC 3339 time string, not {other}"),
            }
        }
        skeptic_text(self.client.get_json("/v1/skeptic", &params).await?)
    }

    async fn provenance(&self, args: &Map<String, Value>) -> Result<String> {
        let id = text(args, "id")?;
        let as_of = args.get("as_of").and_then(Value::as_str);
        Ok(tree_text(&fetch_provenance(&self.client, id, as_of).await?))
    }

    async fn retract(&self, args: &Map<String, Value>) -> Result<String> {
        let target = text(args, "target")?;
        let mut value = json!({"reason": text(args, "reason")?});
        if args.get("cascade") == Some(&Value::Bool(true)) {
            value["cascade"] = json!(true);
        }
        let body = self.body(target, "stemedb:retracts", value);
        let answer = self.write("/v1/retract", body).await?;
        Ok(format!(
            "retraction {} (log sequence {}): {} assertion(s) retracted. Queries leave them out \
             unless include_retracted is true.",
            answer["id"].as_str().unwrap_or("?"),
            answer["sequence"],
            answer["retracted_count"]
        ))
    }
}

fn text<'a>(args: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    match args.get(name).and_then(Value::as_str) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => bail!("`{name}` is required (a non-empty string)"),
    }
}

fn initialize(params: &Value) -> Value {
    let asked = params["protocolVersion"].as_str().unwrap_or_default();
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .unwrap_or(&PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "stemedb", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "StemeDB keeps signed claims (assertions): a subject such as \
            drug/aspirin/dosage has a predicate such as recommended_mg with a value, from an \
            agent, with a confidence and sources. Claims are never overwritten: conflicting \
            ones stand side by side and a lens picks the answer when you read. Use `query` to \
            read (it returns the winner, why it won and how contested the group is), \
            `skeptic` before relying on a contested answer, `provenance` to see what an answer \
            rests on, `assert` to record what you found (with sources), and `retract` to take \
            back a claim of yours. Every answer carries ids; cite them."
    })
}

/// The tools, with descriptions written for a model choosing among them.
fn tool_list() -> Value {
    let string = |d: &str| json!({"type": "string", "description": d});
    let time = "RFC 3339 UTC time, e.g. 2026-01-31T00:00:00Z";
    json!([
        {"name": "assert",
         "description": "Record a claim: subject has predicate = value. Use it for something you found and can source. It is signed and kept for good; a later claim does not overwrite it (both stand; lenses decide).",
         "inputSchema": {"type": "object", "required": ["subject", "predicate", "value"], "properties": {
            "subject": string("What the claim is about, as a path: drug/aspirin/dosage"),
            "predicate": string("The property claimed: recommended_mg"),
            "value": {"description": "The value (any JSON: number, string, object)"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1, "description": "How sure you are (default 1)"},
            "sources": {"type": "array", "items": {"type": "string"}, "description": "Subjects of the sources it rests on, e.g. source/PMID-123; a retracted source takes the claim along"},
            "provenance": string("Free text: how you got it"),
            "timestamp": string(&format!("When the claim became true (valid time), {time}; default now"))}}},
        {"name": "query",
         "description": "Read what is believed about a subject: for each (subject, predicate) group, the winning value under a lens, why it won, how contested the group is, and the other candidates. Pass known_at to ask what was known at a past time, as_of for what was true then.",
         "inputSchema": {"type": "object", "required": ["subject"], "properties": {
            "subject": string("An exact subject, or a prefix ending in /* (drug/*)"),
            "predicate": string("Only this predicate"),
            "lens": {"type": "string", "enum": ["evidence", "recency", "authority", "consensus", "conflict", "layered"], "description": "evidence (default): votes weighted by each agent's accuracy earned from all its claims, copies not counted twice; recency: newest claim; authority: most trusted agent; consensus: most weight; conflict: shows disagreement; layered: gold standard, then authority, then consensus"},
            "known_at": string(&format!("Answer as the store knew it then (transaction time), {time}")),
            "as_of": string(&format!("Only claims valid by then (valid time), {time}")),
            "include_retracted": {"type": "boolean", "description": "Let retracted claims take part"},
            "include_superseded": {"type": "boolean", "description": "Let superseded claims take part, and every claim of an agent (by default only its latest counts)"}}}},
        {"name": "skeptic",
         "description": "Before relying on an answer, ask how much one group disagrees: its clusters of values with their share of weight and supporters, outliers, and whether it counts as disputed.",
         "inputSchema": {"type": "object", "required": ["subject", "predicate"], "properties": {
            "subject": string("The exact subject"), "predicate": string("The predicate"),
            "known_at": string(&format!("The group as the store knew it then (transaction time), {time}")),
            "as_of": string(&format!("Only claims valid by then (valid time), {time}"))}}},
        {"name": "provenance",
         "description": "What an assertion rests on: the claims it was derived from, down to its cited sources, with whether each signature verifies and whether a source was retracted.",
         "inputSchema": {"type": "object", "required": ["id"], "properties": {
            "id": string("The assertion's id (64 hex characters), from query or assert"),
            "as_of": string(&format!("Stages as of then, {time}"))}}},
        {"name": "retract",
         "description": "Take back a claim (by its id) or a source (by its subject, e.g. source/PMID-123, which retracts what cites it). Nothing is deleted: retracted claims stop counting, and the retraction is itself kept.",
         "inputSchema": {"type": "object", "required": ["target", "reason"], "properties": {
            "target": string("An assertion id, or a source subject"),
            "reason": string("Why, for the people who will read the log"),
            "cascade": {"type": "boolean", "description": "Also retract what rests on it (derived claims)"}}}}
    ])
}

/// A query answer as text for a model: per group the winner, why, how contested, the rest.
fn groups_text(
    answer: &stemedb_client::wire::QueryResponse<stemedb_client::wire::Record>,
) -> String {
    if answer.groups.is_empty() {
        return "No claims match.".to_owned();
    }
    let mut out = String::new();
    for group in answer.groups.iter().take(GROUPS_SHOWN_MAX) {
        let w = &group.winner;
        out += &format!(
            "{} · {} = {}  (winner under lens {}: {} by {}, valid from {})\n  why: {}\n  conflict score {:.2} over {} claim(s)\n",
            group.subject,
            group.predicate,
            w.body.value,
            answer.lens,
            short(&w.id),
            w.body.agent_id,
            w.body.timestamp,
            group.explanation,
            group.conflict_score,
            group.assertions_total
        );
        for other in group.assertions.iter().filter(|a| a.id != w.id).take(5) {
            out += &format!(
                "  also: {} by {} ({})\n",
                other.body.value,
                other.body.agent_id,
                short(&other.id)
            );
        }
    }
    let more = answer.groups.len().saturating_sub(GROUPS_SHOWN_MAX);
    if more > 0 || answer.next_cursor.is_some() {
        out += &format!("… more groups follow ({more} more on this page); narrow the subject.\n");
    }
    out
}
