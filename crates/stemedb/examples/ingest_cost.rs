//! What batch ingest costs inside the server, without HTTP: the batch body parsed as the
//! server parses it (strict JSON, then the `assertions` array), then `Db::ingest_batch`
//! (validation, canonical bytes, signature checks, the writer's group commit). Data shaped as
//! `load-test --tag pg` makes it: 300 agents, groups of about 3.3 records, a third citing a
//! source. Two steps, so that an instruction count (`valgrind --tool=callgrind`) leaves the
//! signing out:
//!
//! `cargo run --release -p stemedb --example ingest_cost -- gen FILE COUNT [BATCH]` writes
//! COUNT signed records as batch bodies of BATCH (1,000), one per line;
//! `cargo run --release -p stemedb --example ingest_cost -- run DIR FILE` ingests them into a
//! new data directory DIR on one client thread and prints wall time per record for each part
//! (docs/benchmarks.md, "Nineteenth session").
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use stemedb::core::{AssertionId, Clock, Limits, SecretKey, SignedAssertion, Timestamp};
use stemedb::{Db, DbConfig, SystemClock};

type Error = Box<dyn std::error::Error>;

const AGENTS: usize = 300;
const SOURCES_PERCENT: u64 = 33;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: ingest_cost gen FILE COUNT [BATCH] | ingest_cost run DIR FILE";
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen", file, count] => generate(Path::new(file), count.parse()?, 1000),
        ["gen", file, count, batch] => generate(Path::new(file), count.parse()?, batch.parse()?),
        ["run", dir, file] => run(Path::new(dir), Path::new(file)),
        _ => Err(usage.into()),
    }
}

/// Writes `count` signed records in bodies of `batch`, one body per line.
fn generate(file: &Path, count: usize, batch: usize) -> Result<(), Error> {
    let keys: Vec<SecretKey> = (0..AGENTS)
        .map(|a| {
            SecretKey::from_seed(
                AssertionId::of_canonical(format!("cost/{a}").as_bytes()).as_bytes(),
            )
        })
        .collect();
    // Valid times in the past, 1 ms apart, so that none is refused as being in the future.
    let base_micros = SystemClock.now().micros() - count as i64 * 1000 - 60_000_000;
    let groups = (count * 3 / 10).max(1);
    let mut out = BufWriter::new(std::fs::File::create(file)?);
    let mut items = Vec::with_capacity(batch);
    for i in 0..count {
        items.push(record(&keys, base_micros, groups, i)?);
        if items.len() == batch || i + 1 == count {
            serde_json::to_writer(&mut out, &json!({ "assertions": items }))?;
            out.write_all(b"\n")?;
            items.clear();
        }
    }
    out.flush()?;
    println!(
        "{count} records in bodies of {batch} written to {}",
        file.display()
    );
    Ok(())
}

/// The `i`th record: a group and an agent picked by a hash of `i`, as `load-test` picks them.
fn record(keys: &[SecretKey], base_micros: i64, groups: usize, i: usize) -> Result<Value, Error> {
    let mix = splitmix(i as u64 ^ 0x5eed);
    let agent = (mix % AGENTS as u64) as usize;
    let mut body = Map::new();
    body.insert(
        "subject".into(),
        json!(format!("cost/s{:08}", (i * 7919) % groups)),
    );
    body.insert("predicate".into(), json!("value"));
    body.insert("value".into(), json!(((i * 7919) % 1000) as f64 / 10.0));
    body.insert("agent_id".into(), json!(format!("cost/agent-{agent}")));
    body.insert(
        "timestamp".into(),
        json!(Timestamp::from_micros(base_micros + i as i64 * 1000).to_rfc3339()),
    );
    body.insert("confidence".into(), json!(0.5 + (i % 50) as f64 / 100.0));
    if (mix >> 32) % 100 < SOURCES_PERCENT {
        body.insert(
            "sources".into(),
            json!([format!("src/cost/{}", (mix >> 8) % 1000)]),
        );
    }
    body.insert(
        "public_key".into(),
        json!(keys[agent].public_key().to_hex()),
    );
    Ok(SignedAssertion::sign(body, &keys[agent], &Limits::default())?.to_wire())
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Ingests every body of `file` into a new store at `dir`, timing the parse and the ingest.
fn run(dir: &Path, file: &Path) -> Result<(), Error> {
    if dir.exists() {
        return Err(format!("{} exists: give a new directory", dir.display()).into());
    }
    let db = Db::open(dir, DbConfig::default())?;
    let (mut parse, mut ingest, mut records) = (Duration::ZERO, Duration::ZERO, 0usize);
    for line in BufReader::new(std::fs::File::open(file)?).lines() {
        let line = line?;
        let started = Instant::now();
        let items = assertions(line.as_bytes())?;
        let parsed = Instant::now();
        let results = db.ingest_batch(items)?;
        ingest += parsed.elapsed();
        parse += parsed - started;
        records += results.len();
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            return Err(format!("a record was refused: {e}").into());
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / records.max(1) as f64;
    println!(
        "{records} records: parse {:.2} µs, ingest {:.2} µs per record (wall, one client thread)",
        per(parse),
        per(ingest)
    );
    Ok(())
}

/// The batch body's `assertions`, parsed as the server's `parse_batch` does (strict JSON, then
/// the array; the server also refuses other top-level keys, which these bodies never have).
fn assertions(bytes: &[u8]) -> Result<Vec<Value>, Error> {
    match stemedb::core::parse_json_strict(bytes)? {
        Value::Object(mut map) => match map.remove("assertions") {
            Some(Value::Array(items)) => Ok(items),
            _ => Err("a body without an assertions array".into()),
        },
        _ => Err("a body that is not an object".into()),
    }
}
