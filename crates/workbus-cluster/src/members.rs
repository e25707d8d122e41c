//! Membership: each node renews its key in the nodes bucket, whose entries
//! expire after the lease; the live nodes are the keys present.
//!
//! NATS 2.9 removes an expired entry without telling watchers, so every node
//! lists the keys every quarter of the lease: a node that stopped renewing is
//! gone from every view at most a lease and a quarter after its last renewal.
//!
//! ## A lease that lapsed
//!
//! A node renews its key with compare-and-set on the key's revision, and
//! counts its lease from the moment it *sent* a renewal that succeeded. A node
//! that was paused or cut off past its lease finds its key gone when it
//! renews: it lets every pool it held go (the others own them now), then
//! joins again. Until a renewal succeeds, its lease is not valid and it
//! serves nothing from memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use futures_util::TryStreamExt;
use tokio::sync::watch;

use crate::names;
use crate::stats::ClusterStats;
use crate::ClusterError;

/// What a renewal found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Renewal {
    /// The lease goes on.
    Renewed,
    /// The key was gone or taken: the lease had lapsed. Joined again.
    Lapsed,
    /// NATS did not answer: the lease runs out unless a later renewal succeeds.
    Failed,
}

pub(crate) struct Members {
    stats: Arc<ClusterStats>,
    kv: kv::Store,
    node: String,
    lease: Duration,
    /// When this node started counting: `valid_until` is in ms after it.
    epoch: Instant,
    /// Until when this node's lease holds (ms after `epoch`). Relaxed: a
    /// value of its own, published with nothing else.
    valid_until: AtomicU64,
    /// The revision of this node's key, for the next renewal's compare-and-set.
    revision: AtomicU64,
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
        stats: Arc<ClusterStats>,
    ) -> Result<Members, ClusterError> {
        let deadline = tokio::time::Instant::now() + lease * 2;
        let epoch = Instant::now();
        let revision = loop {
            match kv.create(node, node.as_bytes().to_vec().into()).await {
                Ok(rev) => break rev,
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
        };
        let members = Members {
            stats,
            kv,
            node: node.to_owned(),
            lease,
            epoch,
            valid_until: AtomicU64::new(ms(lease)),
            revision: AtomicU64::new(revision),
            live: RwLock::new(Arc::new(vec![node.to_owned()])),
            changed: watch::channel(0).0,
        };
        members.scan().await;
        Ok(members)
    }

    /// Renews this node's key; when it had lapsed, joins again (the caller
    /// has to let its pools go first: see [`Renewal::Lapsed`]).
    pub(crate) async fn renew(&self) -> Renewal {
        let sent = self.epoch.elapsed();
        let value = self.node.as_bytes().to_vec();
        let rev = self.revision.load(Ordering::Relaxed);
        // Bounded by half the lease: a renewal that hangs must not hold the next ones up.
        let update = tokio::time::timeout(
            self.lease / 2,
            self.kv.update(&self.node, value.into(), rev),
        );
        match update.await {
            Err(_) => {
                tracing::warn!(node = %self.node, "renewing this node's membership timed out");
                Renewal::Failed
            }
            Ok(Ok(rev)) => {
                self.revision.store(rev, Ordering::Relaxed);
                self.valid_until
                    .store(ms(sent + self.lease), Ordering::Relaxed);
                Renewal::Renewed
            }
            Ok(Err(e)) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                // Lapsed: from now on this node holds nothing until it joins again.
                self.valid_until.store(0, Ordering::Relaxed);
                tracing::warn!(node = %self.node, "this node's lease lapsed (paused or cut off): its pools are the others' now");
                Renewal::Lapsed
            }
            Ok(Err(error)) => {
                tracing::warn!(node = %self.node, %error, "could not renew this node's membership");
                Renewal::Failed
            }
        }
    }

    /// Joins again after a lapse (the pools it held are let go already).
    pub(crate) async fn rejoin(&self) -> bool {
        let sent = self.epoch.elapsed();
        let put = tokio::time::timeout(
            self.lease / 2,
            self.kv
                .put(&self.node, self.node.as_bytes().to_vec().into()),
        );
        match put
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            Ok(rev) => {
                self.revision.store(rev, Ordering::Relaxed);
                self.valid_until
                    .store(ms(sent + self.lease), Ordering::Relaxed);
                tracing::info!(node = %self.node, "joined the fleet again");
                true
            }
            Err(error) => {
                tracing::warn!(node = %self.node, %error, "could not join the fleet again");
                false
            }
        }
    }

    /// Whether this node's lease holds now: it may serve the pools it holds.
    pub(crate) fn lease_valid(&self) -> bool {
        ms(self.epoch.elapsed()) < self.valid_until.load(Ordering::Relaxed)
    }

    /// Lists the live nodes; answers whether the view changed.
    pub(crate) async fn scan(&self) -> bool {
        let list = async {
            match self.kv.keys().await {
                Ok(keys) => keys
                    .try_collect::<Vec<String>>()
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        let keys = tokio::time::timeout(self.lease / 2, list)
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
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
        self.stats.members.store(nodes.len(), Ordering::Relaxed);
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

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
