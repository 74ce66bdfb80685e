//! `stemedb load-test`: signs its assertions before the timed phase (so it measures the server,
//! not its own signing), then drives the server with N concurrent clients for a duration and
//! reports throughput and HDR latency percentiles.
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use stemedb::SystemClock;
use stemedb::core::{AssertionId, Clock, SecretKey, SplitMix64, Timestamp};
use stemedb_client::{Client, Draft};

use crate::{ServerArgs, rawhttp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One assertion per POST /v1/assert.
    Single,
    /// `--batch-size` assertions per POST /v1/assert/batch.
    Batch,
    /// GET /v1/query by subject and predicate over data a previous run wrote with the same --tag.
    Query,
    /// Single writes and queries mixed by --write-percent.
    Mixed,
    /// GET /v1/health: no store work, so what a request costs the server and the client with
    /// nothing in it (HTTP, the kernel's loopback TCP, the middleware): the floor under every
    /// other mode's figures (docs/benchmarks.md, "Sixteenth session").
    Health,
}

#[derive(clap::Args)]
pub struct LoadTestArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, value_enum, default_value = "single")]
    mode: Mode,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Longest the timed phase runs; it also ends when the pre-signed assertions run out.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Assertions to sign up front (write modes).
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    /// Write modes: the index of the first assertion (the run signs indexes first_index ..
    /// first_index + count). Runs that go on where the last one stopped reach every group
    /// of --groups evenly, where runs that each start at 0 write the same groups again.
    #[arg(long, default_value_t = 0)]
    first_index: usize,
    /// Assertions per batch request.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Distinct signing agents.
    #[arg(long, default_value_t = 16)]
    agents: usize,
    /// Assertions per (subject, predicate) group.
    #[arg(long, default_value_t = 10)]
    group_size: usize,
    /// Groups to query (query/mixed modes); defaults to count / group-size. In write modes,
    /// spreads the assertions over this many groups, interleaved (assertion i goes to group
    /// i·7919 mod groups, every group gets one before any gets two) and signed by agents drawn
    /// at random, as data arrives in life, instead of groups of --group-size in a row.
    #[arg(long)]
    groups: Option<usize>,
    /// Share of assertions (percent) that cite a source (`src/<tag>/<k>`, 1,000 sources).
    #[arg(long, default_value_t = 0)]
    sources_percent: u64,
    /// Writes the assertions a write mode would send as CSV for PostgreSQL's COPY (id, agent_id,
    /// subject, predicate, value, confidence, valid_at, sources, signature) and exits without
    /// contacting a server: the same data for a side-by-side benchmark (scripts/bench-pg.sh).
    #[arg(long)]
    csv: Option<std::path::PathBuf>,
    /// Lens for queries: recency, authority, consensus, conflict, or all (round-robin).
    #[arg(long, default_value = "all")]
    lens: String,
    /// Queries ask for each group's winner alone (`winner_only=true`), not its ranking.
    #[arg(long)]
    winner_only: bool,
    /// Share of operations that write in mixed mode.
    #[arg(long, default_value_t = 10)]
    write_percent: u64,
    /// Names the data set: subjects are load/<tag>/s<N>.
    #[arg(long, default_value = "bench")]
    tag: String,
    /// Seed of the query and mix choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Write modes: paces the writes to this many assertions per second (0: as fast as the
    /// clients go). For a steady load, such as the replication-lag benchmark.
    #[arg(long, default_value_t = 0)]
    rate_per_sec: u64,
}

pub(crate) fn agent_key(tag: &str, agent: usize) -> SecretKey {
    SecretKey::from_seed(
        AssertionId::of_canonical(format!("stemedb-load/{tag}/{agent}").as_bytes()).as_bytes(),
    )
}

fn subject(tag: &str, group: usize) -> String {
    format!("load/{tag}/s{group:08}")
}

/// The `i`th assertion of a write run: groups of `group_size` on one subject, agents in turn
/// (or, with `--groups`, spread over the groups by agents at random), valid times 1 ms apart
/// from `base_micros`; `--sources-percent` of them cite a source.
fn draft(args: &LoadTestArgs, base_micros: i64, i: usize) -> Draft {
    let mix = mix(i);
    let group = match args.groups {
        Some(groups) => (i as u64 * 7919 % groups.max(1) as u64) as usize,
        None => i / args.group_size.max(1),
    };
    let agent_id = format!("load/{}/agent-{}", args.tag, agent_of(args, i));
    let subject = subject(&args.tag, group);
    let value = json!(((i * 7919) % 1000) as f64 / 10.0);
    let timestamp = Timestamp::from_micros(base_micros + i as i64 * 1000).to_rfc3339();
    let draft = Draft::new(&agent_id, &subject, "value", value, &timestamp)
        .confidence(0.5 + (i % 50) as f64 / 100.0);
    if (mix >> 32) % 100 < args.sources_percent {
        draft.sources(&[format!("src/{}/{}", args.tag, (mix >> 8) % 1000)])
    } else {
        draft
    }
}

/// A hash of the assertion's index, for the choices that look random.
fn mix(i: usize) -> u64 {
    SplitMix64::new(i as u64 ^ 0x5eed).next_u64()
}

/// The agent that signs the `i`th assertion (each agent keeps one key).
fn agent_of(args: &LoadTestArgs, i: usize) -> usize {
    match args.groups {
        Some(_) => mix(i) as usize % args.agents.max(1),
        None => i % args.agents.max(1),
    }
}

/// Signs `count` assertions on all cores and returns their wire JSON values.
fn sign_all(args: &LoadTestArgs) -> Result<Vec<Value>> {
    let keys: Vec<SecretKey> = (0..args.agents.max(1))
        .map(|a| agent_key(&args.tag, a))
        .collect();
    let base = SystemClock.now().micros() - 86_400_000_000;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let chunk = args.count.div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Value>>> = std::thread::scope(|scope| {
        let end = args.first_index + args.count;
        let handles: Vec<_> = (args.first_index..end)
            .step_by(chunk)
            .map(|start| {
                let keys = &keys;
                scope.spawn(move || {
                    (start..(start + chunk).min(end))
                        .map(|i| Ok(draft(args, base, i).sign(&keys[agent_of(args, i)])?))
                        .collect::<Result<Vec<Value>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("signing thread panicked"))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(args.count);
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// One unit of pre-built work.
enum Work {
    Write {
        path: &'static str,
        body: Vec<u8>,
        assertions: u64,
    },
}

struct Shared {
    /// When the timed phase began (paced writes are scheduled from it).
    began: Instant,
    work: Vec<Work>,
    next: AtomicUsize,
    stop: AtomicBool,
    ops: AtomicU64,
    assertions: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    histogram: Mutex<Histogram<u64>>,
}

impl Shared {
    fn record(
        &self,
        histogram: &mut Histogram<u64>,
        started: Instant,
        assertions: u64,
        outcome: Result<(), String>,
    ) {
        let micros = u64::try_from(started.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = histogram.record(micros);
        match outcome {
            Ok(()) => {
                self.ops.fetch_add(1, Ordering::Relaxed);
                self.assertions.fetch_add(assertions, Ordering::Relaxed);
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert(e);
                }
            }
        }
    }
}

fn build_work(args: &LoadTestArgs, signed: Vec<Value>) -> Result<Vec<Work>> {
    Ok(match args.mode {
        Mode::Batch => signed
            .chunks(args.batch_size.max(1))
            .map(|c| {
                let body = serde_json::to_vec(&json!({ "assertions": c }))?;
                Ok(Work::Write {
                    path: "/v1/assert/batch",
                    body,
                    assertions: c.len() as u64,
                })
            })
            .collect::<Result<Vec<_>>>()?,
        Mode::Single | Mode::Mixed => signed
            .iter()
            .map(|v| {
                Ok(Work::Write {
                    path: "/v1/assert",
                    body: serde_json::to_vec(v)?,
                    assertions: 1,
                })
            })
            .collect::<Result<Vec<_>>>()?,
        Mode::Query | Mode::Health => Vec::new(),
    })
}

/// One client: its own connection, its own latency histogram (merged at the end, so that 64
/// clients do not contend for one lock per request).
async fn client_loop(
    mut transport: Transport,
    mut histogram: Histogram<u64>,
    shared: Arc<Shared>,
    args: Arc<LoadTestArgs>,
    index: usize,
) -> Histogram<u64> {
    let lenses: Vec<&str> = match args.lens.as_str() {
        "all" => vec![
            "recency",
            "authority",
            "consensus",
            "conflict",
            "layered",
            "evidence",
        ],
        one => vec![one],
    };
    let groups = args
        .groups
        .unwrap_or(args.count / args.group_size.max(1))
        .max(1);
    let mut rng = SplitMix64::new(args.seed.wrapping_mul(1_000_003).wrapping_add(index as u64));
    let mut round = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        let write = match args.mode {
            Mode::Single | Mode::Batch => true,
            Mode::Query | Mode::Health => false,
            Mode::Mixed => rng.next_u64() % 100 < args.write_percent,
        };
        let started = Instant::now();
        if write {
            let i = shared.next.fetch_add(1, Ordering::Relaxed);
            let Some(Work::Write {
                path,
                body,
                assertions,
            }) = shared.work.get(i)
            else {
                shared.stop.store(true, Ordering::Relaxed);
                break;
            };
            pace(&shared, &args, i, *assertions).await;
            let started = Instant::now();
            let outcome = transport.write(path, body).await;
            shared.record(&mut histogram, started, *assertions, outcome);
        } else if args.mode == Mode::Health {
            let outcome = transport.health().await;
            shared.record(&mut histogram, started, 0, outcome);
        } else {
            let subject = subject(&args.tag, (rng.next_u64() % groups as u64) as usize);
            let lens = lenses[round % lenses.len()];
            round += 1;
            let winner_only = if args.winner_only { "true" } else { "false" };
            let params = [
                ("subject", subject.as_str()),
                ("predicate", "value"),
                ("lens", lens),
                ("winner_only", winner_only),
            ];
            let outcome = transport.query(&params, &args.tag).await;
            shared.record(&mut histogram, started, 0, outcome);
        }
    }
    histogram
}

pub async fn run(mut args: LoadTestArgs) -> Result<()> {
    if let Some(path) = &args.csv {
        return write_csv(&args, path);
    }
    let client = args.server.client()?;
    client
        .health()
        .await
        .with_context(|| format!("is a server running at {}?", args.server.server))?;
    let reads_groups = matches!(args.mode, Mode::Query | Mode::Mixed);
    if reads_groups && args.groups.is_none() {
        let groups = groups_written(&client, &args.tag).await?;
        eprintln!(
            "querying the {groups} groups written under --tag {}",
            args.tag
        );
        args.groups = Some(groups);
    }
    let sign_started = Instant::now();
    let signed = if matches!(args.mode, Mode::Query | Mode::Health) {
        Vec::new()
    } else {
        sign_all(&args)?
    };
    let work = build_work(&args, signed)?;
    let signing_secs = sign_started.elapsed().as_secs_f64();
    if !args.json {
        eprintln!(
            "prepared {} requests in {signing_secs:.1}s; running {:?} with {} clients",
            work.len(),
            args.mode,
            args.clients
        );
    }
    let shared = Arc::new(Shared {
        began: Instant::now(),
        work,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        assertions: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        histogram: Mutex::new(new_histogram()?),
    });
    let lean = rawhttp::Target::for_url(&args.server.base_url(), args.server.key()?);
    let args = Arc::new(args);
    let started = Instant::now();
    let cpu_ticks_before = own_cpu_ticks();
    let tasks = (0..args.clients)
        .map(|i| {
            let transport = match &lean {
                Some(target) => Transport::Lean(rawhttp::Conn::new(target.clone())),
                None => Transport::General(client.clone()),
            };
            Ok(tokio::spawn(client_loop(
                transport,
                new_histogram()?,
                Arc::clone(&shared),
                Arc::clone(&args),
                i,
            )))
        })
        .collect::<Result<Vec<_>>>()?;
    let deadline = tokio::time::sleep(Duration::from_secs(args.duration_secs));
    tokio::pin!(deadline);
    let all = futures_join(&shared, tasks);
    tokio::pin!(all);
    tokio::select! {
        _ = &mut deadline => { shared.stop.store(true, Ordering::Relaxed); all.await; }
        _ = &mut all => {}
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_ticks = own_cpu_ticks()
        .zip(cpu_ticks_before)
        .map(|(after, before)| after.saturating_sub(before));
    report(&args, &shared, elapsed, cpu_ticks)
}

/// `--csv`: the assertions a write run would send, as rows for PostgreSQL's COPY (CSV format;
/// bytea as `\x` hex, sources as an array literal).
fn write_csv(args: &LoadTestArgs, path: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let limits = stemedb::core::Limits::default();
    for wire in sign_all(args)? {
        let record = stemedb::core::SignedAssertion::from_wire(wire, &limits)?;
        let body = &record.body_json;
        let text = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
        let value = body
            .get("value")
            .cloned()
            .unwrap_or(Value::Null)
            .to_string();
        let sources = record.body.sources.join(",");
        writeln!(
            out,
            "\\x{},{},{},{},{},{},{},\"{{{sources}}}\",\\x{}",
            record.id.to_hex(),
            text("agent_id"),
            text("subject"),
            text("predicate"),
            csv_quote(&value),
            record.body.confidence_or_default(),
            text("timestamp"),
            record.signature.to_hex(),
        )?;
    }
    out.flush()?;
    Ok(())
}

/// A CSV field in double quotes, inner quotes doubled.
fn csv_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Waits until request `i` (of `assertions` each) is due at `--rate-per-sec`.
async fn pace(shared: &Shared, args: &LoadTestArgs, i: usize, assertions: u64) {
    if args.rate_per_sec == 0 {
        return;
    }
    let before = i as f64 * assertions as f64;
    let due = shared.began + Duration::from_secs_f64(before / args.rate_per_sec as f64);
    tokio::time::sleep_until(due.into()).await;
}

async fn futures_join(shared: &Shared, tasks: Vec<tokio::task::JoinHandle<Histogram<u64>>>) {
    for t in tasks {
        if let (Ok(histogram), Ok(mut all)) = (t.await, shared.histogram.lock()) {
            let _ = all.add(histogram);
        }
    }
}

/// Latencies from 1 µs to 60 s, three significant digits.
fn new_histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// How a client reaches the server: the lean connection for plain `http://`, else the SDK.
enum Transport {
    Lean(rawhttp::Conn),
    General(Client),
}

impl Transport {
    /// POSTs a prepared write; an answer that rejects any item is an error.
    async fn write(&mut self, path: &str, body: &[u8]) -> Result<(), String> {
        let reply: Value = match self {
            Transport::Lean(conn) => {
                let answer = conn
                    .post_json(path, body)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                if !(200..300).contains(&answer.status) {
                    return Err(format!(
                        "{}: {}",
                        answer.status,
                        String::from_utf8_lossy(answer.body)
                    ));
                }
                serde_json::from_slice(answer.body)
                    .map_err(|e| format!("an answer that is not JSON: {e}"))?
            }
            Transport::General(client) => {
                client
                    .post_raw(path, body.to_vec())
                    .await
                    .map_err(|e| e.to_string())?
                    .1
            }
        };
        match reply["rejected"].as_u64().unwrap_or(0) {
            0 => Ok(()),
            _ => Err(format!("batch rejected items: {}", reply["results"])),
        }
    }

    /// GETs /v1/query; an answer without a winner is an error.
    async fn query(&mut self, params: &[(&str, &str)], tag: &str) -> Result<(), String> {
        match self {
            Transport::Lean(conn) => {
                let mut target = String::from("/v1/query?");
                for (i, (name, value)) in params.iter().enumerate() {
                    if i > 0 {
                        target.push('&');
                    }
                    target.push_str(name);
                    target.push('=');
                    rawhttp::query_escape(&mut target, value);
                }
                let answer = conn.get(&target).await.map_err(|e| format!("{e:#}"))?;
                query_outcome(answer.status, answer.body, params, tag)
            }
            Transport::General(client) => {
                let (status, body) = client.query_text(params).await.map_err(|e| e.to_string())?;
                query_outcome(status, body.as_bytes(), params, tag)
            }
        }
    }

    /// GETs /v1/health; anything but a 200 is an error.
    async fn health(&mut self) -> Result<(), String> {
        match self {
            Transport::Lean(conn) => {
                let answer = conn.get("/v1/health").await.map_err(|e| format!("{e:#}"))?;
                match answer.status {
                    200 => Ok(()),
                    status => Err(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(answer.body)
                    )),
                }
            }
            Transport::General(client) => {
                client.health().await.map(drop).map_err(|e| e.to_string())
            }
        }
    }
}

/// A query's answer is a success when it is 200 and names a winner.
fn query_outcome(
    status: u16,
    body: &[u8],
    params: &[(&str, &str)],
    tag: &str,
) -> Result<(), String> {
    let has_winner = body.windows(10).any(|w| w == b"\"winner\":{");
    match status {
        200 if has_winner => Ok(()),
        200 => Err(format!(
            "no data for {params:?}; run a write mode with --tag {tag} first"
        )),
        _ => Err(format!("{status}: {}", String::from_utf8_lossy(body))),
    }
}

/// This process's user and system CPU so far, in clock ticks (`/proc/self/stat`; `None`
/// where there is no such file): what the client itself cost during the timed phase, which
/// the benchmark scripts set beside the server's CPU (pre-signing is not in it).
fn own_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn report(
    args: &LoadTestArgs,
    shared: &Shared,
    elapsed: f64,
    cpu_ticks: Option<u64>,
) -> Result<()> {
    let h = shared
        .histogram
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock poisoned"))?;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let ops = shared.ops.load(Ordering::Relaxed);
    let assertions = shared.assertions.load(Ordering::Relaxed);
    let errors = shared.errors.load(Ordering::Relaxed);
    let doc = json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "clients": args.clients,
        "elapsed_secs": elapsed,
        "requests_ok": ops,
        "errors": errors,
        "requests_per_sec": ops as f64 / elapsed,
        "assertions_per_sec": assertions as f64 / elapsed,
        "latency_ms": {"p50": ms(0.50), "p90": ms(0.90), "p99": ms(0.99), "p999": ms(0.999), "max": h.max() as f64 / 1000.0},
        "first_error": *shared.first_error.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))?,
        "client_cpu_ticks": cpu_ticks,
    });
    if args.json {
        println!("{doc}");
    } else {
        println!("mode          {}", doc["mode"].as_str().unwrap_or_default());
        println!("clients       {}", args.clients);
        println!("elapsed       {elapsed:.2} s");
        println!("requests ok   {ops}   errors {errors}");
        println!("requests/s    {:.0}", ops as f64 / elapsed);
        println!("assertions/s  {:.0}", assertions as f64 / elapsed);
        println!(
            "latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            ms(0.5),
            ms(0.9),
            ms(0.99),
            ms(0.999),
            h.max() as f64 / 1000.0
        );
        if let Some(e) = &*shared
            .first_error
            .lock()
            .map_err(|_| anyhow::anyhow!("lock poisoned"))?
        {
            println!("first error   {e}");
        }
    }
    if errors > 0 {
        bail!(
            "{errors} of {} requests failed, so the figures above do not measure the server \
             alone (a 429 means the API key's rate limit: use a key without one)",
            errors + ops
        );
    }
    Ok(())
}

/// How many groups earlier write runs left under `tag`. Groups are written densely from 0, so
/// a doubling then binary search over exact queries finds the count (about 34 probes for
/// 100,000 groups) instead of assuming `--count`.
async fn groups_written(client: &Client, tag: &str) -> Result<usize> {
    if !group_exists(client, tag, 0).await? {
        bail!("no data under --tag {tag}: run a write mode with --tag {tag} first");
    }
    let (mut low, mut high) = (0usize, 1usize); // group `low` exists
    while group_exists(client, tag, high).await? {
        low = high;
        high = high.saturating_mul(2);
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if group_exists(client, tag, mid).await? {
            low = mid;
        } else {
            high = mid;
        }
    }
    Ok(low + 1)
}

async fn group_exists(client: &Client, tag: &str, group: usize) -> Result<bool> {
    let subject = subject(tag, group);
    let params = [
        ("subject", subject.as_str()),
        ("predicate", "value"),
        ("lens", "recency"),
    ];
    match client.query_text(&params).await? {
        (200, body) => Ok(body.contains("\"winner\":{")),
        (status, body) => bail!("probing the groups under --tag {tag}: {status} {body}"),
    }
}
