//! `stemedb bench-rate-limit`: does one key driven far past its rate limit slow another key
//! down? Two read keys are created; the quiet one sends paced queries alone, then while the
//! noisy one is driven at `--overload`× its limit, alternating, for `--rounds` rounds. Prints
//! the quiet key's p99 over all samples of each kind of phase and fails when the p99 with noise
//! exceeds the p99 alone by more than `--p99-increase-max-percent`.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use hdrhistogram::Histogram;
use serde_json::json;
use stemedb_client::{Client, ClientError};

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
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

async fn create_key(admin: &Client, name: &str, rate: u32) -> Result<Client> {
    let body = json!({"name": name, "role": "read", "rate_limit_per_sec": rate});
    let (status, reply) = admin.post_json("/v1/api-keys", &body).await?;
    ensure!(status == 201, "creating the {name} key: {status} {reply}");
    let secret = reply["key"].as_str().context("no key in the reply")?;
    Ok(Client::new(admin.base_url(), Some(secret.to_owned()))?)
}

const QUERY: &[(&str, &str)] = &[
    ("subject", "bench/isolation/none"),
    ("predicate", "p"),
    ("lens", "recency"),
];

/// Sends paced queries at `per_sec` for `secs`; returns (latencies µs, ok, limited).
async fn paced(client: Client, per_sec: u32, secs: u64) -> Result<(Histogram<u64>, u64, u64)> {
    let ok = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_sec.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < deadline {
        tick.tick().await;
        let (client, ok, limited) = (client.clone(), Arc::clone(&ok), Arc::clone(&limited));
        tasks.spawn(async move {
            let started = Instant::now();
            match client.get_json("/v1/query", QUERY).await {
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
    let noisy = create_key(&admin, "bench-noisy", args.limit_per_sec).await?;
    let quiet = create_key(&admin, "bench-quiet", 0).await?;
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
        let noise = tokio::spawn(paced(noisy.clone(), noise_rate, args.phase_secs));
        let (h, _, l) = paced(quiet.clone(), args.quiet_per_sec, args.phase_secs).await?;
        let (_, ok, limited) = noise.await??;
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
        "quiet_per_sec": args.quiet_per_sec, "phase_secs": args.phase_secs,
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
