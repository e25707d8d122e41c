//! What a store holds of each actor: its record, as JSON, under its key.
//!
//! A pool's record carries its queues' priorities: the pool decides them (it
//! shifts queues to keep them distinct), so they are written with the pool's
//! own changes and the events that announce them. A queue's record holds the
//! rest of the queue; a worker's, its row of the pool's table. Times that move
//! without any other change (a heartbeat of a worker already online, a poll of
//! a queue already ready) are written lazily, as *beats*, apart from the
//! records, so that a lazy write never overwrites a newer record.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;
use workbus_events::prefect::Status;
use workbus_events::Timestamp;
use workbus_store::{Batch, Table};

use crate::model::{HeartbeatInterval, StorageConfiguration};

/// A work pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PoolRecord {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) pool_type: String,
    pub(crate) description: Option<String>,
    pub(crate) base_job_template: Map<String, Value>,
    pub(crate) concurrency_limit: Option<i64>,
    pub(crate) storage_configuration: StorageConfiguration,
    pub(crate) is_paused: bool,
    pub(crate) status: Status,
    pub(crate) created: Timestamp,
    pub(crate) updated: Timestamp,
    pub(crate) default_queue: Uuid,
    /// The last status event, for the next one's `follows`.
    pub(crate) last_status: Option<(Uuid, Timestamp)>,
    /// Its queues, their priorities and when the pool last moved each, in creation order.
    pub(crate) queues: Vec<(Uuid, i64, Option<Timestamp>)>,
}

/// A work queue (its priority is its pool's to keep).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueueRecord {
    pub(crate) id: Uuid,
    pub(crate) pool_id: Uuid,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) concurrency_limit: Option<i64>,
    pub(crate) priority: i64,
    pub(crate) is_paused: bool,
    pub(crate) status: Status,
    pub(crate) last_polled: Option<Timestamp>,
    pub(crate) created: Timestamp,
    pub(crate) updated: Timestamp,
}

/// A worker of a pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct WorkerRecord {
    pub(crate) name: String,
    pub(crate) created: Timestamp,
    pub(crate) interval: Option<HeartbeatInterval>,
    pub(crate) last_heartbeat: Option<Timestamp>,
    pub(crate) online: bool,
}

/// The key of a pool's or a queue's record: its id.
pub(crate) fn id_key(id: Uuid) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// The key of a worker's record (and beat): its pool's id, then its name.
pub(crate) fn worker_key(pool: Uuid, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + name.len());
    k.extend_from_slice(pool.as_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

/// The beat that says when the bus last wrote its beats (it was alive then).
pub(crate) const ALIVE_KEY: &[u8] = b"alive";

/// A time as a beat's value.
pub(crate) fn beat_value(at: Timestamp) -> Vec<u8> {
    at.as_micros().to_le_bytes().to_vec()
}

/// A beat's time.
pub(crate) fn beat_time(v: &[u8]) -> Option<Timestamp> {
    Some(Timestamp::from_micros(i64::from_le_bytes(
        v.try_into().ok()?,
    )))
}

/// Serializing a record (strings, numbers, maps) cannot fail.
pub(crate) fn put<T: Serialize>(batch: &mut Batch, table: Table, key: Vec<u8>, record: &T) {
    let value = serde_json::to_vec(record).unwrap_or_default();
    batch.put(table, key, value);
}
