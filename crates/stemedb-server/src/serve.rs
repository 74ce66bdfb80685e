//! The connection layer under the router: accepts connections (plain TCP or TLS), caps how
//! many are open at once, hands each to a connection worker (`workers.rs`), bounds each
//! request head's size and the time a client may take to send it (hyper), follows request
//! framing to refuse ambiguous heads (`framing.rs`), and on shutdown lets requests in flight
//! finish before the store closes.
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::direct::{Direct, DirectRoute};
use crate::framing::{Framing, FramingCheck};
use crate::tls::HANDSHAKE_TIMEOUT_MS;
use crate::workers::{Slot, Workers};

use crate::{ApiError, AppState, problem};

/// Connections refused at the cap that may be answered at once; past this they are dropped.
const REFUSALS_IN_FLIGHT_MAX: usize = 64;
/// How long a refused connection's request is read before the 503 is written (so that the
/// client reads the answer instead of a reset).
const REFUSAL_READ_MS: u64 = 200;
/// How long a refused connection's TLS handshake may take: short, as the refusals answered at
/// once are few ([`REFUSALS_IN_FLIGHT_MAX`]) and a silent client must not hold one long.
const REFUSAL_HANDSHAKE_MS: u64 = 1_000;
/// How long the tasks of connections closed at the end of the grace period get to be dropped.
const ABORTED_WAIT_MS: u64 = 1_000;
/// The pause after a failed accept (out of file descriptors, say) before the next one.
const ACCEPT_ERROR_PAUSE_MS: u64 = 50;
/// The least time between two log lines about failed accepts.
const ACCEPT_FAILURE_LOG_MS: u64 = 1_000;

/// How a connection's bytes travel: as they are, or under TLS, whose handshake runs in the
/// connection's own task (bounded in time, `tls.rs`), so that a slow or silent client never
/// holds up the accept loop.
#[derive(Clone)]
pub(crate) enum Transport {
    Plain,
    Tls(TlsAcceptor),
}

/// Serves `listener` until `shutdown` resolves; then stops accepting, lets every open
/// connection finish its request in flight (at most `request_timeout_ms` more), and closes the
/// database (finishing commits in flight).
/// `loopback_bind`: the listener is on a loopback address (see `edge.rs` for `Host`).
pub(crate) async fn serve_on(
    listener: TcpListener,
    transport: Transport,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    loopback_bind: bool,
) -> std::io::Result<()> {
    let db = Arc::clone(&state.db);
    let config = Arc::clone(&state.config);
    let workers = Workers::start(config.connection_workers)?;
    crate::observe::spawn_upkeep();
    let crate::Routes {
        router: app,
        direct,
    } = crate::routes(state, loopback_bind);
    let open = Arc::new(Semaphore::new(config.connections_max));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT_MAX));
    let (stop, stopping) = watch::channel(false);
    let refresher = tokio::spawn(crate::refresh::refresh_reliability(
        Arc::clone(&db),
        crate::refresh::RefreshSettings {
            refresh_min: Duration::from_millis(config.reliability_refresh_ms),
            priority: config.reliability_pass_priority,
            idle_pass_max: Duration::from_millis(config.reliability_idle_pass_ms_max),
        },
        stopping.clone(),
    ));
    let mut connections = JoinSet::new();
    let mut accept_failures = AcceptFailures::default();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was taken: go on after
                // a pause rather than spin (as axum's own accept loop does).
                accept_failures.failed(&e);
                tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_PAUSE_MS)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        match Arc::clone(&open).try_acquire_owned() {
            Ok(permit) => {
                let connection = Connection {
                    app: app.clone(),
                    direct: direct.clone(),
                    config: Arc::clone(&config),
                    stopping: stopping.clone(),
                    _permit: permit,
                };
                // Taken off this runtime's poller here, put on the worker's in its task.
                let stream = match stream.into_std() {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "an accepted connection could not be handed on");
                        continue;
                    }
                };
                let slot = workers.pick();
                let handle = slot.as_ref().map(|slot| slot.handle.clone());
                let task = serve_connection(stream, transport.clone(), connection, slot);
                match handle {
                    Some(handle) => connections.spawn_on(task, &handle),
                    None => connections.spawn(task),
                };
            }
            Err(_) => {
                metrics::counter!("stemedb_connections_refused_total").increment(1);
                if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
                    tokio::spawn(refuse(
                        stream,
                        transport.clone(),
                        config.connections_max,
                        permit,
                    ));
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let grace = Duration::from_millis(config.request_timeout_ms.saturating_add(1_000));
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the shutdown grace period; closing them"
        );
        connections.abort_all();
        // With no workers the aborted tasks are dropped on this runtime: wait for that, so
        // that what they hold (the database among it) is let go before the close.
        let _ = tokio::time::timeout(Duration::from_millis(ABORTED_WAIT_MS), async {
            while connections.join_next().await.is_some() {}
        })
        .await;
    }
    // The refresher and the workers' tasks hold the database: they must have let go (a
    // refresh in flight finishes) before the close, so that the data directory's lock goes
    // with the last handle.
    db.stop_reliability();
    let _ = refresher.await;
    let _ = tokio::task::spawn_blocking(move || workers.stop()).await;
    let closed = tokio::task::spawn_blocking(move || db.close()).await;
    match closed {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(std::io::Error::other(e.to_string())),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

/// Failed accepts, logged at most once per [`ACCEPT_FAILURE_LOG_MS`]: out of descriptors, the
/// loop retries every [`ACCEPT_ERROR_PAUSE_MS`] and would otherwise log twenty lines a second.
#[derive(Default)]
struct AcceptFailures {
    logged_at: Option<Instant>,
    /// Failures since the last line.
    unlogged: u64,
}

impl AcceptFailures {
    fn failed(&mut self, error: &std::io::Error) {
        self.unlogged += 1;
        let due = self
            .logged_at
            .is_none_or(|at| at.elapsed() >= Duration::from_millis(ACCEPT_FAILURE_LOG_MS));
        if due {
            tracing::warn!(%error, failures = self.unlogged, "accept failed");
            self.logged_at = Some(Instant::now());
            self.unlogged = 0;
        }
    }
}

/// One accepted connection, holding its place under the cap until it ends.
struct Connection {
    app: axum::Router,
    /// `GET /v1/query`, answered without the router (`direct.rs`).
    direct: Direct,
    config: Arc<crate::ServerConfig>,
    stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

/// Who answers one request: the direct path (`direct.rs`) or the router.
enum Route {
    Direct(Direct, DirectRoute),
    Router(TowerToHyperService<axum::Router>),
}

impl Connection {
    async fn run<I>(mut self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        metrics::gauge!("stemedb_connections_open").increment(1.0);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(self.config.header_read_timeout_ms))
            .max_buf_size(
                self.config
                    .header_bytes_max
                    .max(crate::config::HEADER_BYTES_MIN),
            );
        // Each request is checked for ambiguous framing below hyper (`framing.rs`).
        let framing = Arc::new(Framing::default());
        let io = FramingCheck::new(io, Arc::clone(&framing), self.config.header_bytes_max);
        let app = TowerToHyperService::new(self.app.clone());
        let direct = self.direct.clone();
        let service = hyper::service::service_fn(move |mut request| {
            framing.mark(&mut request);
            let route = match Direct::takes(&request) {
                Some(route) => Route::Direct(direct.clone(), route),
                None => Route::Router(app.clone()),
            };
            async move {
                match route {
                    Route::Direct(direct, route) => {
                        let request = request.map(axum::body::Body::new);
                        Ok(direct.answer(route, request).await)
                    }
                    Route::Router(app) => hyper::service::Service::call(&app, request).await,
                }
            }
        });
        let connection = http.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => log_end(result),
            () = stopped(&mut self.stopping) => {
                connection.as_mut().graceful_shutdown();
                log_end(connection.await);
            }
        }
        metrics::gauge!("stemedb_connections_open").decrement(1.0);
    }
}

/// One connection's task, on its worker (or the serving runtime, with no workers): the
/// stream joins this runtime's poller, then the TLS handshake if any, then HTTP.
async fn serve_connection(
    stream: std::net::TcpStream,
    transport: Transport,
    connection: Connection,
    _slot: Option<Slot>,
) {
    let stream = match TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!(error = %e, "a connection could not join its worker's poller");
            return;
        }
    };
    match transport {
        Transport::Plain => connection.run(stream).await,
        Transport::Tls(acceptor) => {
            // A handshake in progress gives way to shutdown (it has no request to finish).
            let mut stopping = connection.stopping.clone();
            let tls = tokio::select! {
                tls = crate::tls::handshake(&acceptor, stream, HANDSHAKE_TIMEOUT_MS) => tls,
                () = stopped(&mut stopping) => None,
            };
            if let Some(tls) = tls {
                connection.run(tls).await;
            }
        }
    }
}

/// Resolves once shutdown begins (or the server is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Clients going away, slow heads and oversized heads end here; none is the server's
        // fault, so they are not errors.
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Answers a connection over the cap with `503 too-many-connections` (under TLS after the
/// handshake) and closes it.
async fn refuse(
    stream: TcpStream,
    transport: Transport,
    connections_max: usize,
    _permit: OwnedSemaphorePermit,
) {
    match transport {
        Transport::Plain => answer_refused(stream, connections_max).await,
        Transport::Tls(acceptor) => {
            let limit_ms = REFUSAL_HANDSHAKE_MS;
            if let Some(tls) = crate::tls::handshake(&acceptor, stream, limit_ms).await {
                answer_refused(tls, connections_max).await;
            }
        }
    }
}

async fn answer_refused<I>(mut io: I, connections_max: usize)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut scratch = [0u8; 4096];
    let _ = tokio::time::timeout(
        Duration::from_millis(REFUSAL_READ_MS),
        io.read(&mut scratch),
    )
    .await;
    let answer = problem::raw_http(&ApiError::TooManyConnections { connections_max });
    let _ = tokio::time::timeout(Duration::from_millis(REFUSAL_READ_MS), async {
        let _ = io.write_all(&answer).await;
        let _ = io.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::AcceptFailures;

    /// Failures in a burst: the first is logged, the rest counted for the next line.
    #[test]
    fn a_burst_of_failed_accepts_is_logged_once_and_counted() {
        let mut failures = AcceptFailures::default();
        let error = std::io::Error::from_raw_os_error(24);
        for _ in 0..5 {
            failures.failed(&error);
        }
        assert!(failures.logged_at.is_some());
        assert_eq!(failures.unlogged, 4);
    }
}
