//! A pause or a resume travels to its pool's actor as a byte, not as a whole update;
//! with a store it is written like every other change before it is answered, so a
//! restarted bus has the pool as it was told, and the event, and emits nothing again.

mod support;

use std::sync::Arc;

use support::open;
use workbus_core::testing::{collect, paused, settle};
use workbus_core::{CreatePool, EventFilter, PoolUpdate, Status};
use workbus_store::{MemoryStore, Store};

#[test]
fn a_pause_answered_is_there_after_a_restart() {
    let store = Arc::new(MemoryStore::default());
    paused(|| async {
        let bus = open(&store, "2026-12-01T00:00:00Z");
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("ml", "process"))
            .await
            .unwrap();
        let etl = bus.update_pool("etl", PoolUpdate::pause()).await.unwrap();
        assert_eq!((etl.is_paused, etl.status), (true, Some(Status::Paused)));
        // A pause nobody waits for is written before the flush that follows it returns.
        bus.update_pool_nowait("ml", PoolUpdate::pause()).unwrap();
        bus.flush().await.unwrap();
    });
    let stored = store.load().unwrap().events;
    let pauses = stored
        .iter()
        .filter(|e| {
            let json: serde_json::Value = serde_json::from_slice(&e.json).unwrap();
            json["event"] == "prefect.work-pool.paused"
        })
        .count();
    assert_eq!(pauses, 2, "both pauses' events are stored");

    paused(|| async {
        let bus = open(&store, "2026-12-01T00:00:01Z");
        let seen = collect(&bus, EventFilter::all()).await;
        settle(&bus).await;
        for name in ["etl", "ml"] {
            let pool = bus.pool(name).await.unwrap();
            assert_eq!(
                (pool.is_paused, pool.status),
                (true, Some(Status::Paused)),
                "{name}"
            );
        }
        assert!(seen.events().is_empty(), "{:?}", seen.events());
        // And a resume goes the same way.
        let etl = bus.update_pool("etl", PoolUpdate::resume()).await.unwrap();
        assert_eq!((etl.is_paused, etl.status), (false, Some(Status::NotReady)));
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-pool.not-ready"]);
    });
}
