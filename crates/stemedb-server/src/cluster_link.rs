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
        let master_key = shared_master_key(&config, db.dir())?;
        let publish = Arc::new(LatePublish::default());
        let (mut parts, created) = AppState::open_replicated_parts(
            db,
            config,
            Arc::clone(&publish) as Arc<dyn AdminPublish>,
        )?;
        let admin = Arc::clone(parts.admin.state());
        let first_start = admin.applied_seq() == 0;
        let hooks = AdminHooks {
            applied: admin.applied_seq(),
            apply: Arc::new(move |seq, bytes| {
                admin.apply_bytes(seq, bytes).map_err(|e| e.to_string())
            }),
        };
        let started = Cluster::start(Arc::clone(&parts.db), cluster, hooks, &master_key).await?;
        let started = Arc::new(started);
        let _ = publish.0.set(Arc::clone(&started));
        parts.cluster = Some(started);
        let state = AppState(Arc::new(parts));
        if first_start {
            publish_local_state(&state).await?;
        }
        Ok((state, created))
    }
}

/// The custodial master key, which must be given (`--master-key-file` or `STEMEDB_MASTER_KEY`):
/// the keys that authenticate the cluster's stream entries derive from it, so every node needs
/// the same one, and a key each node created for itself in its data directory would differ.
fn shared_master_key(config: &ServerConfig, dir: &std::path::Path) -> Result<[u8; 32], StartError> {
    if config.master_key.is_none() && config.master_key_file.is_none() {
        return Err(crate::custody::CustodyError::BadMasterKey(
            "is required in cluster mode, the same on every node: give it with \
             --master-key-file or STEMEDB_MASTER_KEY (docs/cluster.md)"
                .into(),
        )
        .into());
    }
    let given = config.master_key.as_ref().map(|k| k.0.as_str());
    let (key, _) =
        crate::custody::resolve_master_key(given, config.master_key_file.as_deref(), dir)?;
    Ok(key)
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
