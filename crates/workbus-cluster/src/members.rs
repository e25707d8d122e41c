//! Membership: each node renews its key in the nodes bucket, whose entries
//! expire after the lease; the live nodes are the keys present.
//!
//! NATS 2.9 removes an expired entry without telling watchers, so every node
//! lists the keys every quarter of the lease: a node that stopped renewing is
//! gone from every view at most a lease and a quarter after its last renewal.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind};
use futures_util::TryStreamExt;
use tokio::sync::watch;

use crate::names;
use crate::ClusterError;

pub(crate) struct Members {
    kv: kv::Store,
    node: String,
    live: RwLock<Arc<Vec<String>>>,
    changed: watch::Sender<u64>,
}

impl Members {
    /// Joins: takes this node's key, waiting out a previous run's key (it
    /// expires within the lease) but never taking a key another live node renews.
    pub(crate) async fn join(
        kv: kv::Store,
        node: &str,
        lease: Duration,
    ) -> Result<Members, ClusterError> {
        let deadline = tokio::time::Instant::now() + lease * 2;
        loop {
            match kv.create(node, node.as_bytes().to_vec().into()).await {
                Ok(_) => break,
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(ClusterError::NameTaken(node.to_owned()));
                    }
                    tokio::time::sleep(lease / 4).await;
                }
                Err(e) => {
                    return Err(ClusterError::Setup {
                        what: format!("this node's key in {}", kv.name),
                        reason: e.to_string(),
                    })
                }
            }
        }
        let members = Members {
            kv,
            node: node.to_owned(),
            live: RwLock::new(Arc::new(vec![node.to_owned()])),
            changed: watch::channel(0).0,
        };
        members.scan().await;
        Ok(members)
    }

    /// Renews this node's key.
    pub(crate) async fn renew(&self) {
        if let Err(error) = self
            .kv
            .put(&self.node, self.node.as_bytes().to_vec().into())
            .await
        {
            tracing::warn!(node = %self.node, %error, "could not renew this node's membership");
        }
    }

    /// Lists the live nodes; answers whether the view changed.
    pub(crate) async fn scan(&self) -> bool {
        let keys = match self.kv.keys().await {
            Ok(keys) => keys
                .try_collect::<Vec<String>>()
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut nodes: Vec<String> = match keys {
            Ok(k) => k,
            Err(error) => {
                tracing::warn!(node = %self.node, %error, "could not list the fleet's members");
                return false;
            }
        };
        // This node is live as far as it is concerned: it renews its key.
        if !nodes.contains(&self.node) {
            nodes.push(self.node.clone());
        }
        nodes.sort_unstable();
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        if **live == nodes {
            return false;
        }
        tracing::info!(node = %self.node, members = ?nodes, "the fleet's members changed");
        *live = Arc::new(nodes);
        self.changed.send_modify(|g| *g += 1);
        true
    }

    /// Leaves: removes this node's key, so the others take its pools at once.
    pub(crate) async fn leave(&self) {
        if let Err(error) = self.kv.delete(&self.node).await {
            tracing::warn!(node = %self.node, %error, "could not remove this node's membership");
        }
    }

    pub(crate) fn live(&self) -> Arc<Vec<String>> {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn is_live(&self, node: &str) -> bool {
        self.live().iter().any(|n| n == node)
    }

    /// The node that owns the pool named `pool` in this node's view.
    pub(crate) fn owner(&self, pool: &str) -> String {
        let live = self.live();
        names::owner(pool, &live)
            .unwrap_or(self.node.as_str())
            .to_owned()
    }

    pub(crate) fn me(&self) -> &str {
        &self.node
    }

    /// Wakes when the view changes.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
