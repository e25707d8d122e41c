//! Events as the bus hands them to subscribers: shared, with their JSON encoded at most once.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;

use crate::spare;
use crate::Event;

/// An event as it travels through the bus: one allocation shared by every
/// subscriber, the JSON encoded on first use and then shared too.
///
/// It dereferences to the [`Event`]. Besides the event it carries where it
/// came from (`origin`, the node name for events that crossed from another
/// process) and when the bus took it in (`emitted_at`, a monotonic instant
/// for delivery-latency measurements).
///
/// The last handle to drop of one of the bus's own events leaves its
/// allocation to this thread's few spare ones, which the next event made on
/// the thread reuses: glibc's allocator
/// takes its slow path for an allocation of this size in bursts, and this one
/// is made and dropped once an event.
///
/// # Examples
///
/// ```
/// use workbus_events::{prefect, SharedEvent, Timestamp};
/// use uuid::Uuid;
///
/// let pool = prefect::PoolLabels::new(Uuid::nil(), "etl", "process");
/// let event = prefect::pool_status(&pool, prefect::Status::Ready, Timestamp::EPOCH, Uuid::nil(), None);
/// let shared = SharedEvent::new(event);
/// let again = shared.clone();
/// // Encoded once, the same bytes for both.
/// assert_eq!(shared.json().as_ptr(), again.json().as_ptr());
/// assert!(shared.json().starts_with(b"{\"occurred\":"));
/// ```
#[derive(Clone, Debug)]
pub struct SharedEvent(ManuallyDrop<Arc<Inner>>);

#[derive(Clone, Debug)]
pub(crate) struct Inner {
    pub(crate) event: Event,
    pub(crate) json: OnceLock<Bytes>,
    pub(crate) origin: Option<Arc<str>>,
    pub(crate) emitted_at: Instant,
}

impl SharedEvent {
    /// Shares a local event.
    #[inline]
    pub fn new(event: Event) -> Self {
        Self::with_origin(event, None)
    }

    /// Shares an event that came from the node `origin` (or a local one, `None`).
    #[inline]
    pub fn with_origin(event: Event, origin: Option<Arc<str>>) -> Self {
        Self::taken_in_at(event, origin, Instant::now())
    }

    /// Shares an event the bus took in at `emitted_at`: for a producer that
    /// has just read the clock to stamp the event, and need not read it again.
    #[inline]
    pub fn taken_in_at(event: Event, origin: Option<Arc<str>>, emitted_at: Instant) -> Self {
        let inner = Inner {
            event,
            json: OnceLock::new(),
            origin,
            emitted_at,
        };
        SharedEvent(ManuallyDrop::new(spare::share(inner)))
    }

    /// Shares an event together with the JSON it was parsed from, so it is never re-encoded.
    pub fn with_json(event: Event, json: Bytes, origin: Option<Arc<str>>) -> Self {
        let shared = Self::with_origin(event, origin);
        let _ = shared.0.json.set(json);
        shared
    }

    /// The event, to change before it is handed on: in place when this is
    /// its only handle, else on a copy that this handle then owns alone.
    /// JSON encoded before is dropped, so it is encoded again from the change.
    ///
    /// ```
    /// use workbus_events::{prefect, SharedEvent, Timestamp};
    /// use uuid::Uuid;
    ///
    /// let pool = prefect::PoolLabels::new(Uuid::nil(), "etl", "process");
    /// let event = prefect::pool_status(&pool, prefect::Status::Ready, Timestamp::EPOCH, Uuid::nil(), None);
    /// let mut shared = SharedEvent::new(event);
    /// let other = shared.clone();
    /// shared.make_mut().received = None;
    /// assert!(other.received.is_some(), "the other handle keeps the original");
    /// assert!(shared.received.is_none());
    /// ```
    pub fn make_mut(&mut self) -> &mut Event {
        let inner = Arc::make_mut(&mut self.0);
        inner.json = OnceLock::new();
        &mut inner.event
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.0.event
    }

    /// The event's Prefect JSON, encoded on the first call and shared after.
    pub fn json(&self) -> &Bytes {
        self.0
            .json
            .get_or_init(|| Bytes::from(self.0.event.to_json()))
    }

    /// The node this event came from, or `None` for a local one.
    pub fn origin(&self) -> Option<&str> {
        self.0.origin.as_deref()
    }

    /// When the bus took the event in.
    pub fn emitted_at(&self) -> Instant {
        self.0.emitted_at
    }

    /// Where the event lives: the same address is the same allocation.
    #[cfg(test)]
    pub(crate) fn address(&self) -> *const Inner {
        Arc::as_ptr(&self.0)
    }

    /// How many handles to this event exist (useful to check that fan-out shares it).
    pub fn share_count(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}

impl Drop for SharedEvent {
    fn drop(&mut self) {
        // SAFETY: `self.0` is taken once, here, and never used again: the
        // handle is being dropped.
        let inner = unsafe { ManuallyDrop::take(&mut self.0) };
        spare::keep(inner);
    }
}

impl Deref for SharedEvent {
    type Target = Event;
    fn deref(&self) -> &Event {
        &self.0.event
    }
}
