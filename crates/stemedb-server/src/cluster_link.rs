//! Joins the server's admin state to cluster mode: the admin commit path publishes through the
//! cluster's admin stream, and the cluster's admin applier applies each entry to this node's
//! files (docs/cluster.md, section 1). The transport is bound after the state is open (the
//! cluster needs the open database and the state's apply function), before any request.
use std::sync::{Arc, OnceLock};

use stemedb::Db;
use stemedb_cluster::{AdminHooks, Cluster, ClusterConfig};

use crate::admin_state::{AdminPublish, CommitFuture};
use crate::{AppState, CreatedFiles, ServerConfig, StartError};

/// The admin transport, bound once the cluster has started.
#[derive(Default)]
struct LatePublish(OnceLock<Arc<Cluster>>);

impl AdminPublish for LatePublish {
    fn commit(&self, bytes: Vec<u8>) -> CommitFuture {
        let cluster = self.0.get().cloned();
        Box::pin(async move {
            let cluster = cluster.ok_or("cluster mode is still starting")?;
            cluster.commit_admin(bytes).await.map_err(|e| e.to_string())
        })
    }
}

impl AppState {
    /// The state of a cluster node: opens the server's files with a replicated admin commit
    /// path, joins the cluster (`config.cluster`), and on this node's first start in the
    /// cluster publishes its local admin state (its bootstrap key, say) so that it acts on
    /// every node.
    pub async fn open_clustered(
        db: Db,
        config: ServerConfig,
        cluster: ClusterConfig,
    ) -> Result<(AppState, CreatedFiles), StartError> {
        let publish = Arc::new(LatePublish::default());
        let (mut state, created) =
            AppState::open_replicated(db, config, Arc::clone(&publish) as Arc<dyn AdminPublish>)?;
        let admin = Arc::clone(state.admin.state());
        let first_start = admin.applied_seq() == 0;
        let hooks = AdminHooks {
            applied: admin.applied_seq(),
            apply: Arc::new(move |seq, bytes| {
                admin.apply_bytes(seq, bytes).map_err(|e| e.to_string())
            }),
        };
        let started = Cluster::start(Arc::clone(&state.db), cluster, hooks).await?;
        let started = Arc::new(started);
        let _ = publish.0.set(Arc::clone(&started));
        state.cluster = Some(started);
        if first_start {
            publish_local_state(&state).await?;
        }
        Ok((state, created))
    }
}

/// Publishes every key and custodial key this node holds (their puts are idempotent).
async fn publish_local_state(state: &AppState) -> Result<(), StartError> {
    let changes = state.admin.state().local_changes()?;
    let Some(cluster) = &state.cluster else {
        return Ok(());
    };
    for change in changes {
        let bytes = change.to_bytes()?;
        cluster.commit_admin(bytes).await?;
    }
    Ok(())
}
