//! What goes into the bus and what comes out: requests, updates and snapshots of pools,
//! queues and workers, in Prefect's field names.
//!
//! The requests are plain Rust, built with their constructors and builders;
//! reading them from Prefect's JSON (its `extra="forbid"`, absent versus
//! `null`) is the server's business (`workbus_server::request`). The
//! snapshots serialize in Prefect's field names.

use std::borrow::Cow;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;
use workbus_events::prefect::Status;
use workbus_events::Timestamp;

use crate::Error;

/// The pool type Prefect gives a pool created without one.
pub const AGENT_POOL_TYPE: &str = "prefect-agent";

/// Where a pool's flow runs keep their bundles and results (Prefect's `WorkPoolStorageConfiguration`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageConfiguration {
    /// The step that uploads bundles.
    pub bundle_upload_step: Option<Map<String, Value>>,
    /// The step that runs bundles.
    pub bundle_execution_step: Option<Map<String, Value>>,
    /// The block document holding default result storage.
    pub default_result_storage_block_id: Option<Uuid>,
}

/// A request to create a work pool (Prefect's `WorkPoolCreate`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatePool {
    /// Its name: unique, not starting with `prefect`, none of `/ % & > <`.
    pub name: String,
    /// Its type, such as `process` (default `prefect-agent`, as Prefect's).
    pub pool_type: String,
    /// A description.
    pub description: Option<String>,
    /// The job template, a JSON object (default `{}`).
    pub base_job_template: Map<String, Value>,
    /// Whether it starts paused.
    pub is_paused: bool,
    /// How many runs it may run at once (`None`: no limit).
    pub concurrency_limit: Option<i64>,
    /// Its storage configuration.
    pub storage_configuration: StorageConfiguration,
}

impl CreatePool {
    /// A pool named `name` of type `pool_type`, with every other field at its default.
    pub fn new(name: impl Into<String>, pool_type: impl Into<String>) -> Self {
        CreatePool {
            name: name.into(),
            pool_type: pool_type.into(),
            description: None,
            base_job_template: Map::new(),
            is_paused: false,
            concurrency_limit: None,
            storage_configuration: StorageConfiguration::default(),
        }
    }

    /// Starts the pool paused.
    pub fn paused(mut self) -> Self {
        self.is_paused = true;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        validate_name(&self.name)?;
        if crate::name::is_reserved_pool_name(&self.name) {
            return Err(Error::ReservedName(crate::name::shown(&self.name)));
        }
        validate_name(&self.pool_type).map_err(|e| match e {
            Error::InvalidName { name, .. } => Error::InvalidName {
                name,
                reason: "a pool type follows the name rules (see workbus_core::name)".into(),
            },
            other => other,
        })?;
        validate_limit(self.concurrency_limit)
    }
}

/// A change to a work pool (Prefect's `WorkPoolUpdate`): `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolUpdate {
    /// The new description (`Some(None)` clears it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub description: Option<Option<String>>,
    /// Pause (`true`) or resume (`false`).
    pub is_paused: Option<bool>,
    /// The new job template.
    pub base_job_template: Option<Map<String, Value>>,
    /// The new concurrency limit (`Some(None)` removes it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub concurrency_limit: Option<Option<i64>>,
    /// The new storage configuration.
    pub storage_configuration: Option<StorageConfiguration>,
}

impl PoolUpdate {
    /// An update that pauses the pool.
    pub fn pause() -> Self {
        PoolUpdate {
            is_paused: Some(true),
            ..Self::default()
        }
    }

    /// An update that resumes the pool.
    pub fn resume() -> Self {
        PoolUpdate {
            is_paused: Some(false),
            ..Self::default()
        }
    }

    /// An update that changes nothing yet; add to it with the methods below.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(Some(description.into()));
        self
    }

    /// Clears the description.
    pub fn clear_description(mut self) -> Self {
        self.description = Some(None);
        self
    }

    /// Sets the concurrency limit (`None` removes it).
    pub fn concurrency_limit(mut self, limit: Option<i64>) -> Self {
        self.concurrency_limit = Some(limit);
        self
    }

    /// Replaces the job template.
    pub fn base_job_template(mut self, template: Map<String, Value>) -> Self {
        self.base_job_template = Some(template);
        self
    }

    /// Pauses (`true`) or resumes (`false`).
    pub fn paused(mut self, paused: bool) -> Self {
        self.is_paused = Some(paused);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        validate_limit(self.concurrency_limit.flatten())
    }
}

/// A request to create a work queue in a pool (Prefect's `WorkQueueCreate`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateQueue {
    /// Its name, unique in its pool.
    pub name: String,
    /// A description (default `""`).
    pub description: Option<String>,
    /// Whether it starts paused (then its status is `PAUSED`).
    pub is_paused: bool,
    /// How many runs it may run at once.
    pub concurrency_limit: Option<i64>,
    /// Its priority, at least 1 (default: the first one free, as Prefect's); one that another queue holds shifts that queue and those behind it down by one.
    pub priority: Option<i64>,
}

impl CreateQueue {
    /// A queue named `name` with every other field at its default.
    pub fn new(name: impl Into<String>) -> Self {
        CreateQueue {
            name: name.into(),
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        validate_name(&self.name)?;
        validate_limit(self.concurrency_limit)?;
        validate_priority(self.priority)
    }
}

/// A change to a work queue (Prefect's `WorkQueueUpdate`): `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueUpdate {
    /// A new name, unique in the pool.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// Pause (`true`) or resume (`false`).
    pub is_paused: Option<bool>,
    /// A new concurrency limit (`Some(None)` removes it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub concurrency_limit: Option<Option<i64>>,
    /// A new priority, at least 1.
    pub priority: Option<i64>,
    /// When it was last polled (taken into account by a resume in the same update).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub last_polled: Option<Option<Timestamp>>,
}

impl QueueUpdate {
    /// An update that pauses the queue.
    pub fn pause() -> Self {
        QueueUpdate {
            is_paused: Some(true),
            ..Self::default()
        }
    }

    /// An update that resumes the queue.
    pub fn resume() -> Self {
        QueueUpdate {
            is_paused: Some(false),
            ..Self::default()
        }
    }

    /// An update that changes nothing yet; add to it with the methods below.
    pub fn new() -> Self {
        Self::default()
    }

    /// Renames the queue.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the description (a queue's description is never null: `""` clears it).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the concurrency limit (`None` removes it).
    pub fn concurrency_limit(mut self, limit: Option<i64>) -> Self {
        self.concurrency_limit = Some(limit);
        self
    }

    /// Sets the priority (at least 1); one that another queue holds shifts that queue and those behind it down by one.
    pub fn priority(mut self, priority: i64) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Pauses (`true`) or resumes (`false`).
    pub fn paused(mut self, paused: bool) -> Self {
        self.is_paused = Some(paused);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Some(name) = &self.name {
            validate_name(name)?;
        }
        validate_limit(self.concurrency_limit.flatten())?;
        validate_priority(self.priority)
    }
}

pub use crate::name::validate_name;

/// A field that may be absent (`None`: left as it is) or `null` (`Some(None)`:
/// cleared), kept apart when a request goes to another node.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

fn validate_limit(limit: Option<i64>) -> Result<(), Error> {
    match limit {
        Some(l) if l < 0 => Err(Error::NegativeConcurrencyLimit(l)),
        _ => Ok(()),
    }
}

fn validate_priority(priority: Option<i64>) -> Result<(), Error> {
    match priority {
        Some(p) if p < 1 => Err(Error::InvalidPriority(p)),
        _ => Ok(()),
    }
}

/// A snapshot of a work pool, in the shape of Prefect's `WorkPool` response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolInfo {
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
    /// Its status (`None` for `prefect-agent` pools, as Prefect shows them).
    pub status: Option<Status>,
    /// The id of its default queue.
    pub default_queue_id: Uuid,
    /// Its storage configuration.
    pub storage_configuration: StorageConfiguration,
}

/// A snapshot of a work queue, in the shape of Prefect's `WorkQueue` response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueInfo {
    /// Its id.
    pub id: Uuid,
    /// When it was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// Its name.
    pub name: String,
    /// A description.
    pub description: String,
    /// Whether it is paused.
    pub is_paused: bool,
    /// Its concurrency limit.
    pub concurrency_limit: Option<i64>,
    /// Its priority.
    pub priority: i64,
    /// Its pool's id.
    pub work_pool_id: Uuid,
    /// Its pool's name.
    pub work_pool_name: String,
    /// When it was last polled.
    pub last_polled: Option<Timestamp>,
    /// Its status.
    pub status: Status,
}

/// How often a worker says it heartbeats: whole seconds, at least one
/// (Prefect's `heartbeat_interval_seconds`). A worker that gives none gets
/// [`BusConfig::fallback_heartbeat_interval`](crate::BusConfig::fallback_heartbeat_interval).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workbus_core::HeartbeatInterval;
///
/// let every = HeartbeatInterval::from_secs(30).unwrap();
/// assert_eq!(every.as_duration(), Duration::from_secs(30));
/// assert_eq!(HeartbeatInterval::try_from(Duration::from_secs(30)).unwrap(), every);
/// assert!(HeartbeatInterval::from_secs(0).is_err());
/// assert!(HeartbeatInterval::try_from(Duration::from_millis(1500)).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct HeartbeatInterval(NonZeroU32);

impl HeartbeatInterval {
    /// An interval of `secs` seconds; zero is [`Error::InvalidHeartbeatInterval`].
    pub fn from_secs(secs: u32) -> Result<Self, Error> {
        NonZeroU32::new(secs)
            .map(HeartbeatInterval)
            .ok_or(Error::InvalidHeartbeatInterval)
    }

    /// The interval in whole seconds, as Prefect's JSON gives it.
    pub fn secs(self) -> u32 {
        self.0.get()
    }

    /// The interval as a `Duration`.
    pub fn as_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0.get()))
    }
}

impl TryFrom<u32> for HeartbeatInterval {
    type Error = Error;

    fn try_from(secs: u32) -> Result<Self, Error> {
        HeartbeatInterval::from_secs(secs)
    }
}

impl TryFrom<Duration> for HeartbeatInterval {
    type Error = Error;

    /// Whole seconds only, as on Prefect's wire: `1.5 s` is refused rather than rounded.
    fn try_from(d: Duration) -> Result<Self, Error> {
        if d.subsec_nanos() != 0 {
            return Err(Error::InvalidHeartbeatInterval);
        }
        u32::try_from(d.as_secs())
            .map_err(|_| Error::InvalidHeartbeatInterval)
            .and_then(HeartbeatInterval::from_secs)
    }
}

impl From<HeartbeatInterval> for u32 {
    fn from(i: HeartbeatInterval) -> u32 {
        i.secs()
    }
}

impl From<HeartbeatInterval> for Duration {
    fn from(i: HeartbeatInterval) -> Duration {
        i.as_duration()
    }
}

/// A worker's heartbeat, for [`Bus::heartbeat`](crate::Bus::heartbeat): the
/// worker's name and, if it says one, its interval. A name alone converts, so
/// the common call reads `bus.heartbeat("etl", "worker-1")`.
///
/// # Examples
///
/// ```
/// use workbus_core::{Heartbeat, HeartbeatInterval};
///
/// let beat = Heartbeat::new("worker-1").every(HeartbeatInterval::from_secs(10).unwrap());
/// assert_eq!(beat.worker(), "worker-1");
/// assert_eq!(beat.interval().map(HeartbeatInterval::secs), Some(10));
/// assert_eq!(Heartbeat::from("worker-1").interval(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat<'a> {
    // Borrowed where it can be: a heartbeat done in place never needs its own copy.
    worker: Cow<'a, str>,
    interval: Option<HeartbeatInterval>,
}

impl<'a> Heartbeat<'a> {
    /// A heartbeat from `worker`, at the bus's fallback interval.
    pub fn new(worker: impl Into<Cow<'a, str>>) -> Self {
        Heartbeat {
            worker: worker.into(),
            interval: None,
        }
    }

    /// The worker says it heartbeats this often (kept for its later heartbeats that say none).
    pub fn every(mut self, interval: HeartbeatInterval) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Sets or clears the interval, for callers holding an `Option` (a wire body).
    pub fn interval_opt(mut self, interval: Option<HeartbeatInterval>) -> Self {
        self.interval = interval;
        self
    }

    /// The worker's name.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The interval it gave, if any.
    pub fn interval(&self) -> Option<HeartbeatInterval> {
        self.interval
    }
}

impl<'a> From<&'a str> for Heartbeat<'a> {
    fn from(worker: &'a str) -> Self {
        Heartbeat::new(worker)
    }
}

impl From<String> for Heartbeat<'static> {
    fn from(worker: String) -> Self {
        Heartbeat::new(worker)
    }
}

impl<'a> From<&'a String> for Heartbeat<'a> {
    fn from(worker: &'a String) -> Self {
        Heartbeat::new(worker.as_str())
    }
}

/// Whether a worker is sending heartbeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkerStatus {
    /// It heartbeated within its interval times the inactivity multiple.
    Online,
    /// It did not.
    Offline,
}

/// A snapshot of a worker, in the shape of Prefect's `WorkerResponse`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// When it first heartbeated.
    pub created: Timestamp,
    /// Its name.
    pub name: String,
    /// Its pool's id.
    pub work_pool_id: Uuid,
    /// Its last heartbeat.
    pub last_heartbeat_time: Timestamp,
    /// The interval it said it heartbeats at, if it said one.
    #[serde(rename = "heartbeat_interval_seconds")]
    pub heartbeat_interval: Option<HeartbeatInterval>,
    /// Online or offline.
    pub status: WorkerStatus,
}
