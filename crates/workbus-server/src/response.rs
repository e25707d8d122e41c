//! Response shapes that Prefect's clients expect and the core's snapshots do not carry.

use serde::Serialize;
use uuid::Uuid;
use workbus_core::{QueueInfo, Timestamp, WorkerInfo, WorkerStatus};

/// Prefect's `WorkQueueResponse`: the core's snapshot plus the deprecated `filter` (always null).
#[derive(Debug, Serialize)]
pub struct QueueResponse {
    /// The snapshot.
    #[serde(flatten)]
    pub info: QueueInfo,
    /// Prefect's deprecated queue filter; queues here never have one.
    pub filter: Option<()>,
}

impl From<QueueInfo> for QueueResponse {
    fn from(info: QueueInfo) -> Self {
        QueueResponse { info, filter: None }
    }
}

/// Prefect's `WorkerResponse`: adds the `id` and `updated` the core does not keep.
#[derive(Debug, Serialize)]
pub struct WorkerResponse {
    /// A stable id: a UUID v5 of the pool id and the worker name.
    pub id: Uuid,
    /// When it first heartbeated.
    pub created: Timestamp,
    /// Its last heartbeat (the only thing that changes a worker).
    pub updated: Timestamp,
    /// Its name.
    pub name: String,
    /// Its pool's id.
    pub work_pool_id: Uuid,
    /// Its last heartbeat.
    pub last_heartbeat_time: Timestamp,
    /// The interval it said it heartbeats at.
    pub heartbeat_interval_seconds: Option<u32>,
    /// `ONLINE` or `OFFLINE`.
    pub status: WorkerStatus,
}

impl From<WorkerInfo> for WorkerResponse {
    fn from(w: WorkerInfo) -> Self {
        WorkerResponse {
            id: Uuid::new_v5(&w.work_pool_id, w.name.as_bytes()),
            created: w.created,
            updated: w.last_heartbeat_time,
            name: w.name,
            work_pool_id: w.work_pool_id,
            last_heartbeat_time: w.last_heartbeat_time,
            heartbeat_interval_seconds: w.heartbeat_interval_seconds,
            status: w.status,
        }
    }
}
