//! Database work of a request: run off the async threads, bounded by the request's deadline.
use stemedb::Db;

use crate::{ApiError, AppState};

/// Runs blocking database work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Db) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = std::sync::Arc::clone(&state.db);
    tokio::task::spawn_blocking(move || work(&db))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// When the request's own work must stop: `request_timeout_ms` from now (the timeout layer
/// answers 503 at about the same moment).
pub(crate) fn deadline(state: &AppState) -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_millis(state.config.request_timeout_ms)
}
