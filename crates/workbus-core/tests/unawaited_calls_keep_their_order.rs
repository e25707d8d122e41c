//! Calls nobody waits for (`update_pool_nowait`, `heartbeat_nowait` from a new
//! worker) wait in their pool's inbox, and a burst of them costs the pool one
//! message. They still take effect in the order they were made, among themselves
//! and against the awaited calls made after them, and with a store a burst is
//! committed once.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::{bus_at_t0, collect, paused, settle, watched_etl};
use workbus_core::{BusConfig, CreatePool, EventFilter, PoolUpdate, Status};
use workbus_store::{Batch, Contents, MemoryStore, Pending, Store, StoreError};

/// The status events of what `seen` collected, in order.
fn statuses(names: Vec<String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| n.ends_with(".paused") || n.ends_with("ready"))
        .collect()
}

#[test]
fn a_pause_a_new_worker_and_a_resume_land_in_the_order_made() {
    paused(|| async {
        let (bus, seen) = watched_etl().await;
        // Applied in order: the worker comes while the pool is paused (no status
        // event), so the resume finds it online and the pool goes straight to READY.
        // Out of order (the heartbeat last) it would be not-ready, then ready.
        bus.update_pool_nowait("etl", PoolUpdate::pause()).unwrap();
        bus.heartbeat_nowait("etl", "w1").unwrap();
        bus.update_pool_nowait("etl", PoolUpdate::resume()).unwrap();
        settle(&bus).await;
        assert_eq!(
            statuses(seen.take_names()),
            ["prefect.work-pool.paused", "prefect.work-pool.ready"]
        );
        let pool = bus.pool("etl").await.unwrap();
        assert_eq!((pool.is_paused, pool.status), (false, Some(Status::Ready)));
    });
}

#[test]
fn an_awaited_call_made_after_them_sees_them() {
    paused(|| async {
        let (bus, seen) = watched_etl().await;
        bus.update_pool_nowait("etl", PoolUpdate::pause()).unwrap();
        // A read sent after the pause is answered after it, with no settling between.
        let pool = bus.pool("etl").await.unwrap();
        assert_eq!((pool.is_paused, pool.status), (true, Some(Status::Paused)));
        bus.update_pool_nowait("etl", PoolUpdate::resume()).unwrap();
        bus.update_pool_nowait("etl", PoolUpdate::pause()).unwrap();
        let pool = bus.update_pool("etl", PoolUpdate::resume()).await.unwrap();
        assert_eq!(
            (pool.is_paused, pool.status),
            (false, Some(Status::NotReady))
        );
        bus.flush().await.unwrap();
        assert_eq!(
            statuses(seen.take_names()),
            [
                "prefect.work-pool.paused",
                "prefect.work-pool.not-ready",
                "prefect.work-pool.paused",
                "prefect.work-pool.not-ready",
            ]
        );
    });
}

#[test]
fn a_long_burst_over_many_pools_keeps_each_pools_order() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        for p in 0..10 {
            bus.create_pool(CreatePool::new(format!("p{p}"), "process"))
                .await
                .unwrap();
        }
        let seen = collect(&bus, EventFilter::all()).await;
        // 101 calls a pool, interleaved over the pools, with no await between
        // them: each pool's events alternate, starting and ending with a pause.
        for k in 0..101 {
            for p in 0..10 {
                let update = if k % 2 == 0 {
                    PoolUpdate::pause()
                } else {
                    PoolUpdate::resume()
                };
                bus.update_pool_nowait(&format!("p{p}"), update).unwrap();
            }
        }
        bus.flush().await.unwrap();
        let events = seen.events();
        for p in 0..10 {
            let name = format!("p{p}");
            let mine: Vec<&str> = events
                .iter()
                .filter(|e| e.resource.name() == Some(name.as_str()))
                .map(|e| &*e.event)
                .collect();
            let expected: Vec<&str> = (0..101)
                .map(|k| {
                    if k % 2 == 0 {
                        "prefect.work-pool.paused"
                    } else {
                        "prefect.work-pool.not-ready"
                    }
                })
                .collect();
            assert_eq!(mine, expected, "{name}");
            assert!(bus.pool(&name).await.unwrap().is_paused, "{name}");
        }
    });
}

/// A [`MemoryStore`] that counts the batches committed to it.
#[derive(Debug, Default)]
struct Counted {
    inner: MemoryStore,
    commits: AtomicUsize,
}

impl Store for Counted {
    fn commit(&self, batch: Batch) -> Pending {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.inner.commit(batch)
    }

    fn sync(&self) -> Pending {
        self.inner.sync()
    }

    fn load(&self) -> Result<Contents, StoreError> {
        self.inner.load()
    }
}

#[test]
fn with_a_store_a_burst_on_one_pool_is_one_commit() {
    let store = Arc::new(Counted::default());
    paused(|| async {
        let bus = workbus_core::Bus::builder()
            .clock(Arc::new(workbus_core::TokioClock::starting_at(
                support::T0.parse().unwrap(),
            )))
            .open(store.clone() as Arc<dyn Store>)
            .unwrap();
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let before = store.commits.load(Ordering::Relaxed);
        for k in 0..51 {
            let update = if k % 2 == 0 {
                PoolUpdate::pause()
            } else {
                PoolUpdate::resume()
            };
            bus.update_pool_nowait("etl", update).unwrap();
        }
        // The read is handled after the burst and its commit (the pool waits for
        // it); counted before any flush, which writes the workers' beats on its own.
        let pool = bus.pool("etl").await.unwrap();
        assert_eq!((pool.is_paused, pool.status), (true, Some(Status::Paused)));
        assert_eq!(
            store.commits.load(Ordering::Relaxed) - before,
            1,
            "one commit for the burst"
        );
        bus.flush().await.unwrap();
    });
    // Every one of the burst's 51 status events is stored.
    let names: Vec<String> = store
        .inner
        .load()
        .unwrap()
        .events
        .iter()
        .map(|e| {
            let json: serde_json::Value = serde_json::from_slice(&e.json).unwrap();
            json["event"].as_str().unwrap().to_owned()
        })
        .filter(|n| n.ends_with(".paused") || n.ends_with(".not-ready"))
        .collect();
    assert_eq!(
        names.len(),
        51 + 1,
        "the 51 changes' events and the creation's status"
    );
}
