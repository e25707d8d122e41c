//! `created` and `deleted` events of pools and queues, in Prefect's order.

mod support;

use serde_json::json;
use support::*;
use workbus_core::{BusConfig, CreatePool, CreateQueue, Error, EventFilter};

#[test]
fn deleting_a_pool_deletes_every_queue_then_the_pool() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let a = bus
            .create_queue("etl", CreateQueue::new("a"))
            .await
            .unwrap();
        let b = bus
            .create_queue("etl", CreateQueue::new("b"))
            .await
            .unwrap();
        bus.heartbeat("etl", "w1").await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.delete_pool("etl").await.unwrap();
        settle(&bus).await;
        let events = seen.events();
        assert_eq!(
            seen.names(),
            [
                "prefect.work-queue.deleted",
                "prefect.work-queue.deleted",
                "prefect.work-queue.deleted",
                "prefect.work-pool.deleted"
            ],
            "no status events on deletion"
        );
        let related = [pool_labels(pool.id, "etl", "process", true)];
        for (e, (id, name)) in
            events
                .iter()
                .zip([(pool.default_queue_id, "default"), (a.id, "a"), (b.id, "b")])
        {
            assert_json(
                e,
                json!({"occurred": T0, "event": "prefect.work-queue.deleted",
                       "resource": queue_labels(id, name), "related": related}),
            );
        }
        assert_json(
            &events[3],
            json!({"occurred": T0, "event": "prefect.work-pool.deleted",
                   "resource": pool_labels(pool.id, "etl", "process", true),
                   "related": [{"prefect.resource.id": format!("prefect.work-queue.{}", pool.default_queue_id),
                                "prefect.resource.role": "default-queue"}]}),
        );
        assert!(matches!(bus.pool("etl").await, Err(Error::PoolNotFound(_))));
        assert!(matches!(
            bus.queue_by_id(a.id).await,
            Err(Error::QueueIdNotFound(_))
        ));
        assert_eq!(bus.stats().workers_online(), 0);
        // The name is free again, and the new pool is a new resource.
        let again = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        assert_ne!(again.id, pool.id);
    });
}

#[test]
fn deleting_a_queue_emits_deleted_with_its_pool() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let q = bus
            .create_queue("etl", CreateQueue::new("q"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.delete_queue("etl", "q").await.unwrap();
        settle(&bus).await;
        let events = seen.events();
        assert_eq!(events.len(), 1);
        assert_json(
            &events[0],
            json!({"occurred": T0, "event": "prefect.work-queue.deleted",
                   "resource": queue_labels(q.id, "q"),
                   "related": [pool_labels(pool.id, "etl", "process", true)]}),
        );
        assert!(matches!(
            bus.queue("etl", "q").await,
            Err(Error::QueueNotFound { .. })
        ));
        assert_eq!(bus.queues("etl").await.unwrap().len(), 1);
    });
}

#[test]
fn deleting_a_queue_by_id_works_like_by_name() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let q = bus
            .create_queue("etl", CreateQueue::new("q"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.delete_queue_by_id(q.id).await.unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-queue.deleted"]);
    });
}

#[test]
fn deleting_the_default_queue_is_refused_and_emits_nothing() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        assert_eq!(
            bus.delete_queue("etl", "default").await,
            Err(Error::DefaultQueueDeletion("etl".into()))
        );
        assert_eq!(
            bus.delete_queue_by_id(pool.default_queue_id).await,
            Err(Error::DefaultQueueDeletion("etl".into()))
        );
        settle(&bus).await;
        assert!(seen.names().is_empty());
        assert!(bus.queue("etl", "default").await.is_ok());
    });
}

#[test]
fn queue_events_after_a_deletion_and_recreation_carry_the_new_pool() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.delete_pool("etl").await.unwrap();
        let pool = bus
            .create_pool(CreatePool::new("etl", "docker"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.poll_all("etl").await.unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.json()[0]["related"],
            json!([pool_labels(pool.id, "etl", "docker", true)])
        );
    });
}

#[test]
fn listings_are_ordered() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        for name in ["c", "a", "b"] {
            bus.create_pool(CreatePool::new(name, "process"))
                .await
                .unwrap();
        }
        let names: Vec<String> = bus.pools().await.into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(bus.pool_names(), ["a", "b", "c"]);
        for name in ["z", "y"] {
            bus.create_queue("a", CreateQueue::new(name)).await.unwrap();
        }
        let queues: Vec<(String, i64)> = bus
            .queues("a")
            .await
            .unwrap()
            .into_iter()
            .map(|q| (q.name, q.priority))
            .collect();
        assert_eq!(
            queues,
            [("default".into(), 1), ("z".into(), 2), ("y".into(), 3)]
        );
    });
}
