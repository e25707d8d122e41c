//! The event model of workbus: Prefect's work-pool and work-queue events, their
//! JSON, and Prefect's event filters. This crate knows nothing of actors.
//!
//! ## The model
//!
//! An [`Event`] has Prefect's fields and writes them in Prefect's order. Its
//! [`Resource`] and related list are reference-counted label lists, so the
//! actor that emits an event builds its labels once ([`prefect::PoolLabels`],
//! [`prefect::QueueLabels`]) and every event shares them. [`Timestamp`]s
//! format as Prefect's `2026-12-01T06:27:27.028685Z` without allocating.
//!
//! ## Sharing
//!
//! The bus hands each subscriber a [`SharedEvent`]: one `Arc` for all of them,
//! whose Prefect JSON is encoded the first time a subscriber asks for bytes and
//! shared by every other that asks after.
//!
//! ## Filters
//!
//! [`EventFilter`] parses Prefect's filter JSON (event names, resource ids and
//! labels with `fnmatch` globs and `!` negation, related and any-resource
//! filters, ids, text) and matches events in memory.
//!
//! ## Limits
//!
//! Prefect's: an event name of at most [`MAX_EVENT_NAME_LEN`] characters, at
//! most [`MAX_LABELS`] labels per resource, at most [`MAX_RELATED`] related
//! resources, at most [`MAX_EVENT_SIZE`] bytes of JSON.
//!
//! # Examples
//!
//! ```
//! use workbus_events::{prefect, EventFilter, Timestamp};
//! use uuid::Uuid;
//!
//! let pool = prefect::PoolLabels::new(Uuid::now_v7(), "etl", "process");
//! let ready = prefect::pool_status(&pool, prefect::Status::Ready, Timestamp::now(), Uuid::now_v7(), None);
//! assert_eq!(ready.event, "prefect.work-pool.ready");
//!
//! let filter = EventFilter::prefix(["prefect.work-pool."]);
//! assert!(filter.matches(&ready));
//! ```
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod error;
mod event;
pub mod filter;
mod kind;
mod pattern;
pub mod prefect;
mod resource;
mod shared;
mod spare;
mod time;

pub use error::EventError;
pub use event::{no_related, Event, EventJsonError, Payload};
pub use filter::{EventFilter, IndexHint};
pub use kind::{EventKind, Subject};
pub use pattern::LabelPattern;
pub use resource::{
    Resource, ResourceBuilder, RESOURCE_ID, RESOURCE_NAME, RESOURCE_ROLE, WORK_POOL_TYPE,
};
pub use shared::SharedEvent;
pub use time::Timestamp;

/// The longest event name Prefect accepts, in characters.
pub const MAX_EVENT_NAME_LEN: usize = 1024;
/// The most labels Prefect accepts on one resource.
pub const MAX_LABELS: usize = 500;
/// The most related resources Prefect accepts on one event.
pub const MAX_RELATED: usize = 100;
/// The largest event Prefect accepts, in bytes of JSON.
pub const MAX_EVENT_SIZE: usize = 1_500_000;
