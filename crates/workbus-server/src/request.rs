//! The server's own request bodies: Prefect's JSON, read here and converted
//! to the core's requests, so that Prefect's wire rules live with the wire
//! and the core's types stay plain Rust.
//!
//! ## Prefect's rules
//!
//! - Unknown fields are refused (Prefect's `extra="forbid"`), with a 422.
//! - In an update, an absent field leaves the value as it is, and `null`
//!   sets it to null where Prefect allows null (a pool's description and
//!   concurrency limit, a queue's concurrency limit and last poll) and is
//!   refused elsewhere.
//! - A pool created without a type gets `prefect-agent`, as Prefect's.
//!
//! # Examples
//!
//! ```
//! use workbus_core::PoolUpdate;
//! use workbus_server::request::PoolUpdateBody;
//!
//! let absent: PoolUpdateBody = serde_json::from_str(r#"{"is_paused": true}"#).unwrap();
//! assert_eq!(PoolUpdate::from(absent), PoolUpdate::pause());
//! let null: PoolUpdateBody = serde_json::from_str(r#"{"description": null}"#).unwrap();
//! assert_eq!(PoolUpdate::from(null), PoolUpdate::new().clear_description());
//! assert!(serde_json::from_str::<PoolUpdateBody>(r#"{"name": "x"}"#).is_err());
//! ```

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use uuid::Uuid;
use workbus_core::model::AGENT_POOL_TYPE;
use workbus_core::{
    CreatePool, CreateQueue, PoolUpdate, QueueUpdate, StorageConfiguration, Timestamp,
};

/// Prefect's `WorkPoolStorageConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfigurationBody {
    /// The step that uploads bundles.
    #[serde(default)]
    pub bundle_upload_step: Option<Map<String, Value>>,
    /// The step that runs bundles.
    #[serde(default)]
    pub bundle_execution_step: Option<Map<String, Value>>,
    /// The block document holding default result storage.
    #[serde(default)]
    pub default_result_storage_block_id: Option<Uuid>,
}

impl From<StorageConfigurationBody> for StorageConfiguration {
    fn from(b: StorageConfigurationBody) -> Self {
        StorageConfiguration {
            bundle_upload_step: b.bundle_upload_step,
            bundle_execution_step: b.bundle_execution_step,
            default_result_storage_block_id: b.default_result_storage_block_id,
        }
    }
}

/// Prefect's `WorkPoolCreate`: the body of `POST /work_pools/`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePoolBody {
    /// Its name.
    pub name: String,
    /// Its type (default `prefect-agent`).
    #[serde(rename = "type", default = "agent_type")]
    pub pool_type: String,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The job template (default `{}`).
    #[serde(default)]
    pub base_job_template: Map<String, Value>,
    /// Whether it starts paused.
    #[serde(default)]
    pub is_paused: bool,
    /// How many runs it may run at once.
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
    /// Its storage configuration.
    #[serde(default)]
    pub storage_configuration: StorageConfigurationBody,
}

fn agent_type() -> String {
    AGENT_POOL_TYPE.to_owned()
}

impl From<CreatePoolBody> for CreatePool {
    fn from(b: CreatePoolBody) -> Self {
        CreatePool {
            description: b.description,
            base_job_template: b.base_job_template,
            is_paused: b.is_paused,
            concurrency_limit: b.concurrency_limit,
            storage_configuration: b.storage_configuration.into(),
            ..CreatePool::new(b.name, b.pool_type)
        }
    }
}

/// Deserializes a present field, `null` included, as `Some(..)`, so that
/// "absent" (the `#[serde(default)]` `None`) and "null" differ.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Prefect's `WorkPoolUpdate`: the body of `PATCH /work_pools/{name}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolUpdateBody {
    /// The new description (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    /// Pause or resume (never `null`).
    #[serde(default, deserialize_with = "present")]
    pub is_paused: Option<bool>,
    /// The new job template (never `null`).
    #[serde(default, deserialize_with = "present")]
    pub base_job_template: Option<Map<String, Value>>,
    /// The new concurrency limit (`null` removes it).
    #[serde(default, deserialize_with = "present")]
    pub concurrency_limit: Option<Option<i64>>,
    /// The new storage configuration (never `null`).
    #[serde(default, deserialize_with = "present")]
    pub storage_configuration: Option<StorageConfigurationBody>,
}

impl From<PoolUpdateBody> for PoolUpdate {
    fn from(b: PoolUpdateBody) -> Self {
        PoolUpdate {
            description: b.description,
            is_paused: b.is_paused,
            base_job_template: b.base_job_template,
            concurrency_limit: b.concurrency_limit,
            storage_configuration: b.storage_configuration.map(Into::into),
        }
    }
}

/// Prefect's `WorkQueueCreate`: the body of `POST /work_pools/{name}/queues`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQueueBody {
    /// Its name.
    pub name: String,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it starts paused.
    #[serde(default)]
    pub is_paused: bool,
    /// How many runs it may run at once.
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
    /// Its priority (default: the first one free).
    #[serde(default)]
    pub priority: Option<i64>,
}

impl From<CreateQueueBody> for CreateQueue {
    fn from(b: CreateQueueBody) -> Self {
        CreateQueue {
            description: b.description,
            is_paused: b.is_paused,
            concurrency_limit: b.concurrency_limit,
            priority: b.priority,
            ..CreateQueue::new(b.name)
        }
    }
}

/// Prefect's `WorkQueueUpdate`: the body of `PATCH /work_pools/{name}/queues/{queue}`
/// and of the legacy `PATCH /work_queues/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueUpdateBody {
    /// A new name (never `null`).
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    /// A new description (never `null`).
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    /// Pause or resume (never `null`).
    #[serde(default, deserialize_with = "present")]
    pub is_paused: Option<bool>,
    /// A new concurrency limit (`null` removes it).
    #[serde(default, deserialize_with = "present")]
    pub concurrency_limit: Option<Option<i64>>,
    /// A new priority (never `null`).
    #[serde(default, deserialize_with = "present")]
    pub priority: Option<i64>,
    /// When it was last polled (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    pub last_polled: Option<Option<Timestamp>>,
}

impl From<QueueUpdateBody> for QueueUpdate {
    fn from(b: QueueUpdateBody) -> Self {
        QueueUpdate {
            name: b.name,
            description: b.description,
            is_paused: b.is_paused,
            concurrency_limit: b.concurrency_limit,
            priority: b.priority,
            last_polled: b.last_polled,
        }
    }
}
