//! Administrative reads: `GET /v1/admin/status` (behind `stemedb admin status`), and the
//! backup endpoints behind `stemedb backup`: the snapshot point (last sequence and role
//! grants), pages of log records exactly as stored, as JSON Lines, and the manifest the server
//! signs for a range (it hashes the lines itself, so a backup proves where it came from).
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use stemedb::DbError;
use stemedb::backup::{BACKUP_FORMAT, Manifest, Trust, check_manifest, record_line};

use crate::backup_status::now_unix_s;
use crate::db_work::blocking;
use crate::query_string::{number, params};
use crate::request_body::{body_bytes, parse_wire};
use crate::{ApiError, AppState};

fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

#[utoipa::path(get, path = "/v1/admin/status", tag = "admin",
    responses((status = 200, description = "Version, uptime, counts, storage size, last sequence, commit latency", body = Object)))]
pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let commits = state.db.commit_stats();
    let mean = |total: u64| {
        if commits.commits == 0 {
            0.0
        } else {
            millis(total) / commits.commits as f64
        }
    };
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "data_format_version": stemedb::StoreFormat::VERSION,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "assertion_count": state.db.assertion_count(),
        "last_sequence": state.db.last_sequence(),
        "storage_bytes": state.db.disk_bytes(),
        "commits": {
            "count": commits.commits,
            "records": commits.records,
            "last_ms": millis(commits.last_micros),
            "mean_ms": mean(commits.total_micros),
            "max_ms": millis(commits.max_micros),
            "fsync_last_ms": millis(commits.fsync_last_micros),
            "fsync_mean_ms": mean(commits.fsync_total_micros),
        },
        "roles": state.db.role_grants(u64::MAX),
        "server_public_key": state.server_key.public_key().to_hex(),
    }))
}

/// Most records one page may hold.
const PAGE_RECORDS_MAX: u64 = 50_000;

#[utoipa::path(get, path = "/v1/admin/backup", tag = "admin",
    responses((status = 200, description = "The snapshot point: last sequence, role grants, versions", body = Object)))]
pub async fn snapshot(State(state): State<AppState>) -> Json<Value> {
    // One sequence for both fields: the roles are the grants up to the snapshot point.
    let last_sequence = state.db.last_sequence();
    Json(json!({
        "format": BACKUP_FORMAT,
        "data_format_version": stemedb::StoreFormat::VERSION,
        "server_version": env!("CARGO_PKG_VERSION"),
        "last_sequence": last_sequence,
        "roles": state.db.role_grants(last_sequence),
        "server_public_key": state.server_key.public_key().to_hex(),
    }))
}

#[utoipa::path(get, path = "/v1/admin/backup/records", tag = "admin",
    params(("after" = Option<u64>, Query, description = "Sequence to start after (default 0)"),
        ("upto" = u64, Query, description = "Last sequence of the snapshot"),
        ("limit" = Option<u64>, Query, description = "Records per page, at most 50,000 (default 10,000); a page also ends once its records' signed bytes reach --backup-page-bytes-max (never before its first record)")),
    responses((status = 200, description = "JSON Lines: {sequence, recorded_at, signature, canonical}", content_type = "application/x-ndjson")))]
pub async fn records(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params(raw.as_deref(), &["after", "upto", "limit"])?;
    let after = number(&pairs, "after", 0)?;
    let upto = number(&pairs, "upto", u64::MAX)?;
    let limit = number(&pairs, "limit", 10_000)?;
    if limit == 0 || limit > PAGE_RECORDS_MAX {
        return Err(DbError::BadQuery {
            field: "limit",
            message: format!("must be 1 to {PAGE_RECORDS_MAX}"),
        }
        .into());
    }
    let bytes_max = state.config.backup_page_bytes_max;
    let body = blocking(&state, move |db| {
        let records = db.backup_page(after, upto, limit as usize, bytes_max)?;
        Ok(records.iter().map(record_line).collect::<String>())
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

/// Records hashed per read while attesting.
const ATTEST_PAGE_RECORDS: usize = 10_000;

#[utoipa::path(get, path = "/v1/admin/backup/attest", tag = "admin",
    params(("after" = Option<u64>, Query, description = "Sequence the backup starts after (default 0)"),
        ("upto" = u64, Query, description = "Last sequence of the snapshot")),
    responses((status = 200, description = "The backup's manifest (format stemedb-backup/2), signed by the server key: the server hashes the records.jsonl lines of the range itself", body = Object)))]
pub async fn attest(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Manifest>, ApiError> {
    let pairs = params(raw.as_deref(), &["after", "upto"])?;
    let after = number(&pairs, "after", 0)?;
    let upto = number(&pairs, "upto", u64::MAX)?;
    if after > upto {
        return Err(DbError::BadQuery {
            field: "after",
            message: format!("must not be past upto ({upto}); got {after}"),
        }
        .into());
    }
    let key = std::sync::Arc::clone(&state.server_key);
    let manifest = blocking(&state, move |db| {
        let digest = db.backup_digest(after, upto, ATTEST_PAGE_RECORDS)?;
        let mut manifest = Manifest {
            format: BACKUP_FORMAT.to_owned(),
            data_format_version: stemedb::StoreFormat::VERSION,
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: crate::auth::now().to_rfc3339(),
            first_sequence: after.saturating_add(1),
            last_sequence: digest.last_sequence,
            record_count: digest.record_count,
            records_blake3: digest.records_blake3,
            roles: db.role_grants(digest.last_sequence),
            server_public_key: None,
            signature: None,
        };
        manifest
            .sign(key.secret())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(manifest)
    })
    .await?;
    state
        .backups
        .backed_up(now_unix_s())
        .map_err(|e| ApiError::Internal(format!("recording the backup time: {e}")))?;
    Ok(Json(manifest))
}

#[utoipa::path(post, path = "/v1/admin/backup/verified", tag = "admin",
    request_body(content = Object, description = "The manifest.json of the newest backup of a chain that `stemedb backup verify` verified, byte for byte"),
    responses((status = 200, description = "Recorded: the time of the verification and the chain's last sequence (`stemedb_last_verified_backup_timestamp_seconds`)", body = stemedb_wire::BackupVerified),
        (status = 422, description = "The manifest is not one this server signed")))]
pub async fn verified(
    State(state): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<stemedb_wire::BackupVerified>, ApiError> {
    let bytes = body_bytes(&state.config, body, state.config.assertion_body_bytes_max)?;
    parse_wire(&bytes)?;
    let trust = Trust {
        server_key: Some(state.server_key.public_key()),
        allow_unsigned: false,
    };
    let (manifest, _) =
        check_manifest(&bytes, &trust).map_err(|e| ApiError::ManifestRefused(e.to_string()))?;
    let now = now_unix_s();
    state
        .backups
        .verified(now, manifest.last_sequence)
        .map_err(|e| ApiError::Internal(format!("recording the verification: {e}")))?;
    Ok(Json(stemedb_wire::BackupVerified {
        verified_at_unix_s: now,
        last_sequence: manifest.last_sequence,
    }))
}
