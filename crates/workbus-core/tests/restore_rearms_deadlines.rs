//! A restart re-arms every deadline on the clock: a worker or queue that was
//! alive when the bus stopped gets a full window from the restart (one still
//! alive does not flap), and one that died meanwhile is offline, or not ready,
//! exactly at the end of that window, with its event. Paused time.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::open;
use workbus_core::testing::{advance, collect, paused, settle};
use workbus_core::{Bus, CreatePool, EventFilter, Status, WorkerStatus};
use workbus_store::MemoryStore;

async fn worker_status(bus: &Bus, name: &str) -> WorkerStatus {
    let workers = bus.workers("etl").await.unwrap();
    workers.iter().find(|w| w.name == name).unwrap().status
}

#[test]
fn alive_workers_and_queues_get_a_window_and_dead_ones_go_at_its_end() {
    let store = Arc::new(MemoryStore::new());
    paused(|| async {
        let bus = open(&store, "2026-12-01T00:00:00Z");
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        // Offline 30 s × 3 after their last heartbeat; the queue not ready 60 s after its poll.
        bus.heartbeat("etl", "alive").await.unwrap();
        bus.heartbeat("etl", "dead").await.unwrap();
        bus.poll("etl", ["default"]).await.unwrap();
        advance(&bus, Duration::from_secs(20)).await;
        bus.heartbeat("etl", "alive").await.unwrap();
        bus.heartbeat("etl", "dead").await.unwrap();
        bus.poll("etl", ["default"]).await.unwrap();
        bus.flush().await.unwrap();
    });

    // Down for three minutes: every deadline passed meanwhile.
    paused(|| async {
        let bus = open(&store, "2026-12-01T00:03:20Z");
        let seen = collect(&bus, EventFilter::all()).await;
        settle(&bus).await;
        assert_eq!(bus.pool("etl").await.unwrap().status, Some(Status::Ready));
        assert_eq!(worker_status(&bus, "alive").await, WorkerStatus::Online);
        assert_eq!(worker_status(&bus, "dead").await, WorkerStatus::Online);
        assert!(seen.events().is_empty(), "nothing flaps at the restart");

        // The live worker and queue show they are alive within their window.
        advance(&bus, Duration::from_secs(30)).await;
        bus.heartbeat("etl", "alive").await.unwrap();
        bus.poll("etl", ["default"]).await.unwrap();
        advance(&bus, Duration::from_secs(50)).await;
        bus.poll("etl", ["default"]).await.unwrap();
        // The dead worker goes at the restart + 90 s; the pool stays ready.
        advance(&bus, Duration::from_secs(10)).await;
        assert_eq!(worker_status(&bus, "dead").await, WorkerStatus::Offline);
        assert_eq!(worker_status(&bus, "alive").await, WorkerStatus::Online);
        assert_eq!(bus.pool("etl").await.unwrap().status, Some(Status::Ready));
        assert!(seen.events().is_empty(), "{:?}", seen.names());

        // Then both stop: the pool is not ready 90 s after the last heartbeat, the
        // queue 60 s after the last poll, to the microsecond.
        // (Paused time stamps a timer with the end of the advance that fired it: one step each.)
        advance(&bus, Duration::from_secs(30)).await;
        advance(&bus, Duration::from_secs(20)).await;
        assert_eq!(
            seen.names(),
            [
                "prefect.work-pool.not-ready",
                "prefect.work-queue.not-ready"
            ]
        );
        let at: Vec<String> = seen
            .events()
            .iter()
            .map(|e| e.occurred.to_string())
            .collect();
        assert_eq!(
            at,
            ["2026-12-01T00:05:20.000000Z", "2026-12-01T00:05:40.000000Z"]
        );
    });
}

#[test]
fn a_queue_not_polled_after_the_restart_is_not_ready_at_the_end_of_its_window() {
    let store = Arc::new(MemoryStore::new());
    paused(|| async {
        let bus = open(&store, "2026-12-01T00:00:00Z");
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.poll("etl", ["default"]).await.unwrap();
        bus.flush().await.unwrap();
    });
    paused(|| async {
        let bus = open(&store, "2026-12-01T01:00:00Z");
        let seen = collect(&bus, EventFilter::all()).await;
        settle(&bus).await;
        assert_eq!(
            bus.queue("etl", "default").await.unwrap().status,
            Status::Ready
        );
        advance(&bus, Duration::from_secs(60)).await;
        assert_eq!(
            bus.queue("etl", "default").await.unwrap().status,
            Status::NotReady
        );
        let events = seen.events();
        assert_eq!(seen.names(), ["prefect.work-queue.not-ready"]);
        assert_eq!(
            events[0].occurred.to_string(),
            "2026-12-01T01:01:00.000000Z"
        );
    });
    // What the timer did is stored: a third start finds it not ready, and says nothing.
    paused(|| async {
        let bus = open(&store, "2026-12-01T02:00:00Z");
        let seen = collect(&bus, EventFilter::all()).await;
        settle(&bus).await;
        assert_eq!(
            bus.queue("etl", "default").await.unwrap().status,
            Status::NotReady
        );
        assert!(seen.events().is_empty());
    });
}
