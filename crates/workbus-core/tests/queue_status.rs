//! The work-queue state machine, one test per row of the spec's table, asserting whole events.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use workbus_core::{
    BusConfig, CreatePool, CreateQueue, EventFilter, PoolUpdate, QueueUpdate, Status,
};

async fn pool_with_queue(
    bus: &workbus_core::Bus,
    queue: CreateQueue,
) -> (workbus_core::PoolInfo, workbus_core::QueueInfo) {
    let pool = bus
        .create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    let q = bus.create_queue("etl", queue).await.unwrap();
    (pool, q)
}

fn queues() -> EventFilter {
    EventFilter::prefix(["prefect.work-queue."])
}

#[test]
fn create_is_not_ready_and_emits_created_only() {
    paused(|| async {
        let (bus, seen) = watched_etl().await;
        let q = bus
            .create_queue("etl", CreateQueue::new("high"))
            .await
            .unwrap();
        settle(&bus).await;
        let pool = bus.pool("etl").await.unwrap();
        let events = seen.events();
        assert_eq!(events.len(), 1);
        assert_json(
            &events[0],
            json!({"occurred": T0, "event": "prefect.work-queue.created",
                   "resource": queue_labels(q.id, "high"),
                   "related": [pool_labels(pool.id, "etl", "process", true)]}),
        );
        assert_eq!(q.status, Status::NotReady);
        assert_eq!(q.description, "");
        assert_eq!(q.priority, 2, "one more than the default queue's");
    });
}

#[test]
fn create_paused_is_paused() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let (_, q) = pool_with_queue(
            &bus,
            CreateQueue {
                is_paused: true,
                ..CreateQueue::new("q")
            },
        )
        .await;
        assert_eq!((q.status, q.is_paused), (Status::Paused, true));
    });
}

#[test]
fn poll_makes_not_ready_queue_ready() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let (pool, q) = pool_with_queue(&bus, CreateQueue::new("q")).await;
        let seen = collect(&bus, queues()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        settle(&bus).await;
        let events = seen.events();
        assert_eq!(events.len(), 1);
        assert_json(
            &events[0],
            json!({"occurred": at(2.0), "event": "prefect.work-queue.ready",
                   "resource": queue_labels(q.id, "q"),
                   "related": [pool_labels(pool.id, "etl", "process", true)]}),
        );
        let q = bus.queue("etl", "q").await.unwrap();
        assert_eq!(q.status, Status::Ready);
        assert_eq!(q.last_polled.unwrap().to_string(), at(2.0));
        // The default queue was not named, so it was not polled.
        assert_eq!(
            bus.queue("etl", "default").await.unwrap().status,
            Status::NotReady
        );
    });
}

#[test]
fn poll_without_names_polls_every_queue_of_the_pool() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(&bus, CreateQueue::new("q")).await;
        let seen = collect(&bus, queues()).await;
        bus.poll_all("etl").await.unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.names(),
            ["prefect.work-queue.ready", "prefect.work-queue.ready"]
        );
    });
}

#[test]
fn poll_on_ready_queue_emits_nothing() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(&bus, CreateQueue::new("q")).await;
        bus.poll_all("etl").await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.poll_all("etl").await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
    });
}

#[test]
fn poll_on_paused_queue_emits_nothing_but_moves_last_polled() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(
            &bus,
            CreateQueue {
                is_paused: true,
                ..CreateQueue::new("q")
            },
        )
        .await;
        let seen = collect(&bus, EventFilter::all()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
        let q = bus.queue("etl", "q").await.unwrap();
        assert_eq!(q.status, Status::Paused);
        assert_eq!(q.last_polled.unwrap().to_string(), at(1.0));
    });
}

#[test]
fn ready_queue_not_polled_for_the_timeout_goes_not_ready_at_the_deadline() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let (pool, q) = pool_with_queue(&bus, CreateQueue::new("q")).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap(); // the deadline moves to 90 s
        let seen = collect(&bus, queues()).await;
        tokio::time::sleep(Duration::from_millis(59_999)).await;
        settle(&bus).await;
        assert!(seen.names().is_empty());
        tokio::time::sleep(Duration::from_millis(1)).await;
        settle(&bus).await;
        let events = seen.events();
        assert_eq!(events.len(), 1);
        assert_json(
            &events[0],
            json!({"occurred": at(90.0), "event": "prefect.work-queue.not-ready",
                   "resource": queue_labels(q.id, "q"),
                   "related": [pool_labels(pool.id, "etl", "process", true)]}),
        );
    });
}

#[test]
fn the_poll_timeout_comes_from_the_config() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig {
            queue_poll_timeout: Duration::from_secs(5),
            ..BusConfig::default()
        });
        pool_with_queue(&bus, CreateQueue::new("q")).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        let seen = collect(&bus, queues()).await;
        tokio::time::sleep(Duration::from_secs(6)).await;
        settle(&bus).await;
        assert_eq!(seen.events()[0].occurred.to_string(), at(5.0));
    });
}

#[test]
fn not_ready_and_paused_queues_do_not_time_out() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(&bus, CreateQueue::new("q")).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        bus.update_queue("etl", "q", QueueUpdate::pause())
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        settle(&bus).await;
        assert!(seen.names().is_empty());
    });
}

#[test]
fn pause_from_ready_or_not_ready_emits_paused() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(&bus, CreateQueue::new("q")).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        let seen = collect(&bus, queues()).await;
        let q = bus
            .update_queue("etl", "q", QueueUpdate::pause())
            .await
            .unwrap();
        let d = bus
            .update_queue("etl", "default", QueueUpdate::pause())
            .await
            .unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.names(),
            ["prefect.work-queue.paused", "prefect.work-queue.paused"]
        );
        assert_eq!((q.status, q.is_paused), (Status::Paused, true));
        assert_eq!((d.status, d.is_paused), (Status::Paused, true));
    });
}

#[test]
fn pausing_a_paused_queue_emits_nothing() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(
            &bus,
            CreateQueue {
                is_paused: true,
                ..CreateQueue::new("q")
            },
        )
        .await;
        let seen = collect(&bus, EventFilter::all()).await;
        bus.update_queue("etl", "q", QueueUpdate::pause())
            .await
            .unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
    });
}

#[test]
fn resume_after_a_recent_poll_emits_ready() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(
            &bus,
            CreateQueue {
                is_paused: true,
                ..CreateQueue::new("q")
            },
        )
        .await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(59)).await;
        let seen = collect(&bus, queues()).await;
        let q = bus
            .update_queue("etl", "q", QueueUpdate::resume())
            .await
            .unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-queue.ready"]);
        assert_eq!((q.status, q.is_paused), (Status::Ready, false));
        // And it times out from that poll, a second later.
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle(&bus).await;
        assert_eq!(
            seen.names(),
            ["prefect.work-queue.ready", "prefect.work-queue.not-ready"]
        );
    });
}

#[test]
fn resume_without_a_recent_poll_emits_not_ready() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(
            &bus,
            CreateQueue {
                is_paused: true,
                ..CreateQueue::new("q")
            },
        )
        .await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let seen = collect(&bus, queues()).await;
        let q = bus
            .update_queue("etl", "q", QueueUpdate::resume())
            .await
            .unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-queue.not-ready"]);
        assert_eq!(q.status, Status::NotReady);
    });
}

#[test]
fn resume_uses_last_polled_from_the_same_update() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(
            &bus,
            CreateQueue {
                is_paused: true,
                ..CreateQueue::new("q")
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(100)).await;
        let seen = collect(&bus, queues()).await;
        let update = QueueUpdate {
            is_paused: Some(false),
            last_polled: Some(Some(at(90.0).parse().unwrap())),
            ..QueueUpdate::default()
        };
        let q = bus.update_queue("etl", "q", update).await.unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-queue.ready"]);
        assert_eq!(q.last_polled.unwrap().to_string(), at(90.0));
    });
}

#[test]
fn resuming_a_running_queue_emits_nothing() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(&bus, CreateQueue::new("q")).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.update_queue("etl", "q", QueueUpdate::resume())
            .await
            .unwrap();
        bus.update_queue("etl", "default", QueueUpdate::resume())
            .await
            .unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
    });
}

#[test]
fn pausing_or_resuming_the_pool_leaves_its_queues_alone() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(&bus, CreateQueue::new("q")).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        let seen = collect(&bus, queues()).await;
        bus.update_pool("etl", PoolUpdate::pause()).await.unwrap();
        bus.update_pool("etl", PoolUpdate::resume()).await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
        assert_eq!(bus.queue("etl", "q").await.unwrap().status, Status::Ready);
    });
}

#[test]
fn queues_of_a_paused_pool_still_become_ready_when_polled() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(&bus, CreateQueue::new("q")).await;
        bus.update_pool("etl", PoolUpdate::pause()).await.unwrap();
        let seen = collect(&bus, queues()).await;
        bus.poll("etl", &["q".to_owned()]).await.unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-queue.ready"]);
    });
}

#[test]
fn heartbeats_do_not_touch_queue_status() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        pool_with_queue(&bus, CreateQueue::new("q")).await;
        let seen = collect(&bus, queues()).await;
        bus.heartbeat("etl", "w1").await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
    });
}

#[test]
fn poll_by_queue_id_marks_that_queue() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let (_, q) = pool_with_queue(&bus, CreateQueue::new("q")).await;
        let seen = collect(&bus, queues()).await;
        bus.poll_queue(q.id).await.unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-queue.ready"]);
        assert_eq!(bus.queue_by_id(q.id).await.unwrap().status, Status::Ready);
    });
}
