//! [`WorkerChannels`]: the connected workers, by pool, and the one bus
//! subscription that tells them their pool changed.
//!
//! A subscription per connected worker would cost the registry a filter match
//! per worker for every event; one subscriber that looks the pool up in a map
//! costs one.

use std::collections::HashMap;

use actix::{Actor, Addr, Context, Handler, Message, ResponseFuture};
use uuid::Uuid;
use workbus_core::subscription::Deliver;
use workbus_core::Status;

use super::worker::{ConnectedWorker, PoolChanged, PoolGone, ServerClosing};

/// What a pool event means for its connected workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// A field a worker acts on changed (`base_job_template`,
    /// `concurrency_limit`, `storage_configuration`): Prefect pushes a snapshot at once.
    Fields,
    /// Another field changed (the description): Prefect sends it with the
    /// worker's next heartbeat.
    Other,
    /// The pool's status is now this: a pause or a resume is pushed at once,
    /// ready and not-ready go with the next heartbeat.
    Status(Status),
}

/// The fields whose change Prefect pushes at once (`WORK_POOL_FIELDS_THAT_TRIGGER_SNAPSHOTS`,
/// less `is_paused`, which our pools report as a status).
const PUSHED_FIELDS: [&str; 3] = [
    "base_job_template",
    "concurrency_limit",
    "storage_configuration",
];

fn change_of(event: &workbus_core::Event) -> Option<Change> {
    if event.event == "prefect.work-pool.updated" {
        let pushed = event
            .payload
            .get("updated_fields")
            .and_then(|f| f.as_array())
            .is_some_and(|f| f.iter().any(|f| PUSHED_FIELDS.iter().any(|p| f == p)));
        return Some(if pushed {
            Change::Fields
        } else {
            Change::Other
        });
    }
    event.status().map(Change::Status)
}

/// A worker joins its pool's list (answered with its place, to leave with).
#[derive(Debug, Message)]
#[rtype(result = "u64")]
pub(crate) struct Join {
    pub(crate) pool: Uuid,
    pub(crate) worker: Addr<ConnectedWorker>,
}

/// A worker leaves.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Leave {
    pub(crate) pool: Uuid,
    pub(crate) place: u64,
}

/// The pool was deleted: its workers are closed, as Prefect closes them.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct PoolDeleted(pub(crate) Uuid);

/// The server is shutting down: every worker is closed (1001, and the worker reconnects).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct CloseAll;

/// The connected workers, by pool id.
#[derive(Debug, Default)]
pub struct WorkerChannels {
    pools: HashMap<Uuid, Vec<(u64, Addr<ConnectedWorker>)>>,
    next: u64,
}

impl Actor for WorkerChannels {
    type Context = Context<Self>;
}

impl Handler<Join> for WorkerChannels {
    type Result = u64;

    fn handle(&mut self, join: Join, _: &mut Context<Self>) -> u64 {
        self.next += 1;
        self.pools
            .entry(join.pool)
            .or_default()
            .push((self.next, join.worker));
        self.next
    }
}

impl Handler<Leave> for WorkerChannels {
    type Result = ();

    fn handle(&mut self, leave: Leave, _: &mut Context<Self>) {
        if let Some(workers) = self.pools.get_mut(&leave.pool) {
            workers.retain(|(place, _)| *place != leave.place);
            if workers.is_empty() {
                self.pools.remove(&leave.pool);
            }
        }
    }
}

impl Handler<PoolDeleted> for WorkerChannels {
    type Result = ();

    fn handle(&mut self, PoolDeleted(pool): PoolDeleted, _: &mut Context<Self>) {
        for (_, worker) in self.pools.remove(&pool).unwrap_or_default() {
            worker.do_send(PoolGone);
        }
    }
}

impl Handler<CloseAll> for WorkerChannels {
    type Result = ResponseFuture<()>;

    /// Answers once every worker has queued its close: the HTTP server stops its
    /// workers' arbiters next, and an actor that had not handled the close would go
    /// without sending it.
    fn handle(&mut self, _: CloseAll, _: &mut Context<Self>) -> Self::Result {
        let closing: Vec<_> = self
            .pools
            .drain()
            .flat_map(|(_, w)| w)
            .map(|(_, worker)| worker.send(ServerClosing))
            .collect();
        Box::pin(async move {
            futures_util::future::join_all(closing).await;
        })
    }
}

impl Handler<Deliver> for WorkerChannels {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, _: &mut Context<Self>) {
        // Events from other nodes name their pools, not ours. (A client posting a pool
        // event of ours costs a fresh snapshot: it can only be true.)
        if event.origin().is_some() {
            return;
        }
        let event = event.event();
        let Some(workers) = event.resource.uuid().and_then(|id| self.pools.get(&id)) else {
            return;
        };
        let Some(change) = change_of(event) else {
            return;
        };
        for (_, worker) in workers {
            worker.do_send(PoolChanged(change));
        }
    }
}
