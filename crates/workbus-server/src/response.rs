//! The server's own response shapes: Prefect's, built from the core's snapshots, so
//! that the wire format is decided here and a change in the core cannot change it
//! silently. Every pool, queue and worker the API answers goes through one of these.

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;
use workbus_core::{
    HeartbeatInterval, PoolInfo, QueueInfo, Status, StorageConfiguration, Timestamp, WorkerInfo,
    WorkerStatus,
};

/// Prefect's `WorkPool` response, field by field in Prefect's order.
#[derive(Debug, Serialize)]
pub struct PoolResponse {
    /// Its id.
    pub id: Uuid,
    /// When it was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// Its name.
    pub name: String,
    /// A description.
    pub description: Option<String>,
    /// Its type.
    #[serde(rename = "type")]
    pub pool_type: String,
    /// Its job template.
    pub base_job_template: Map<String, Value>,
    /// Whether it is paused.
    pub is_paused: bool,
    /// Its concurrency limit.
    pub concurrency_limit: Option<i64>,
    /// Its status; `null` for `prefect-agent` pools, as Prefect answers.
    pub status: Option<Status>,
    /// The id of its default queue.
    pub default_queue_id: Uuid,
    /// Its storage configuration.
    pub storage_configuration: StorageConfiguration,
}

impl From<PoolInfo> for PoolResponse {
    fn from(p: PoolInfo) -> Self {
        PoolResponse {
            id: p.id,
            created: p.created,
            updated: p.updated,
            name: p.name,
            description: p.description,
            pool_type: p.pool_type,
            base_job_template: p.base_job_template,
            is_paused: p.is_paused,
            concurrency_limit: p.concurrency_limit,
            status: p.status,
            default_queue_id: p.default_queue_id,
            storage_configuration: p.storage_configuration,
        }
    }
}

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
            heartbeat_interval_seconds: w.heartbeat_interval.map(HeartbeatInterval::secs),
            status: w.status,
        }
    }
}
