//! `stemedb bench-rate-limit`: does one key driven far past its rate limit slow another key
//! down? A data set of 64 contradicting groups is written; two read keys are created; the
//! quiet one sends paced consensus queries over those groups alone, then while the
//! noisy one is driven at `--overload`× its limit, alternating, for `--rounds` rounds. Prints
//! the quiet key's p99 over all samples of each kind of phase and fails when the p99 with noise
//! exceeds the p99 alone by more than `--p99-increase-max-percent`.
//!
//! The noise comes from a child process (`stemedb bench-noise`), started at a lower CPU
//! priority (`--noise-nice`): on a machine where the load generator shares the cores with the
//! server, the generator's own work would otherwise be measured as the server's. The server
//! still parses, authenticates, logs and refuses every noisy request at normal priority.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use hdrhistogram::Histogram;
use serde_json::json;
use stemedb::core::SecretKey;
use stemedb_client::{Client, ClientError, Draft};

use crate::ServerArgs;

#[derive(clap::Args)]
pub struct BenchRateLimitArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Rate limit of the noisy key, requests per second.
    #[arg(long, default_value_t = 200)]
    limit_per_sec: u32,
    /// How far past its limit the noisy key is driven.
    #[arg(long, default_value_t = 10)]
    overload: u32,
    /// Paced request rate of the quiet key.
    #[arg(long, default_value_t = 200)]
    quiet_per_sec: u32,
    /// Length of each phase.
    #[arg(long, default_value_t = 5)]
    phase_secs: u64,
    /// Quiet-alone / quiet-with-noise pairs, alternating.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Largest allowed rise of the quiet key's p99 under noise, in percent.
    #[arg(long, default_value_t = 20.0)]
    p99_increase_max_percent: f64,
    /// Niceness of the noise process (0: same priority as the quiet key's client).
    #[arg(long, default_value_t = 10)]
    noise_nice: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `stemedb bench-noise`: the noisy side of `bench-rate-limit`, in its own process. Prints
/// `ready` once connected, sends paced queries for `--secs`, then prints `{"ok", "limited"}`.
#[derive(clap::Args)]
pub struct BenchNoiseArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long)]
    per_sec: u32,
    #[arg(long)]
    secs: u64,
}

pub async fn noise(args: BenchNoiseArgs) -> Result<()> {
    let client = args.server.client()?;
    println!("ready");
    let (_, ok, limited) = paced(client, args.per_sec, args.secs).await?;
    println!("{}", json!({"ok": ok, "limited": limited}));
    Ok(())
}

/// A running noise process (std::process: the bench blocks only while it starts and ends).
struct Noise(std::process::Child);

impl Noise {
    /// Starts `bench-noise` at niceness `nice` and waits until it is connected.
    fn start(url: &str, secret: &str, per_sec: u32, secs: u64, nice: u32) -> Result<Noise> {
        use std::io::BufRead;
        let exe = std::env::current_exe().context("finding the stemedb binary")?;
        let mut command = if nice > 0 {
            let mut c = std::process::Command::new("nice");
            c.arg("-n").arg(nice.to_string()).arg(exe);
            c
        } else {
            std::process::Command::new(exe)
        };
        command
            .args(["bench-noise", "--server", url])
            .args([
                "--per-sec",
                &per_sec.to_string(),
                "--secs",
                &secs.to_string(),
            ])
            .env("STEMEDB_API_KEY", secret)
            .stdout(std::process::Stdio::piped());
        let mut child = command.spawn().context("starting the noise process")?;
        let stdout = child.stdout.as_mut().context("no stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        ensure!(line.trim() == "ready", "the noise process said {line:?}");
        Ok(Noise(child))
    }

    /// Waits for the process to end; returns (accepted, limited).
    fn finish(self) -> Result<(u64, u64)> {
        let output = self.0.wait_with_output()?;
        ensure!(
            output.status.success(),
            "the noise process failed: {}",
            output.status
        );
        let text = String::from_utf8_lossy(&output.stdout);
        let last = text
            .lines()
            .last()
            .context("no result from the noise process")?;
        let doc: serde_json::Value = serde_json::from_str(last)?;
        Ok((
            doc["ok"].as_u64().unwrap_or(0),
            doc["limited"].as_u64().unwrap_or(0),
        ))
    }
}

/// Creates a read key at `rate`; returns its secret.
async fn create_key(admin: &Client, name: &str, rate: u32) -> Result<String> {
    let body = json!({"name": name, "role": "read", "rate_limit_per_sec": rate});
    let (status, reply) = admin.post_json("/v1/api-keys", &body).await?;
    ensure!(status == 201, "creating the {name} key: {status} {reply}");
    let secret = reply["key"].as_str().context("no key in the reply")?;
    Ok(secret.to_owned())
}

/// Groups the quiet key queries, and assertions per group (from 8 agents).
const GROUPS: usize = 64;
const GROUP_LEN: usize = 16;

/// Writes the data set the quiet key reads: `GROUPS` groups of `GROUP_LEN` contradicting
/// assertions, so that each query runs a real lens (consensus) over real records.
async fn load_data(admin: &Client) -> Result<()> {
    let keys: Vec<SecretKey> = (0..8)
        .map(|a| SecretKey::from_seed(&[a as u8 + 40; 32]))
        .collect();
    let mut items = Vec::with_capacity(GROUPS * GROUP_LEN);
    for i in 0..GROUPS * GROUP_LEN {
        let agent = i % keys.len();
        let subject = format!("bench/isolation/s{}", i / GROUP_LEN);
        let agent_id = format!("bench/isolation/agent-{agent}");
        let value = json!((i % 5) as f64);
        let draft = Draft::new(&agent_id, &subject, "p", value, "2025-01-01T00:00:00Z");
        let confidence = 0.5 + (i % 7) as f64 / 20.0;
        items.push(draft.confidence(confidence).sign(&keys[agent])?);
    }
    let reply = admin.assert_batch(&items).await?;
    ensure!(reply.rejected == 0, "loading the data set: {reply:?}");
    Ok(())
}

/// Sends paced queries at `per_sec` for `secs`; returns (latencies µs, ok, limited).
async fn paced(client: Client, per_sec: u32, secs: u64) -> Result<(Histogram<u64>, u64, u64)> {
    let ok = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_sec.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0usize;
    while Instant::now() < deadline {
        tick.tick().await;
        let (client, ok, limited) = (client.clone(), Arc::clone(&ok), Arc::clone(&limited));
        let subject = format!("bench/isolation/s{}", sent % GROUPS);
        sent += 1;
        tasks.spawn(async move {
            let started = Instant::now();
            let query = [
                ("subject", subject.as_str()),
                ("predicate", "p"),
                ("lens", "consensus"),
            ];
            match client.get_json("/v1/query", &query).await {
                Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                Err(ClientError::Problem { status: 429, .. }) => {
                    limited.fetch_add(1, Ordering::Relaxed)
                }
                Err(_) => 0,
            };
            started.elapsed().as_micros() as u64
        });
    }
    while let Some(done) = tasks.join_next().await {
        histogram.record(done?.max(1))?;
    }
    Ok((
        histogram,
        ok.load(Ordering::Relaxed),
        limited.load(Ordering::Relaxed),
    ))
}

fn p99_ms(h: &Histogram<u64>) -> f64 {
    h.value_at_quantile(0.99) as f64 / 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub async fn run(args: BenchRateLimitArgs) -> Result<()> {
    let admin = args.server.client()?;
    load_data(&admin).await?;
    let noisy = create_key(&admin, "bench-noisy", args.limit_per_sec).await?;
    let quiet = Client::new(
        admin.base_url(),
        Some(create_key(&admin, "bench-quiet", 0).await?),
    )?;
    let noise_rate = args.limit_per_sec * args.overload;
    let (mut alone, mut noisy_p99s, mut rounds) = (Vec::new(), Vec::new(), Vec::new());
    // Every sample of each kind of phase, pooled: a p99 over thousands of samples is steadier
    // than a median of per-round p99s, and one stalled round weighs only its share.
    let mut pooled_alone = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut pooled_noise = pooled_alone.clone();
    let (mut noisy_ok, mut noisy_limited, mut quiet_limited) = (0, 0, 0);
    for _ in 0..args.rounds {
        let (h, _, l) = paced(quiet.clone(), args.quiet_per_sec, args.phase_secs).await?;
        alone.push(p99_ms(&h));
        pooled_alone.add(&h)?;
        quiet_limited += l;
        let noise = Noise::start(
            admin.base_url(),
            &noisy,
            noise_rate,
            args.phase_secs,
            args.noise_nice,
        )?;
        let (h, _, l) = paced(quiet.clone(), args.quiet_per_sec, args.phase_secs).await?;
        let (ok, limited) = tokio::task::block_in_place(|| noise.finish())?;
        noisy_p99s.push(p99_ms(&h));
        pooled_noise.add(&h)?;
        quiet_limited += l;
        noisy_ok += ok;
        noisy_limited += limited;
        rounds.push(json!({"quiet_alone_p99_ms": alone.last(), "quiet_with_noise_p99_ms": noisy_p99s.last(), "noisy_ok": ok, "noisy_429": limited}));
    }
    let (base, loaded) = (p99_ms(&pooled_alone), p99_ms(&pooled_noise));
    let (median_alone, median_noise) = (median(alone), median(noisy_p99s));
    let increase = (loaded / base - 1.0) * 100.0;
    let doc = json!({
        "noisy_limit_per_sec": args.limit_per_sec, "noisy_offered_per_sec": noise_rate,
        "quiet_per_sec": args.quiet_per_sec, "phase_secs": args.phase_secs, "noise_nice": args.noise_nice,
        "quiet_alone_p99_ms": base, "quiet_with_noise_p99_ms": loaded,
        "p99_increase_percent": increase,
        "median_round_p99_ms": {"alone": median_alone, "with_noise": median_noise},
        "samples_per_phase": args.quiet_per_sec as u64 * args.phase_secs, "noisy_ok": noisy_ok, "noisy_429": noisy_limited,
        "quiet_429": quiet_limited, "rounds": rounds,
    });
    if args.json {
        println!("{doc}");
    } else {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    ensure!(
        quiet_limited == 0,
        "the quiet key was rate limited {quiet_limited} times"
    );
    ensure!(noisy_limited > 0, "the noisy key was never rate limited");
    if increase > args.p99_increase_max_percent {
        bail!(
            "the quiet key's p99 rose {increase:.1}% under noise (limit {}%)",
            args.p99_increase_max_percent
        );
    }
    Ok(())
}
