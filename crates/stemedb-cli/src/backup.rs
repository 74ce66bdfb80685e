//! `stemedb backup` (online, through the API, so it works against a remote server),
//! `stemedb backup verify` and `stemedb restore` (offline, into a data directory no server
//! holds), with point-in-time restore by sequence or time. The server signs each backup's
//! manifest; `verify` and `restore` accept only a manifest signed by the server key the
//! operator trusts. Format: docs/operations.md; what the signature proves: docs/security.md.
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;
use stemedb::backup::{
    MANIFEST_FILE, Manifest, RECORDS_FILE, Trust, VerifiedBackup, check_manifest,
    parse_record_line, verify_backups,
};
use stemedb::core::{PublicKey, Timestamp};
use stemedb::{Db, DbConfig, SystemClock};

use crate::ServerArgs;
use crate::progress::Progress;

/// Records fetched per request.
const PAGE_RECORDS: usize = 10_000;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    #[command(flatten)]
    server: ServerArgs,
    /// Directory to write the backup into (created; must not exist or be empty).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A previous backup: write only the records after its last sequence (incremental).
    #[arg(long)]
    since: Option<PathBuf>,
    /// Refuse the backup unless the server signs it with this key (64 hex digits, or a file
    /// holding them such as the server's server.pub).
    #[arg(long, value_name = "FILE_OR_HEX")]
    server_key: Option<String>,
}

/// Which server key `verify` and `restore` trust.
#[derive(clap::Args)]
struct TrustArgs {
    /// The server key to trust: its public half as 64 hex digits, or a file holding them (the
    /// server's server.pub). Default: DATA_DIR/server.pub when it exists.
    #[arg(long, value_name = "FILE_OR_HEX")]
    server_key: Option<String>,
    /// Accept stemedb-backup/1 backups, which carry no server signature (prints a warning).
    #[arg(long)]
    allow_unsigned: bool,
}

#[derive(clap::Subcommand)]
enum BackupCommand {
    /// Check backups offline: manifests, file hashes, every id and signature, the chain.
    Verify {
        /// A full backup, then its incrementals in order.
        #[arg(required = true)]
        backups: Vec<PathBuf>,
        #[command(flatten)]
        trust: TrustArgs,
        /// A data directory whose server.pub is trusted when --server-key is not given.
        #[arg(long, env = "STEMEDB_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// After the chain verifies, tell the server (--server, with an admin key), which then
        /// shows the time in stemedb_last_verified_backup_timestamp_seconds.
        #[arg(long)]
        report: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// A full backup, then its incrementals in order.
    #[arg(required = true)]
    backups: Vec<PathBuf>,
    /// The data directory to restore into.
    #[arg(long, env = "STEMEDB_DATA_DIR")]
    data_dir: PathBuf,
    /// Restore into a non-empty directory: the old one is renamed aside, never deleted.
    #[arg(long)]
    force: bool,
    /// Point in time: restore records up to this sequence.
    #[arg(long, conflicts_with = "to_time")]
    to_sequence: Option<u64>,
    /// Point in time: restore records committed (recorded_at) at or before this RFC 3339 time.
    #[arg(long)]
    to_time: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
}

pub async fn backup(args: BackupArgs) -> Result<()> {
    if let Some(BackupCommand::Verify {
        backups,
        trust,
        data_dir,
        report,
        server,
    }) = &args.command
    {
        verify(backups, &trusted(trust, data_dir.as_deref())?)?;
        return match backups.last() {
            Some(newest) if *report => report_verified(server, newest).await,
            _ => Ok(()),
        };
    }
    let out = args
        .out
        .clone()
        .ok_or_else(|| anyhow!("--out DIR is required (or use `backup verify`)"))?;
    let client = args.server.client()?;
    let snapshot = client
        .get_json("/v1/admin/backup", &[])
        .await
        .with_context(|| format!("asking {} for a snapshot point", args.server.server))?;
    let last = snapshot["last_sequence"]
        .as_u64()
        .ok_or_else(|| anyhow!("the server's snapshot has no last_sequence"))?;
    let after = match &args.since {
        Some(previous) => read_manifest(previous)?.last_sequence,
        None => 0,
    };
    ensure!(
        after <= last,
        "the previous backup ends at {after}, past the server's last sequence {last}"
    );
    if out.exists() && std::fs::read_dir(&out)?.next().is_some() {
        bail!("{} exists and is not empty", out.display());
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let records_path = out.join(RECORDS_FILE);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&records_path)?);
    let mut hasher = blake3::Hasher::new();
    let progress = Progress::new(true, "backed up", Some(last - after));
    let (mut cursor, mut count) = (after, 0u64);
    while cursor < last {
        let (after_text, upto_text, limit_text) = (
            cursor.to_string(),
            last.to_string(),
            PAGE_RECORDS.to_string(),
        );
        let page = client
            .get_bytes(
                "/v1/admin/backup/records",
                &[
                    ("after", &after_text),
                    ("upto", &upto_text),
                    ("limit", &limit_text),
                ],
            )
            .await
            .context("fetching records")?;
        let mut lines = 0u64;
        for line in page.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let record = parse_record_line(line)
                .map_err(|e| anyhow!("the server sent a bad record: {e}"))?;
            ensure!(
                record.sequence == cursor + 1,
                "the server skipped from {cursor} to {}",
                record.sequence
            );
            cursor = record.sequence;
            file.write_all(line)?;
            file.write_all(b"\n")?;
            hasher.update(line);
            hasher.update(b"\n");
            lines += 1;
        }
        ensure!(
            lines > 0,
            "the server returned no records after {cursor} (snapshot {last})"
        );
        count += lines;
        progress.set(count);
    }
    progress.finish();
    file.flush()?;
    file.get_ref().sync_all()?;
    drop(file);
    let written = Written {
        first_sequence: after + 1,
        last_sequence: last,
        record_count: count,
        records_blake3: hasher.finalize().to_hex().to_string(),
    };
    let (manifest, bytes) = attest(&client, &written, args.server_key.as_deref()).await?;
    let manifest_path = out.join(MANIFEST_FILE);
    std::fs::write(&manifest_path, bytes)?;
    std::fs::File::open(&manifest_path)?.sync_all()?;
    std::fs::File::open(&out)?.sync_all()?;
    println!(
        "backed up {count} records (sequences {}..={last}) to {}{}; manifest signed by server key {}",
        after + 1,
        out.display(),
        if args.since.is_some() {
            " (incremental)"
        } else {
            ""
        },
        manifest.server_public_key.unwrap_or_default()
    );
    Ok(())
}

/// What the client wrote to `records.jsonl`, to compare with what the server signs.
#[derive(Debug, PartialEq, Eq)]
struct Written {
    first_sequence: u64,
    last_sequence: u64,
    record_count: u64,
    records_blake3: String,
}

/// Asks the server to sign the manifest of the range just written: the server hashes the
/// records itself, so its signature says these are its records. Checks the signature (and,
/// when `expected_key` is given, the key) and that the server's range, count and hash are the
/// ones written. Returns the manifest and the bytes to store.
async fn attest(
    client: &stemedb_client::Client,
    written: &Written,
    expected_key: Option<&str>,
) -> Result<(Manifest, Vec<u8>)> {
    let (after, upto) = (
        (written.first_sequence - 1).to_string(),
        written.last_sequence.to_string(),
    );
    let signed = client
        .get_json(
            "/v1/admin/backup/attest",
            &[("after", &after), ("upto", &upto)],
        )
        .await
        .context("asking the server to sign the backup's manifest")?;
    let bytes = serde_json::to_vec_pretty(&signed)?;
    let server_key = match expected_key {
        Some(text) => parse_server_key(text)?,
        None => {
            let claimed = signed["server_public_key"].as_str().unwrap_or_default();
            PublicKey::parse_field(claimed, "server_public_key")
                .map_err(|e| anyhow!("the server's signed manifest: {e}"))?
        }
    };
    let trust = Trust {
        server_key: Some(server_key),
        allow_unsigned: false,
    };
    let (manifest, _) =
        check_manifest(&bytes, &trust).map_err(|e| anyhow!("the server's signed manifest: {e}"))?;
    let signed_range = Written {
        first_sequence: manifest.first_sequence,
        last_sequence: manifest.last_sequence,
        record_count: manifest.record_count,
        records_blake3: manifest.records_blake3.clone(),
    };
    ensure!(
        signed_range == *written,
        "the server signed {signed_range:?}, but the records written are {written:?}: no \
         manifest written"
    );
    Ok((manifest, bytes))
}

/// A server public key: 64 hex digits, or a file holding them.
fn parse_server_key(text: &str) -> Result<PublicKey> {
    let path = Path::new(text);
    let hex = if path.is_file() {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    } else {
        text.to_owned()
    };
    PublicKey::parse_field(hex.trim(), "server_key").map_err(|e| {
        anyhow!("--server-key {text:?}: neither a readable key file nor a usable key: {e}")
    })
}

/// The trust `verify` and `restore` apply: `--server-key`, else `DATA_DIR/server.pub`.
fn trusted(args: &TrustArgs, data_dir: Option<&Path>) -> Result<Trust> {
    let server_key = match (&args.server_key, data_dir) {
        (Some(text), _) => Some(parse_server_key(text)?),
        (None, Some(dir)) if dir.join("server.pub").is_file() => {
            let path = dir.join("server.pub");
            eprintln!("trusting the server key in {}", path.display());
            Some(parse_server_key(&path.display().to_string())?)
        }
        (None, _) => None,
    };
    Ok(Trust {
        server_key,
        allow_unsigned: args.allow_unsigned,
    })
}

/// The loud warning for accepted unsigned (format /1) backups.
fn warn_unsigned(verified: &VerifiedBackup) {
    if verified.unsigned > 0 {
        eprintln!(
            "WARNING: {} backup(s) are stemedb-backup/1 and carry no server signature: nothing \
             proves they came from your server or were not altered (accepted because of \
             --allow-unsigned)",
            verified.unsigned
        );
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let bytes = std::fs::read(dir.join(MANIFEST_FILE))
        .with_context(|| format!("reading {}", dir.join(MANIFEST_FILE).display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a backup manifest", dir.display()))
}

/// Sends the newest verified manifest, byte for byte, to the server that signed it.
async fn report_verified(server: &ServerArgs, newest: &Path) -> Result<()> {
    let path = newest.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let client = server.client()?;
    let (status, answer) = client
        .post_raw("/v1/admin/backup/verified", bytes)
        .await
        .with_context(|| format!("reporting the verification to {}", server.server))?;
    ensure!(
        status == 200,
        "the server did not record the verification ({status}): {}",
        answer["detail"].as_str().unwrap_or("no detail")
    );
    println!(
        "reported to {}: verified through sequence {}",
        server.server, answer["last_sequence"]
    );
    Ok(())
}

fn verify(backups: &[PathBuf], trust: &Trust) -> Result<()> {
    let dirs: Vec<&Path> = backups.iter().map(PathBuf::as_path).collect();
    let verified =
        verify_backups(&dirs, trust).map_err(|e| anyhow!("backup does not verify: {e}"))?;
    warn_unsigned(&verified);
    let last = verified.records.last().map_or(0, |r| r.sequence);
    println!(
        "verified {} backup(s): {} records, sequences 1..={last}; every checksum, id and signature checks",
        verified.manifests.len(),
        verified.records.len()
    );
    Ok(())
}

pub fn restore(args: &RestoreArgs) -> Result<()> {
    let dirs: Vec<&Path> = args.backups.iter().map(PathBuf::as_path).collect();
    let trust = trusted(&args.trust, Some(&args.data_dir))?;
    let verified = verify_backups(&dirs, &trust)
        .map_err(|e| anyhow!("backup does not verify, nothing restored: {e}"))?;
    warn_unsigned(&verified);
    let to_time = args
        .to_time
        .as_deref()
        .map(|t| Timestamp::parse_field(t, "to_time"))
        .transpose()
        .map_err(|e| anyhow!("--to-time: {e}"))?;
    let first_recorded_at = verified.records.first().map(|r| r.recorded_at);
    let records: Vec<_> = verified
        .records
        .into_iter()
        .take_while(|r| {
            args.to_sequence.is_none_or(|n| r.sequence <= n)
                && to_time.is_none_or(|t| r.recorded_at <= t)
        })
        .collect();
    if let Some(n) = args.to_sequence {
        ensure!(
            records.len() as u64 == n,
            "--to-sequence {n}: the backups hold only {}",
            records.len()
        );
    }
    // A point in time before the first record would leave an empty directory that looks
    // restored; say so instead.
    ensure!(
        !records.is_empty(),
        "nothing to restore: {}",
        match (&args.to_time, first_recorded_at) {
            (Some(t), Some(first)) => format!(
                "--to-time {t} is before the backups' first record (recorded at {})",
                first.to_rfc3339()
            ),
            _ if args.to_sequence == Some(0) => "--to-sequence 0 selects no record".to_owned(),
            _ => "the backups hold no records".to_owned(),
        }
    );
    let replaced = prepare_target(&args.data_dir, args.force)?;
    let last_roles = verified
        .manifests
        .last()
        .map(|m| m.roles.clone())
        .unwrap_or_default();
    let db = Db::open(&args.data_dir, DbConfig::default())
        .with_context(|| format!("opening {}", args.data_dir.display()))?;
    let progress = Progress::new(true, "restored", Some(records.len() as u64));
    let restored = db.restore(records, &last_roles, &mut |n| progress.set(n))?;
    progress.finish();
    db.close()?;
    drop(db);
    let db = Db::open(&args.data_dir, DbConfig::default())?;
    let report = db.check(&mut |_, _| {})?;
    db.close()?;
    ensure!(
        report.ok(),
        "the restored directory fails its check: {:?}",
        report.problems
    );
    let carried = carry_server_files(replaced.as_deref(), &args.data_dir)?;
    record_restore(args, restored, replaced.as_deref(), &carried).with_context(|| {
        format!(
            "the {restored} records were restored and checked, but the restore could not be \
             recorded in {}'s admin audit log",
            args.data_dir.display()
        )
    })?;
    println!(
        "restored {restored} records into {} (indexes rebuilt, truth state derived; check: {} valid, 0 problems)",
        args.data_dir.display(),
        report.valid
    );
    Ok(())
}

/// Copies the server's own files (API keys, sealed agent keys, admin audit log, key files)
/// from the directory a forced restore replaced, so that the restored server keeps its keys
/// and its audit history. Copies keep the files' modes (0600).
fn carry_server_files(replaced: Option<&Path>, dir: &Path) -> Result<Vec<&'static str>> {
    let Some(replaced) = replaced else {
        return Ok(Vec::new());
    };
    let mut carried = Vec::new();
    for name in stemedb_server::SERVER_FILES {
        let from = replaced.join(name);
        if from.exists() {
            std::fs::copy(&from, dir.join(name))
                .with_context(|| format!("carrying {} over", from.display()))?;
            carried.push(name);
        }
    }
    Ok(carried)
}

/// Appends the restore to the restored directory's admin audit log (who, what, when).
fn record_restore(
    args: &RestoreArgs,
    restored: u64,
    replaced: Option<&Path>,
    carried: &[&str],
) -> Result<()> {
    let log = stemedb_server::AdminLog::open(&args.data_dir)?;
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let backups: Vec<String> = args
        .backups
        .iter()
        .map(|b| b.display().to_string())
        .collect();
    let detail = serde_json::json!({
        "backups": backups,
        "records": restored,
        "to_sequence": args.to_sequence,
        "to_time": args.to_time,
        "replaced": replaced.map(|p| p.display().to_string()),
        "carried_over": carried,
    });
    let action = stemedb_server::AdminAction {
        actor: &format!("cli:{user}"),
        action: "restore",
        target: &args.data_dir.display().to_string(),
        detail,
    };
    log.append(&action, stemedb::core::Clock::now(&SystemClock))?;
    Ok(())
}

/// Refuses a directory a server holds; refuses a non-empty one unless `force`, which renames
/// it aside (never deletes) and returns where it went.
fn prepare_target(dir: &Path, force: bool) -> Result<Option<PathBuf>> {
    let non_empty = dir.exists() && std::fs::read_dir(dir)?.next().is_some();
    if !non_empty {
        return Ok(None);
    }
    let lock = dir.join("LOCK");
    if lock.exists() {
        let file = std::fs::OpenOptions::new().write(true).open(&lock)?;
        if file.try_lock().is_err() {
            bail!(
                "{} is in use by a running server; stop it first",
                dir.display()
            );
        }
    }
    if !force {
        bail!(
            "{} is not empty; pass --force to move it aside (it is renamed, never deleted)",
            dir.display()
        );
    }
    let stamp = Value::from(stemedb::core::Clock::now(&SystemClock).micros()).to_string();
    let aside = dir.with_file_name(format!(
        "{}.replaced-{stamp}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("data")
    ));
    std::fs::rename(dir, &aside).with_context(|| format!("moving {} aside", dir.display()))?;
    eprintln!("moved the old {} to {}", dir.display(), aside.display());
    Ok(Some(aside))
}
