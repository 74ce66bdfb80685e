//! `stemedb import FILE`: assertion bodies from JSON Lines or CSV, signed on this machine on
//! every core, posted in batches, with a summary of what was stored, already there, or refused
//! and why.
//!
//! Resumable: after every acknowledged batch the rows done so far are written to
//! `FILE.import-state` (with the time the import began). Run again, it starts after them. Rows
//! without a `timestamp` get that first start time, not the time of the run, so a row sent
//! again after an interruption signs to the same bytes, hence the same id, and the server
//! answers it as a duplicate instead of storing it twice.
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use stemedb::SystemClock;
use stemedb::core::{Clock, SecretKey};
use stemedb_client::wire::BatchResponse;

use crate::control_cmds::SignerArgs;
use crate::progress::Progress;
use crate::{ServerArgs, keyfile};

#[derive(clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    signer: SignerArgs,
    /// JSON Lines (one body object per line) or CSV (a header naming the columns subject,
    /// predicate, value and any of confidence, timestamp, sources (separated by `;`),
    /// provenance, agent_id; one row per line). `.csv` files are read as CSV.
    file: PathBuf,
    /// Assertions per request.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Start from the first row again (rows stored before are answered as duplicates).
    #[arg(long)]
    restart: bool,
    /// Longest line read, in bytes (a server takes a body of at most 1 MiB by default); a
    /// longer one stops the import, naming its line, without being read whole.
    #[arg(long, default_value_t = 1024 * 1024)]
    line_bytes_max: usize,
}

/// The largest `--batch-size`: a server's default `--batch-len-max`.
const BATCH_SIZE_MAX: usize = 10_000;

/// What an earlier run got through, kept beside the file.
#[derive(serde::Serialize, serde::Deserialize)]
struct ImportState {
    /// The import's first start: the timestamp of rows that have none.
    started_at: String,
    /// Data rows acknowledged (stored, duplicate or refused), from the top.
    rows_done: u64,
    /// The file's size when the import began; another size means another file.
    file_bytes: u64,
    /// What those rows came to, so that a resumed run's summary (and its exit status) still
    /// counts the rows an earlier run had refused. Absent in a state written before it.
    #[serde(default)]
    tally: Tally,
}

/// Distinct refusal reasons an import keeps (`Tally::refuse`).
const REASONS_MAX: usize = 100;
const OTHER_REASONS: &str = "other reasons (more distinct reasons than the summary keeps)";

/// Counts and reasons, for the summary.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Tally {
    stored: u64,
    duplicates: u64,
    refused: u64,
    /// reason → (count, first data row refused for it).
    reasons: std::collections::BTreeMap<String, (u64, u64)>,
}

pub async fn import(args: ImportArgs) -> Result<()> {
    if args.batch_size == 0 || args.batch_size > BATCH_SIZE_MAX {
        bail!("--batch-size must be 1 to {BATCH_SIZE_MAX} (the server's default batch limit)");
    }
    let key = keyfile::load(&args.signer.key)?;
    let client = args.server.client()?;
    let state_path = state_path(&args.file);
    let file_bytes = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    let mut state = load_state(&state_path, file_bytes, args.restart)?;
    // Saved before the first post: a run cut short in its first batch keeps its start time.
    save_state(&state_path, &state)?;
    let csv = args.file.extension().is_some_and(|e| e == "csv");
    let reader = BufReader::new(std::fs::File::open(&args.file)?);
    let mut lines = BoundedLines {
        reader,
        bytes_max: args.line_bytes_max,
        number: 0,
    };
    let header = if csv {
        Some(csv_header(&mut lines)?)
    } else {
        None
    };
    let mut rows = lines.filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()));
    for _ in 0..state.rows_done {
        if let Some((number, Err(e))) = rows.next() {
            return Err(e).with_context(|| format!("reading line {}", number + 1));
        }
    }
    if state.rows_done > 0 {
        eprintln!(
            "resuming after {} rows done ({})",
            state.rows_done,
            state_path.display()
        );
    }
    let progress = Progress::new(true, "importing", None);
    loop {
        let mut batch = Vec::with_capacity(args.batch_size);
        for (number, line) in rows.by_ref().take(args.batch_size) {
            let line = line.with_context(|| format!("reading line {}", number + 1))?;
            let body = match &header {
                Some(columns) => csv_body(columns, &line),
                None => json_body(&line),
            }
            .with_context(|| format!("{} line {}", args.file.display(), number + 1))?;
            batch.push(body);
        }
        if batch.is_empty() {
            break;
        }
        let defaults = (args.signer.agent.as_str(), state.started_at.as_str());
        let signed = sign_all(&batch, &key, defaults)?;
        let mut sent = Vec::with_capacity(signed.len());
        let mut sent_rows = Vec::with_capacity(signed.len());
        for (i, result) in signed.into_iter().enumerate() {
            let row = state.rows_done + i as u64 + 1;
            match result {
                Ok(wire) => {
                    sent.push(wire);
                    sent_rows.push(row);
                }
                Err(reason) => state.tally.refuse(reason, row),
            }
        }
        if !sent.is_empty() {
            let answer = client
                .assert_batch(&sent)
                .await
                .with_context(|| format!("posting rows after row {}", state.rows_done))?;
            state.tally.count(&answer, &sent_rows);
        }
        state.rows_done += batch.len() as u64;
        save_state(&state_path, &state)?;
        progress.set(state.rows_done);
    }
    progress.finish();
    report(&state.tally, &state_path)
}

/// A file's lines with their 0-based numbers, each read with a bound: a line longer than
/// `bytes_max` is an error (its number given), never held whole.
struct BoundedLines<R> {
    reader: R,
    bytes_max: usize,
    number: usize,
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = (usize, std::io::Result<String>);

    fn next(&mut self) -> Option<Self::Item> {
        let number = self.number;
        self.number += 1;
        let mut bytes = Vec::new();
        // Room for the content, a `\r` and the `\n`: the bound is on what the line says. A
        // read that stopped at the bound leaves more than `bytes_max` after the strip below.
        let limit = u64::try_from(self.bytes_max)
            .unwrap_or(u64::MAX)
            .saturating_add(2);
        match (&mut self.reader).take(limit).read_until(b'\n', &mut bytes) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => return Some((number, Err(e))),
        }
        let ended = bytes.last() == Some(&b'\n');
        if ended {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        if bytes.len() > self.bytes_max {
            // The rest of the line, a bounded piece at a time, dropped: the next item is the
            // next line.
            if !ended {
                loop {
                    bytes.clear();
                    match (&mut self.reader).take(limit).read_until(b'\n', &mut bytes) {
                        Ok(0) => break,
                        Ok(_) if bytes.last() == Some(&b'\n') => break,
                        Ok(_) => {}
                        Err(e) => return Some((number, Err(e))),
                    }
                }
            }
            let too_long = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("longer than {} bytes (--line-bytes-max)", self.bytes_max),
            );
            return Some((number, Err(too_long)));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"));
        Some((number, text))
    }
}

fn state_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".import-state");
    PathBuf::from(name)
}

/// The state to go on from. `--restart`, and a file of another size, start from the first row
/// again but keep the first start's time: rows without a timestamp then sign to the same bytes
/// as before, so what was stored already is answered as a duplicate, never stored twice.
fn load_state(path: &Path, file_bytes: u64, restart: bool) -> Result<ImportState> {
    let saved =
        match std::fs::read(path) {
            Ok(bytes) => Some(serde_json::from_slice::<ImportState>(&bytes).with_context(
                || format!("{} is damaged; remove it to start over", path.display()),
            )?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
    let started_at = saved
        .as_ref()
        .map_or_else(|| SystemClock.now().to_rfc3339(), |s| s.started_at.clone());
    match saved {
        Some(state) if !restart && state.file_bytes == file_bytes => Ok(state),
        Some(state) if !restart => bail!(
            "{} belongs to a file of {} bytes, not this one of {file_bytes}: pass --restart to \
             import it from its first row (rows stored before are answered as duplicates)",
            path.display(),
            state.file_bytes
        ),
        _ => Ok(ImportState {
            started_at,
            rows_done: 0,
            file_bytes,
            tally: Tally::default(),
        }),
    }
}

/// Replaces the state atomically and durably (synced, renamed, its directory synced): a
/// crash or a power cut leaves the old state or the new, never an empty file, which would
/// lose the first start's time and with it the ids of rows without a timestamp.
fn save_state(path: &Path, state: &ImportState) -> Result<()> {
    stemedb_server::files::write_atomic(path, &serde_json::to_vec(state)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn json_body(line: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(line).context("not JSON")? {
        Value::Object(body) => Ok(body),
        _ => bail!("not a JSON object (a body)"),
    }
}

fn csv_header(
    lines: &mut impl Iterator<Item = (usize, std::io::Result<String>)>,
) -> Result<Vec<String>> {
    let (_, line) = lines
        .next()
        .context("the CSV file is empty (it needs a header)")?;
    let columns = csv_fields(&line?)?;
    for needed in ["subject", "predicate", "value"] {
        if !columns.iter().any(|c| c == needed) {
            bail!("the CSV header has no {needed} column: {columns:?}");
        }
    }
    Ok(columns)
}

/// One CSV row as a body: `value` read as JSON when it is JSON, else as text; `confidence` as
/// a number; `sources` split on `;`; empty cells left out.
fn csv_body(columns: &[String], line: &str) -> Result<Map<String, Value>> {
    let cells = csv_fields(line)?;
    if cells.len() != columns.len() {
        bail!(
            "{} cells where the header has {} columns",
            cells.len(),
            columns.len()
        );
    }
    let mut body = Map::new();
    for (column, cell) in columns.iter().zip(cells).filter(|(_, c)| !c.is_empty()) {
        let value = match column.as_str() {
            "value" => serde_json::from_str(&cell).unwrap_or(Value::String(cell)),
            "confidence" => json!(cell.parse::<f64>().context("confidence is not a number")?),
            "sources" => json!(cell.split(';').map(str::trim).collect::<Vec<_>>()),
            _ => Value::String(cell),
        };
        body.insert(column.clone(), value);
    }
    Ok(body)
}

/// The fields of one CSV line (RFC 4180 quoting: "a ""quoted"" cell"; no line breaks inside).
fn csv_fields(line: &str) -> Result<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        let field = fields.last_mut().context("a field")?;
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => fields.push(String::new()),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        bail!("a quoted cell is not closed");
    }
    Ok(fields)
}

/// Signs every body on every core; `defaults` are the agent and timestamp for bodies that
/// name none. A body that cannot be signed (a field missing or out of its rules) gets the
/// reason instead, as the server would have given it.
fn sign_all(
    bodies: &[Map<String, Value>],
    key: &SecretKey,
    defaults: (&str, &str),
) -> Result<Vec<Result<Value, String>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = bodies.len().div_ceil(threads).max(1);
    let public_key = json!(key.public_key().to_hex());
    let sign = |body: &Map<String, Value>| {
        let mut body = body.clone();
        body.entry("agent_id").or_insert_with(|| json!(defaults.0));
        body.entry("timestamp").or_insert_with(|| json!(defaults.1));
        body.entry("public_key")
            .or_insert_with(|| public_key.clone());
        stemedb_client::sign(body, key).map_err(|e| e.to_string())
    };
    let parts: Vec<Option<Vec<_>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = bodies
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(sign).collect::<Vec<_>>()))
            .collect();
        workers.into_iter().map(|w| w.join().ok()).collect()
    });
    let mut signed = Vec::with_capacity(bodies.len());
    for part in parts {
        signed.extend(part.context("a signing thread failed")?);
    }
    Ok(signed)
}

impl Tally {
    /// Counts a refusal under its reason; past `REASONS_MAX` distinct reasons (a reason may
    /// quote the row's value) the rest share one, so that the state, written after every
    /// batch, stays small.
    fn refuse(&mut self, reason: String, row: u64) {
        self.refused += 1;
        let reason = if self.reasons.len() < REASONS_MAX || self.reasons.contains_key(&reason) {
            reason
        } else {
            OTHER_REASONS.to_owned()
        };
        self.reasons.entry(reason).or_insert((0, row)).0 += 1;
    }

    /// Adds a batch's answer; `rows[i]` is the data row of the batch's item `i`.
    fn count(&mut self, answer: &BatchResponse, rows: &[u64]) {
        self.stored += answer.accepted;
        self.duplicates += answer.duplicates;
        for item in &answer.results {
            if let Some(problem) = &item.error {
                let row = rows.get(item.index as usize).copied().unwrap_or(0);
                self.refuse(problem.detail.clone(), row);
            }
        }
    }
}

fn report(tally: &Tally, state_path: &Path) -> Result<()> {
    println!(
        "stored {}, already stored {}, refused {} (progress in {})",
        tally.stored,
        tally.duplicates,
        tally.refused,
        state_path.display()
    );
    for (reason, (n, first)) in &tally.reasons {
        println!("  {n} refused (first: data row {first}): {reason}");
    }
    if tally.refused > 0 {
        bail!("{} rows were refused (reasons above)", tally.refused);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The lines `input` reads as with a bound of 4 bytes: the text, or "TOO LONG".
    fn check(name: &str, input: &str, want: &[&str]) {
        let lines = BoundedLines {
            reader: input.as_bytes(),
            bytes_max: 4,
            number: 0,
        };
        let got: Vec<String> = lines
            .map(|(_, line)| line.unwrap_or_else(|_| "TOO LONG".into()))
            .collect();
        assert_eq!(got, want, "{name}");
    }

    #[test]
    fn lines_are_read_within_their_bound_whatever_their_ending() {
        check("LF at the bound", "abcd\n", &["abcd"]);
        check("CRLF at the bound", "abcd\r\n", &["abcd"]);
        check("LF past it", "abcde\nxy\n", &["TOO LONG", "xy"]);
        check("CRLF past it", "abcde\r\n", &["TOO LONG"]);
        check("a last line at the bound", "ab\ncdef", &["ab", "cdef"]);
        check("a last line past it", "abcde", &["TOO LONG"]);
        check("two CRLF lines", "ab\r\ncd\r\n", &["ab", "cd"]);
        check(
            "far past it, then a line",
            "abcdefghijklmnop\nxy",
            &["TOO LONG", "xy"],
        );
    }

    #[test]
    fn a_tally_keeps_at_most_its_distinct_reasons() {
        let mut tally = Tally::default();
        for row in 0..(REASONS_MAX as u64 + 50) {
            tally.refuse(format!("got {row}"), row);
        }
        tally.refuse("got 0".into(), 999);
        assert_eq!(tally.refused, REASONS_MAX as u64 + 51);
        assert_eq!(tally.reasons.len(), REASONS_MAX + 1);
        assert_eq!(tally.reasons["got 0"], (2, 0), "a kept reason still counts");
        assert_eq!(tally.reasons[OTHER_REASONS], (50, REASONS_MAX as u64));
    }
}
