//! Builders for the work-pool and work-queue events, shaped exactly as Prefect 3.9.1 emits them.
//!
//! Each builder takes labels that an actor made once ([`PoolLabels`],
//! [`QueueLabels`]) and shares them into the event, so building an event
//! allocates little more than its payload. The shapes follow
//! `prefect-semantics.md`:
//!
//! | event | resource | related |
//! |---|---|---|
//! | `prefect.work-pool.{ready,not-ready,paused}` | id, name, type | none |
//! | `prefect.work-pool.{updated,created,deleted}` | id, name, type, role `work-pool` | created/deleted: `default-queue`, `result-storage` |
//! | `prefect.work-queue.*` | id, name, role `work-queue` | the pool, role `work-pool` |

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::event::no_related;
use crate::resource::{RESOURCE_ID, RESOURCE_NAME, RESOURCE_ROLE, WORK_POOL_TYPE};
use crate::{Event, Payload, Resource, Timestamp};

/// The readiness status of a work pool or a work queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Ready to accept or dispatch work.
    Ready,
    /// Not ready (no online worker, or not polled recently).
    NotReady,
    /// Paused.
    Paused,
}

impl Status {
    /// Prefect's enum value: `READY`, `NOT_READY`, `PAUSED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "READY",
            Status::NotReady => "NOT_READY",
            Status::Paused => "PAUSED",
        }
    }

    /// The kebab-case form used in event names: `ready`, `not-ready`, `paused`.
    pub const fn kebab(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::NotReady => "not-ready",
            Status::Paused => "paused",
        }
    }

    const fn pool_event(self) -> &'static str {
        match self {
            Status::Ready => POOL_READY,
            Status::NotReady => POOL_NOT_READY,
            Status::Paused => POOL_PAUSED,
        }
    }

    const fn queue_event(self) -> &'static str {
        match self {
            Status::Ready => QUEUE_READY,
            Status::NotReady => QUEUE_NOT_READY,
            Status::Paused => QUEUE_PAUSED,
        }
    }
}

/// A work pool's resource id: `prefect.work-pool.<id>`.
pub fn pool_resource_id(id: Uuid) -> String {
    format!("prefect.work-pool.{id}")
}

/// A work queue's resource id: `prefect.work-queue.<id>`.
pub fn queue_resource_id(id: Uuid) -> String {
    format!("prefect.work-queue.{id}")
}

/// `prefect.work-pool.ready`
pub const POOL_READY: &str = "prefect.work-pool.ready";
/// `prefect.work-pool.not-ready`
pub const POOL_NOT_READY: &str = "prefect.work-pool.not-ready";
/// `prefect.work-pool.paused`
pub const POOL_PAUSED: &str = "prefect.work-pool.paused";
/// `prefect.work-pool.updated`
pub const POOL_UPDATED: &str = "prefect.work-pool.updated";
/// `prefect.work-pool.created`
pub const POOL_CREATED: &str = "prefect.work-pool.created";
/// `prefect.work-pool.deleted`
pub const POOL_DELETED: &str = "prefect.work-pool.deleted";
/// `prefect.work-queue.ready`
pub const QUEUE_READY: &str = "prefect.work-queue.ready";
/// `prefect.work-queue.not-ready`
pub const QUEUE_NOT_READY: &str = "prefect.work-queue.not-ready";
/// `prefect.work-queue.paused`
pub const QUEUE_PAUSED: &str = "prefect.work-queue.paused";
/// `prefect.work-queue.updated`
pub const QUEUE_UPDATED: &str = "prefect.work-queue.updated";
/// `prefect.work-queue.created`
pub const QUEUE_CREATED: &str = "prefect.work-queue.created";
/// `prefect.work-queue.deleted`
pub const QUEUE_DELETED: &str = "prefect.work-queue.deleted";

/// Every event name workbus emits, pools first.
pub const ALL_EVENTS: [&str; 12] = [
    POOL_CREATED,
    POOL_READY,
    POOL_NOT_READY,
    POOL_PAUSED,
    POOL_UPDATED,
    POOL_DELETED,
    QUEUE_CREATED,
    QUEUE_READY,
    QUEUE_NOT_READY,
    QUEUE_PAUSED,
    QUEUE_UPDATED,
    QUEUE_DELETED,
];

/// A work pool's labels, built once: the three-label resource of its status
/// events, the four-label one (with role `work-pool`) of its other events, and
/// the related list that its queues' events carry.
#[derive(Clone, Debug)]
pub struct PoolLabels {
    id: Uuid,
    resource: Resource,
    with_role: Resource,
    as_related: Arc<[Resource]>,
}

impl PoolLabels {
    /// Labels for the pool `id`, named `name`, of type `pool_type`.
    pub fn new(id: Uuid, name: &str, pool_type: &str) -> Self {
        // The related resource is the primary one plus a role: one storage for both.
        let with_role = Resource::builder()
            .label(RESOURCE_ID, format!("prefect.work-pool.{id}"))
            .label(RESOURCE_NAME, name)
            .label(WORK_POOL_TYPE, pool_type)
            .label(RESOURCE_ROLE, "work-pool")
            .build_unchecked();
        let resource = with_role.first(3);
        let as_related = Arc::from(vec![with_role.clone()]);
        PoolLabels {
            id,
            resource,
            with_role,
            as_related,
        }
    }

    /// The pool's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The pool's resource id, `prefect.work-pool.<uuid>`.
    pub fn resource_id(&self) -> &str {
        self.resource.id()
    }

    /// The three-label resource of status events.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The related list a queue's events carry: this pool with role `work-pool`.
    pub fn as_related(&self) -> Arc<[Resource]> {
        self.as_related.clone()
    }
}

/// A work queue's labels, built once (and again on rename).
#[derive(Clone, Debug)]
pub struct QueueLabels {
    id: Uuid,
    resource: Resource,
}

impl QueueLabels {
    /// Labels for the queue `id` named `name`.
    pub fn new(id: Uuid, name: &str) -> Self {
        let resource = Resource::builder()
            .label(RESOURCE_ID, format!("prefect.work-queue.{id}"))
            .label(RESOURCE_NAME, name)
            .label(RESOURCE_ROLE, "work-queue")
            .build_unchecked();
        QueueLabels { id, resource }
    }

    /// The queue's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The queue's resource id, `prefect.work-queue.<uuid>`.
    pub fn resource_id(&self) -> &str {
        self.resource.id()
    }

    /// The queue's resource.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }
}

/// The fields one update really changed, in the order they were added, as
/// Prefect's `updated` payload: `{"updated_fields": [...], "updates": {f: {"from", "to"}}}`.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use workbus_events::prefect::Changes;
///
/// let mut changes = Changes::default();
/// changes.push("description", json!(null), json!("d1"));
/// changes.push("concurrency_limit", json!(null), json!(5));
/// assert_eq!(serde_json::Value::Object(changes.into_payload()), json!({
///     "updated_fields": ["description", "concurrency_limit"],
///     "updates": {"description": {"from": null, "to": "d1"},
///                 "concurrency_limit": {"from": null, "to": 5}}
/// }));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes(Vec<(&'static str, Value, Value)>);

impl Changes {
    /// Records that `field` went from `from` to `to`.
    pub fn push(&mut self, field: &'static str, from: Value, to: Value) {
        self.0.push((field, from, to));
    }

    /// Records the change only when the values differ.
    pub fn push_if_changed(&mut self, field: &'static str, from: Value, to: Value) {
        if from != to {
            self.push(field, from, to);
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names of the changed fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|(f, _, _)| *f)
    }

    /// The payload of an `updated` event.
    pub fn into_payload(self) -> Payload {
        let mut fields = Vec::with_capacity(self.0.len());
        let mut updates = Map::with_capacity(self.0.len());
        for (field, from, to) in self.0 {
            fields.push(Value::String(field.to_owned()));
            let mut change = Map::with_capacity(2);
            change.insert("from".to_owned(), from);
            change.insert("to".to_owned(), to);
            updates.insert(field.to_owned(), Value::Object(change));
        }
        let mut payload = Map::with_capacity(2);
        payload.insert("updated_fields".to_owned(), Value::Array(fields));
        payload.insert("updates".to_owned(), Value::Object(updates));
        payload
    }
}

/// A fresh event id: a UUID v7 for the instant `at`.
///
/// Ids from one thread increase strictly, even within a millisecond: the 12
/// bits after the timestamp are a counter that starts at a random value each
/// millisecond (RFC 9562, method 1), and a millisecond that runs out of
/// counter borrows from the next. The remaining 62 bits come from a
/// per-thread generator seeded once from the OS, not from a CSPRNG per id:
/// ids must be unique and ordered, not secret, and this keeps an id at a few
/// nanoseconds. Taking the time from the event's own `occurred` saves a
/// clock read per event.
///
/// ```
/// use workbus_events::{prefect::event_id, Timestamp};
///
/// let at = Timestamp::from_micros(1_700_000_000_123_456);
/// let (a, b) = (event_id(at), event_id(at));
/// assert!(a < b);
/// assert_eq!(a.get_version_num(), 7);
/// let (secs, nanos) = a.get_timestamp().unwrap().to_unix();
/// assert_eq!((secs, nanos), (1_700_000_000, 123_000_000));
/// ```
pub fn event_id(at: Timestamp) -> Uuid {
    thread_local! {
        static IDS: std::cell::Cell<IdState> = std::cell::Cell::new(IdState::seeded());
    }
    let ms = u64::try_from(at.as_micros().div_euclid(1000)).unwrap_or(0);
    IDS.with(|cell| {
        let mut st = cell.get();
        let (ms, counter) = st.next(ms);
        let mut bytes = [0u8; 10];
        bytes[..2].copy_from_slice(&counter.to_be_bytes());
        bytes[2..].copy_from_slice(&st.random().to_be_bytes());
        cell.set(st);
        uuid::Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
    })
}

/// One thread's id state: the last millisecond and counter, and a wyrand generator.
#[derive(Clone, Copy)]
struct IdState {
    ms: u64,
    counter: u16,
    rng: u64,
}

impl IdState {
    /// The highest counter value: 12 bits.
    const MAX_COUNTER: u16 = 0x0FFF;

    fn seeded() -> Self {
        // One OS-random seed per thread.
        let (seed, _) = Uuid::new_v4().as_u64_pair();
        IdState {
            ms: 0,
            counter: 0,
            rng: seed,
        }
    }

    fn random(&mut self) -> u64 {
        // wyrand: small, fast, and passes the usual statistical batteries.
        self.rng = self.rng.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.rng) * u128::from(self.rng ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    }

    /// The millisecond and counter of the next id, never below the last one's.
    fn next(&mut self, ms: u64) -> (u64, u16) {
        if ms > self.ms {
            self.ms = ms;
            // Start in the lower half, leaving at least 2,048 ids for this millisecond.
            self.counter = (self.random() as u16) & (Self::MAX_COUNTER >> 1);
        } else if self.counter < Self::MAX_COUNTER {
            self.counter += 1;
        } else {
            self.ms += 1;
            self.counter = (self.random() as u16) & (Self::MAX_COUNTER >> 1);
        }
        (self.ms, self.counter)
    }
}

#[inline]
fn event(
    name: &'static str,
    resource: &Resource,
    related: Arc<[Resource]>,
    payload: Payload,
    occurred: Timestamp,
    id: Uuid,
    follows: Option<Uuid>,
) -> Event {
    Event {
        occurred,
        event: Cow::Borrowed(name),
        resource: resource.clone(),
        related,
        payload,
        id,
        follows,
        // Built by the actor that hands it to the bus: emitted and received at once.
        received: Some(occurred),
    }
}

/// `prefect.work-pool.{status}`: three labels, no related, empty payload.
#[inline]
pub fn pool_status(
    pool: &PoolLabels,
    status: Status,
    occurred: Timestamp,
    id: Uuid,
    follows: Option<Uuid>,
) -> Event {
    let name = status.pool_event();
    event(
        name,
        &pool.resource,
        no_related(),
        Payload::new(),
        occurred,
        id,
        follows,
    )
}

/// `prefect.work-pool.updated`: four labels, the changes as payload.
pub fn pool_updated(pool: &PoolLabels, changes: Changes, occurred: Timestamp, id: Uuid) -> Event {
    let payload = changes.into_payload();
    event(
        POOL_UPDATED,
        &pool.with_role,
        no_related(),
        payload,
        occurred,
        id,
        None,
    )
}

fn pool_lifecycle_related(default_queue: Uuid, result_storage: Option<Uuid>) -> Arc<[Resource]> {
    let mut related = Vec::with_capacity(2);
    related.push(
        Resource::builder()
            .label(RESOURCE_ID, format!("prefect.work-queue.{default_queue}"))
            .label(RESOURCE_ROLE, "default-queue")
            .build_unchecked(),
    );
    if let Some(block) = result_storage {
        related.push(
            Resource::builder()
                .label(RESOURCE_ID, format!("prefect.block-document.{block}"))
                .label(RESOURCE_ROLE, "result-storage")
                .build_unchecked(),
        );
    }
    related.into()
}

/// `prefect.work-pool.created`: related `default-queue`, and `result-storage` when set.
pub fn pool_created(
    pool: &PoolLabels,
    default_queue: Uuid,
    result_storage: Option<Uuid>,
    occurred: Timestamp,
    id: Uuid,
) -> Event {
    let related = pool_lifecycle_related(default_queue, result_storage);
    event(
        POOL_CREATED,
        &pool.with_role,
        related,
        Payload::new(),
        occurred,
        id,
        None,
    )
}

/// `prefect.work-pool.deleted`: related as for `created`.
pub fn pool_deleted(
    pool: &PoolLabels,
    default_queue: Uuid,
    result_storage: Option<Uuid>,
    occurred: Timestamp,
    id: Uuid,
) -> Event {
    let related = pool_lifecycle_related(default_queue, result_storage);
    event(
        POOL_DELETED,
        &pool.with_role,
        related,
        Payload::new(),
        occurred,
        id,
        None,
    )
}

/// `prefect.work-queue.{status}`; `related` is the pool's [`PoolLabels::as_related`]
/// (the registry fills it from its queue-to-pool link when it is empty).
pub fn queue_status(
    queue: &QueueLabels,
    related: Arc<[Resource]>,
    status: Status,
    occurred: Timestamp,
    id: Uuid,
) -> Event {
    let name = status.queue_event();
    event(
        name,
        &queue.resource,
        related,
        Payload::new(),
        occurred,
        id,
        None,
    )
}

/// `prefect.work-queue.updated`, the changes as payload.
pub fn queue_updated(
    queue: &QueueLabels,
    related: Arc<[Resource]>,
    changes: Changes,
    occurred: Timestamp,
    id: Uuid,
) -> Event {
    let payload = changes.into_payload();
    event(
        QUEUE_UPDATED,
        &queue.resource,
        related,
        payload,
        occurred,
        id,
        None,
    )
}

/// `prefect.work-queue.created`.
pub fn queue_created(
    queue: &QueueLabels,
    related: Arc<[Resource]>,
    occurred: Timestamp,
    id: Uuid,
) -> Event {
    event(
        QUEUE_CREATED,
        &queue.resource,
        related,
        Payload::new(),
        occurred,
        id,
        None,
    )
}

/// `prefect.work-queue.deleted`.
pub fn queue_deleted(
    queue: &QueueLabels,
    related: Arc<[Resource]>,
    occurred: Timestamp,
    id: Uuid,
) -> Event {
    event(
        QUEUE_DELETED,
        &queue.resource,
        related,
        Payload::new(),
        occurred,
        id,
        None,
    )
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn ids_increase_strictly_within_and_across_milliseconds_and_past_the_counter() {
        let at = Timestamp::from_micros(1_700_000_000_000_000);
        let mut last = event_id(at);
        // More ids than one millisecond's counter holds: the later ones borrow the next one.
        for i in 0..10_000 {
            let at = if i < 9_000 {
                at
            } else {
                at.add(std::time::Duration::from_millis(1))
            };
            let id = event_id(at);
            assert!(id > last, "id {i} did not increase");
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            last = id;
        }
        // A clock that goes back never makes ids go back.
        let earlier = event_id(Timestamp::from_micros(1_600_000_000_000_000));
        assert!(earlier > last);
    }
}
