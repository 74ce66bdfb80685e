//! The one way a route changes the admin state: [`AdminCommit`], which applies a change at
//! once on a single node, or publishes it to the admin stream through an [`AdminPublish`] (the
//! cluster transport) and waits until this node has applied it.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{AdminChange, AdminState, Outcome};
use crate::ApiError;
use crate::admin_log::AuditEntry;
use crate::custody::{CustodialCommit, SealedKey};

/// What [`AdminPublish::commit`] returns.
pub type CommitFuture = Pin<Box<dyn Future<Output = Result<u64, String>> + Send>>;

/// The cluster transport's half of an admin commit.
pub trait AdminPublish: Send + Sync {
    /// Publishes `bytes` (an [`AdminChange::to_bytes`]) to the `stemedb-admin` stream and
    /// resolves once THIS node's applier has applied that entry with [`AdminState::apply`],
    /// with its stream sequence. Errors (the stream cannot be reached, the wait timed out, this
    /// node's apply failed) are a text for the caller: the request is answered 503
    /// `admin-unavailable`. The wait should be bounded below the request timeout.
    fn commit(&self, bytes: Vec<u8>) -> CommitFuture;
}

/// How this node commits admin changes.
pub struct AdminCommit {
    state: Arc<AdminState>,
    /// `None`: a single node, which applies each change to its files directly.
    publish: Option<Arc<dyn AdminPublish>>,
}

impl AdminCommit {
    /// A single node: every change is applied to the files at once, as it always was.
    pub fn local(state: Arc<AdminState>) -> AdminCommit {
        AdminCommit {
            state,
            publish: None,
        }
    }

    /// A cluster node: every change goes through `publish`; the node's applier (the
    /// transport's) applies the stream to `state`.
    pub fn replicated(state: Arc<AdminState>, publish: Arc<dyn AdminPublish>) -> AdminCommit {
        AdminCommit {
            state,
            publish: Some(publish),
        }
    }

    /// The state changes are applied to (the transport's applier applies to it).
    pub fn state(&self) -> &Arc<AdminState> {
        &self.state
    }

    pub fn is_replicated(&self) -> bool {
        self.publish.is_some()
    }

    /// Commits one change and tells what applying it did on this node.
    pub async fn commit(&self, change: AdminChange) -> Result<Outcome, ApiError> {
        match &self.publish {
            None => {
                let state = Arc::clone(&self.state);
                tokio::task::spawn_blocking(move || state.apply_local(&change))
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?
                    .map_err(|e| ApiError::Internal(e.to_string()))
            }
            Some(publish) => self.publish_change(publish, &change).await,
        }
    }

    /// [`AdminCommit::commit`] from a blocking thread (never from an async task: it blocks).
    pub fn commit_blocking(&self, change: AdminChange) -> Result<Outcome, ApiError> {
        match &self.publish {
            None => self
                .state
                .apply_local(&change)
                .map_err(|e| ApiError::Internal(e.to_string())),
            Some(publish) => {
                let runtime = tokio::runtime::Handle::try_current()
                    .map_err(|e| ApiError::Internal(format!("admin commit: {e}")))?;
                runtime.block_on(self.publish_change(publish, &change))
            }
        }
    }

    /// Appends an entry to the admin audit log.
    pub async fn record(&self, entry: AuditEntry) -> Result<(), ApiError> {
        self.commit(AdminChange::Audit { entry }).await.map(|_| ())
    }

    async fn publish_change(
        &self,
        publish: &Arc<dyn AdminPublish>,
        change: &AdminChange,
    ) -> Result<Outcome, ApiError> {
        let bytes = change
            .to_bytes()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let seq = publish
            .commit(bytes)
            .await
            .map_err(ApiError::AdminUnavailable)?;
        self.state.outcome(seq).ok_or_else(|| {
            ApiError::Internal(format!(
                "admin entry {seq} was committed but this node has no record of applying it"
            ))
        })
    }
}

impl CustodialCommit for AdminCommit {
    fn commit_custodial(&self, sealed: SealedKey) -> Result<(), ApiError> {
        self.commit_blocking(AdminChange::CustodialKeyPut { sealed })
            .map(|_| ())
    }
}
