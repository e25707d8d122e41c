//! The twelve kinds of event workbus emits, as a type the compiler checks.
//!
//! Event names stay strings on the wire (a client may send any name), so an
//! [`Event`](crate::Event) keeps its name as text; [`EventKind::of`] (or
//! [`Event::kind`](crate::Event::kind)) reads it as one of Prefect's
//! work-pool and work-queue kinds, or `None` for anything else. Code that
//! matches on kinds matches on this enum, so a kind added here is a compile
//! error everywhere it is not handled.
//!
//! # Examples
//!
//! ```
//! use workbus_events::{EventKind, Subject};
//! use workbus_events::prefect::Status;
//!
//! let kind = EventKind::of("prefect.work-queue.not-ready").unwrap();
//! assert_eq!(kind, EventKind::QueueStatus(Status::NotReady));
//! assert_eq!(kind.subject(), Subject::Queue);
//! assert_eq!(kind.status(), Some(Status::NotReady));
//! assert_eq!(kind.name(), "prefect.work-queue.not-ready");
//! assert_eq!(EventKind::of("prefect.flow-run.Completed"), None);
//! ```

use std::fmt;

use crate::prefect::{self, Status};

/// What an event is about: a work pool or a work queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A work pool (`prefect.work-pool.*`).
    Pool,
    /// A work queue (`prefect.work-queue.*`).
    Queue,
}

/// One of the twelve event kinds of work pools and work queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `prefect.work-pool.{ready,not-ready,paused}`.
    PoolStatus(Status),
    /// `prefect.work-pool.updated`.
    PoolUpdated,
    /// `prefect.work-pool.created`.
    PoolCreated,
    /// `prefect.work-pool.deleted`.
    PoolDeleted,
    /// `prefect.work-queue.{ready,not-ready,paused}`.
    QueueStatus(Status),
    /// `prefect.work-queue.updated`.
    QueueUpdated,
    /// `prefect.work-queue.created`.
    QueueCreated,
    /// `prefect.work-queue.deleted`.
    QueueDeleted,
}

impl EventKind {
    /// Every kind, in the order of [`prefect::ALL_EVENTS`].
    pub const ALL: [EventKind; 12] = [
        EventKind::PoolCreated,
        EventKind::PoolStatus(Status::Ready),
        EventKind::PoolStatus(Status::NotReady),
        EventKind::PoolStatus(Status::Paused),
        EventKind::PoolUpdated,
        EventKind::PoolDeleted,
        EventKind::QueueCreated,
        EventKind::QueueStatus(Status::Ready),
        EventKind::QueueStatus(Status::NotReady),
        EventKind::QueueStatus(Status::Paused),
        EventKind::QueueUpdated,
        EventKind::QueueDeleted,
    ];

    /// The kind of an event name, or `None` for names that are not one of the twelve.
    pub fn of(name: &str) -> Option<EventKind> {
        let (subject, rest) = if let Some(rest) = name.strip_prefix("prefect.work-pool.") {
            (Subject::Pool, rest)
        } else {
            (Subject::Queue, name.strip_prefix("prefect.work-queue.")?)
        };
        let status = |s| match subject {
            Subject::Pool => EventKind::PoolStatus(s),
            Subject::Queue => EventKind::QueueStatus(s),
        };
        Some(match (subject, rest) {
            (_, "ready") => status(Status::Ready),
            (_, "not-ready") => status(Status::NotReady),
            (_, "paused") => status(Status::Paused),
            (Subject::Pool, "updated") => EventKind::PoolUpdated,
            (Subject::Pool, "created") => EventKind::PoolCreated,
            (Subject::Pool, "deleted") => EventKind::PoolDeleted,
            (Subject::Queue, "updated") => EventKind::QueueUpdated,
            (Subject::Queue, "created") => EventKind::QueueCreated,
            (Subject::Queue, "deleted") => EventKind::QueueDeleted,
            _ => return None,
        })
    }

    /// The event name, as on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::PoolStatus(Status::Ready) => prefect::POOL_READY,
            EventKind::PoolStatus(Status::NotReady) => prefect::POOL_NOT_READY,
            EventKind::PoolStatus(Status::Paused) => prefect::POOL_PAUSED,
            EventKind::PoolUpdated => prefect::POOL_UPDATED,
            EventKind::PoolCreated => prefect::POOL_CREATED,
            EventKind::PoolDeleted => prefect::POOL_DELETED,
            EventKind::QueueStatus(Status::Ready) => prefect::QUEUE_READY,
            EventKind::QueueStatus(Status::NotReady) => prefect::QUEUE_NOT_READY,
            EventKind::QueueStatus(Status::Paused) => prefect::QUEUE_PAUSED,
            EventKind::QueueUpdated => prefect::QUEUE_UPDATED,
            EventKind::QueueCreated => prefect::QUEUE_CREATED,
            EventKind::QueueDeleted => prefect::QUEUE_DELETED,
        }
    }

    /// Whether it is about a pool or a queue.
    pub const fn subject(self) -> Subject {
        match self {
            EventKind::PoolStatus(_)
            | EventKind::PoolUpdated
            | EventKind::PoolCreated
            | EventKind::PoolDeleted => Subject::Pool,
            _ => Subject::Queue,
        }
    }

    /// The status it announces, for the status kinds.
    pub const fn status(self) -> Option<Status> {
        match self {
            EventKind::PoolStatus(s) | EventKind::QueueStatus(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name_and_matches_the_catalogue() {
        for (kind, name) in EventKind::ALL.iter().zip(prefect::ALL_EVENTS) {
            assert_eq!(kind.name(), name);
            assert_eq!(EventKind::of(name), Some(*kind));
        }
        for other in [
            "",
            "prefect.work-pool.",
            "prefect.work-pool.ready.x",
            "prefect.work-queue.Ready",
            "prefect.worker.started",
        ] {
            assert_eq!(EventKind::of(other), None, "{other:?}");
        }
    }
}
