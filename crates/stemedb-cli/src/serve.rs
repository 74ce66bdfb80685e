//! `stemedb serve`: open the data directory, bind, serve until SIGINT/SIGTERM, close cleanly.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use stemedb::Db;
use stemedb_server::{AppState, ServerConfig};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Data directory (created if missing).
    #[arg(long, env = "STEMEDB_DATA_DIR", default_value = "./stemedb-data")]
    data_dir: PathBuf,
    /// Address to listen on. Loopback by default; use 0.0.0.0:PORT to expose it.
    #[arg(long, env = "STEMEDB_BIND_ADDR", default_value = "127.0.0.1:18180")]
    bind: String,
    /// Largest body of one assertion or query, in bytes.
    #[arg(long, env = "STEMEDB_ASSERTION_BODY_BYTES_MAX", default_value_t = 1024 * 1024)]
    assertion_body_bytes_max: usize,
    /// Largest batch body, in bytes.
    #[arg(long, env = "STEMEDB_BATCH_BODY_BYTES_MAX", default_value_t = 32 * 1024 * 1024)]
    batch_body_bytes_max: usize,
    /// Most assertions in one batch.
    #[arg(long, env = "STEMEDB_BATCH_LEN_MAX", default_value_t = 10_000)]
    batch_len_max: usize,
    /// Request timeout, in milliseconds.
    #[arg(long, env = "STEMEDB_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// How far ahead of the server clock a timestamp may be, in milliseconds.
    #[arg(long, env = "STEMEDB_FUTURE_SKEW_MS", default_value_t = 300_000)]
    future_skew_ms: i64,
    /// Storage block cache, in bytes.
    #[arg(long, env = "STEMEDB_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    cache_bytes: u64,
    /// Journal bytes kept before flushing (at least 64 MiB); bounds replay after a crash.
    #[arg(long, env = "STEMEDB_JOURNAL_BYTES_MAX", default_value_t = 64 * 1024 * 1024)]
    journal_bytes_max: u64,
}

impl ServeArgs {
    fn server_config(&self) -> ServerConfig {
        let mut config = ServerConfig {
            assertion_body_bytes_max: self.assertion_body_bytes_max,
            batch_body_bytes_max: self.batch_body_bytes_max,
            request_timeout_ms: self.request_timeout_ms,
            ..ServerConfig::default()
        };
        config.db.batch_len_max = self.batch_len_max;
        config.db.future_skew_ms = self.future_skew_ms;
        config.db.cache_bytes = self.cache_bytes;
        config.db.journal_bytes_max = self.journal_bytes_max;
        config
    }
}

pub fn run(args: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let config = args.server_config();
    let started = Instant::now();
    let db = Db::open(&args.data_dir, config.db.clone())
        .with_context(|| format!("opening data directory {}", args.data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.bind)
            .await
            .with_context(|| format!("binding {}", args.bind))?;
        let address = listener.local_addr()?;
        tracing::info!(
            data_dir = %args.data_dir.display(),
            assertions = db.assertion_count(),
            ready_ms = started.elapsed().as_millis() as u64,
            "opened"
        );
        // Tests and scripts read this line to find the port when binding to :0.
        println!("stemedb listening on http://{address}");
        let state = AppState {
            db: Arc::new(db),
            config: Arc::new(config),
            started,
        };
        stemedb_server::serve(listener, state, shutdown_signal())
            .await
            .context("serving")?;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = interrupt => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = interrupt.await;
}
