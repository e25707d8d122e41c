//! Calls to the owner: routing a call from any node, and serving the calls
//! routed to this one.
//!
//! A call for a pool goes to the node that owns it in the caller's view
//! (NATS request-reply on that node's call subject). The owner serves it if
//! it owns the pool in its own view too, taking the pool over first when it
//! does not hold it yet; otherwise it answers [`Reply::Retry`], and the
//! caller asks again (views agree within a membership scan). A call that
//! finds no owner within [`call_timeout`](crate::ClusterConfig::call_timeout)
//! is answered [`Error::Timeout`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use workbus_core::{Answer, Bus, Call, Error, PoolRef, Router};

use crate::members::Members;
use crate::names::call_subject;
use crate::stats::{bump, ClusterStats};
use crate::store::{Claim, KvStore};
use crate::view::View;
use crate::ClusterConfig;

/// What a node answers a routed call.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// Served.
    Answer(Result<Answer, Error>),
    /// Not this node's pool (yet): ask again.
    Retry,
}

/// How long to wait before asking again when the owner is not settled.
const RETRY: Duration = Duration::from_millis(50);

/// What a take found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// The bus holds the pool.
    Held,
    /// No such pool: the call is served here (a creation, or a 404).
    Missing,
    /// A live node still holds it.
    Wait,
}

pub(crate) struct Shared {
    pub(crate) stats: Arc<ClusterStats>,
    pub(crate) config: ClusterConfig,
    pub(crate) client: async_nats::Client,
    pub(crate) store: KvStore,
    pub(crate) members: Members,
    pub(crate) view: View,
    /// One take at a time per pool.
    takes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Shared {
    pub(crate) fn new(
        stats: Arc<ClusterStats>,
        config: ClusterConfig,
        client: async_nats::Client,
        store: KvStore,
        members: Members,
    ) -> Self {
        Shared {
            stats,
            config,
            client,
            store,
            members,
            view: View::default(),
            takes: Mutex::default(),
        }
    }

    /// Makes sure `bus` holds the pool named `name` if the fleet has it:
    /// claims its document and adopts its records.
    pub(crate) async fn take(&self, bus: &Bus, name: &str) -> Result<Taken, Error> {
        let lock = {
            let mut takes = self.takes.lock().unwrap_or_else(PoisonError::into_inner);
            takes.entry(name.to_owned()).or_default().clone()
        };
        let taken = {
            let _one = lock.lock().await;
            self.take_once(bus, name).await
        };
        // A name asked for is not kept: calls for pools that do not exist must not grow the map.
        let mut takes = self.takes.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::strong_count(&lock) == 2 {
            takes.remove(name);
        }
        taken
    }

    async fn take_once(&self, bus: &Bus, name: &str) -> Result<Taken, Error> {
        if bus.holds(name) {
            return Ok(Taken::Held);
        }
        let claim = self
            .store
            .claim(name.as_bytes(), |n| self.members.is_live(n))
            .await
            .map_err(Error::Store)?;
        match claim {
            Claim::Taken(contents, alive) => {
                bus.adopt(*contents, alive)?;
                tracing::info!(node = %self.members.me(), pool = %name, "took the pool over");
                Ok(Taken::Held)
            }
            Claim::Missing => Ok(Taken::Missing),
            Claim::HeldBy(owner) => {
                tracing::debug!(pool = %name, %owner, "a live node holds the pool: waiting for it to hand it over");
                Ok(Taken::Wait)
            }
        }
    }

    /// Serves a call here if this node owns its pool; `None`: not (yet).
    pub(crate) async fn serve_here(&self, bus: &Bus, call: &Call) -> Option<Result<Answer, Error>> {
        if !self.members.lease_valid() || self.members.owner(&call.pool) != self.members.me() {
            return None;
        }
        match self.take(bus, &call.pool).await {
            Ok(Taken::Held) | Ok(Taken::Missing) => {}
            Ok(Taken::Wait) => return None,
            Err(e) => return Some(Err(e)),
        }
        let answer = bus.serve(call.clone()).await;
        // Handed over while the call waited: the new owner serves it.
        if !bus.holds(&call.pool) && self.view.named(&call.pool).is_some() && answer.is_err() {
            return None;
        }
        Some(answer)
    }

    /// Waits for the owner's answer until the deadline, or until the owner
    /// leaves this node's view (a paused node keeps its connection, so a
    /// request to it would wait for nothing): then the call goes to the new owner.
    async fn await_owner<F: std::future::Future>(
        &self,
        owner: &str,
        deadline: tokio::time::Instant,
        request: F,
    ) -> Result<F::Output, ()> {
        let mut changed = self.members.subscribe();
        tokio::pin!(request);
        loop {
            tokio::select! {
                out = &mut request => return Ok(out),
                _ = tokio::time::sleep_until(deadline) => return Err(()),
                r = changed.changed() => {
                    if r.is_err() || !self.members.is_live(owner) {
                        return Err(());
                    }
                }
            }
        }
    }

    async fn route_call(self: Arc<Self>, bus: Bus, call: Call) -> Result<Answer, Error> {
        let deadline = tokio::time::Instant::now() + self.config.call_timeout;
        let body = serde_json::to_vec(&call).map_err(|e| Error::CorruptRecord {
            what: "a call to another node".into(),
            reason: e.to_string(),
        })?;
        loop {
            if !self.members.lease_valid() {
                // Paused or cut off past the lease: what it holds may be stale.
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Timeout);
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
            let owner = self.members.owner(&call.pool);
            if owner == self.members.me() {
                if let Some(answer) = self.serve_here(&bus, &call).await {
                    return answer;
                }
            } else {
                let subject = call_subject(&self.config.cluster, &owner);
                let request = self.client.request(subject, body.clone().into());
                match self.await_owner(&owner, deadline, request).await {
                    Ok(Ok(msg)) => match serde_json::from_slice::<Reply>(&msg.payload) {
                        Ok(Reply::Answer(answer)) => {
                            bump(&self.stats.forwarded);
                            return answer;
                        }
                        Ok(Reply::Retry) => {}
                        Err(e) => {
                            return Err(Error::CorruptRecord {
                                what: format!("an answer from node {owner}"),
                                reason: e.to_string(),
                            })
                        }
                    },
                    // No responder (it just died), or no answer yet: ask again.
                    Ok(Err(error)) => {
                        tracing::debug!(%owner, %error, "a routed call failed: trying again")
                    }
                    Err(_) => {}
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout);
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// The [`Router`] of a fleet's node.
#[derive(Clone)]
pub(crate) struct FleetRouter(pub(crate) Arc<Shared>);

impl std::fmt::Debug for FleetRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetRouter")
            .field("cluster", &self.0.config.cluster)
            .field("node", &self.0.config.node)
            .finish()
    }
}

impl Router for FleetRouter {
    fn route(&self, bus: &Bus, call: Call) -> BoxFuture<'static, Result<Answer, Error>> {
        Box::pin(self.0.clone().route_call(bus.clone(), call))
    }

    fn serves_held(&self) -> bool {
        self.0.members.lease_valid()
    }

    fn fleet(&self) -> Vec<PoolRef> {
        self.0.view.all()
    }

    fn pool_of(&self, id: Uuid) -> Option<PoolRef> {
        self.0.view.of(id)
    }

    fn pool_named(&self, name: &str) -> Option<PoolRef> {
        self.0.view.named(name)
    }
}
