//! What the automation tests share: a bus on paused time with its automations,
//! and a settle that waits for the actions' tasks too.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub mod receiver;

use workbus_automations::Automations;
use workbus_core::testing::{bus_at, settle};
use workbus_core::{Bus, BusConfig};
use workbus_events::{SharedEvent, Timestamp};
use workbus_store::{Batch, Contents, MemoryStore, Pending, Store, StoreError};

/// The instant every test starts at.
pub fn t0() -> Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

/// `t0` plus so many seconds.
pub fn at(secs: u64) -> Timestamp {
    t0() + Duration::from_secs(secs)
}

/// A bus at `t0` with its automations.
pub async fn bus() -> (Bus, Automations) {
    let bus = bus_at(t0(), BusConfig::default());
    let automations = Automations::start(&bus).await.unwrap();
    (bus, automations)
}

/// Settles until the actions' tasks, which emit through the bus, are done too.
pub async fn settle_all(bus: &Bus) {
    for _ in 0..6 {
        settle(bus).await;
    }
}

/// Lets paused time run on by `by`, every timer firing at its own instant on the
/// way (sleeping lets tokio step from timer to timer; `advance` would jump), then
/// settles everything.
pub async fn advance_all(bus: &Bus, by: Duration) {
    tokio::time::sleep(by).await;
    settle_all(bus).await;
}

/// The value of a label of the event's resource.
pub fn label<'a>(e: &'a SharedEvent, key: &str) -> Option<&'a str> {
    e.resource.get(key)
}

/// The related resource of a role.
pub fn related<'a>(e: &'a SharedEvent, role: &str) -> Option<&'a workbus_events::Resource> {
    e.related.iter().find(|r| r.role() == Some(role))
}

/// A store that refuses its next `fail` commits, then works as a `MemoryStore`.
#[derive(Debug, Default)]
pub struct Flaky {
    inner: MemoryStore,
    /// Commits still to refuse.
    pub fail: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error("the disk is full")]
pub struct DiskFull;

impl Store for Flaky {
    fn commit(&self, batch: Batch) -> Pending {
        let refuse = !batch.is_lazy()
            && self
                .fail
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok();
        if refuse {
            return Box::pin(std::future::ready(Err(StoreError::engine(DiskFull))));
        }
        self.inner.commit(batch)
    }

    fn sync(&self) -> Pending {
        self.inner.sync()
    }

    fn load(&self) -> Result<Contents, StoreError> {
        self.inner.load()
    }
}
