//! The bus's settings.

use std::time::Duration;

/// Settings of the bus, with Prefect's defaults.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workbus_core::BusConfig;
///
/// let fast = BusConfig {
///     fallback_heartbeat_interval: Duration::from_secs(1),
///     ..BusConfig::default()
/// };
/// assert_eq!(fast.worker_inactivity_multiple, 3);
/// assert_eq!(fast.queue_poll_timeout, Duration::from_secs(60));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusConfig {
    /// A worker is offline once it has sent nothing for its heartbeat interval
    /// times this (Prefect's `inactivity_heartbeat_multiple`, default 3).
    pub worker_inactivity_multiple: u32,
    /// The heartbeat interval of a worker that did not give one (default 30 s).
    pub fallback_heartbeat_interval: Duration,
    /// A queue not polled for this long goes `not-ready`; a resumed queue is
    /// `ready` only if polled within it (default 60 s).
    pub queue_poll_timeout: Duration,
    /// How long before a status event a previous one may be for `follows` to
    /// point at it (Prefect: 10 minutes).
    pub follows_window: Duration,
    /// The most work pools the bus holds (default 1,000,000); one more is refused
    /// with [`Error::LimitReached`](crate::Error::LimitReached).
    pub max_pools: usize,
    /// The most work queues one pool holds, its default queue included (default 1,000).
    pub max_queues_per_pool: usize,
    /// The most workers one pool knows (default 10,000): a heartbeat from one more is
    /// refused until one is deleted.
    pub max_workers_per_pool: usize,
    /// With a store: how often heartbeat and poll times that changed nothing
    /// else are written (lazily, without a sync of their own; default 5 s). A
    /// crash loses at most this much of them, and a restart judges deadlines by
    /// the last such write.
    pub beats_every: Duration,
    /// How many deliveries (events times the subscribers each goes to) the
    /// registry makes from a burst before it lets the other actors on its
    /// arbiter run (default 4,096; at least 1). Subscribers on the same arbiter
    /// then read their messages while these are still in the CPU's cache, instead
    /// of after a burst of 64 subscribers times hundreds of events has evicted
    /// them; see `docs/performance.md`. Order is kept: the rest of the burst is
    /// dispatched before anything newer, and before any other message.
    pub turn_deliveries: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            worker_inactivity_multiple: 3,
            fallback_heartbeat_interval: Duration::from_secs(30),
            queue_poll_timeout: Duration::from_secs(60),
            follows_window: Duration::from_secs(600),
            max_pools: 1_000_000,
            max_queues_per_pool: 1_000,
            max_workers_per_pool: 10_000,
            beats_every: Duration::from_secs(5),
            turn_deliveries: 4_096,
        }
    }
}
