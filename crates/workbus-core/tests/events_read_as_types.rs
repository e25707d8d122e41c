//! Events read as types: their kind, status and pool without string matching,
//! and filters built from kinds and pool names.

mod support;

use support::collect;
use workbus_core::{Bus, CreatePool, CreateQueue, EventFilter, Status};
use workbus_events::{EventKind, Subject};

#[actix_rt::test]
async fn kind_status_and_pool_of_every_event() {
    let bus = Bus::start();
    let seen = collect(&bus, EventFilter::all()).await;
    let pool = bus
        .create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    bus.create_queue("etl", CreateQueue::new("gpu"))
        .await
        .unwrap();
    bus.heartbeat("etl", "w").await.unwrap();
    bus.flush().await.unwrap();
    let events = seen.events();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            EventKind::QueueCreated,
            EventKind::PoolCreated,
            EventKind::PoolStatus(Status::NotReady),
            EventKind::QueueCreated,
            EventKind::PoolStatus(Status::Ready),
        ]
    );
    for e in &events {
        let p = e.pool().expect("every event names its pool");
        assert_eq!(p.name(), Some("etl"));
        assert_eq!(p.uuid(), Some(pool.id));
        assert_eq!(p.id(), workbus_events::prefect::pool_resource_id(pool.id));
        let subject = e.kind().unwrap().subject();
        assert_eq!(
            subject == Subject::Queue,
            e.event.starts_with("prefect.work-queue.")
        );
    }
    assert_eq!(events[4].status(), Some(Status::Ready));
    assert_eq!(events[0].status(), None);
}

#[actix_rt::test]
async fn filters_from_kinds_and_pool_names() {
    let bus = Bus::start();
    let not_ready_etl = collect(
        &bus,
        EventFilter::kinds([EventKind::PoolStatus(Status::NotReady)]).about_pool("etl"),
    )
    .await;
    let etl_queues = collect(
        &bus,
        EventFilter::prefix(["prefect.work-queue."]).related_pool("etl"),
    )
    .await;
    let about_etl = collect(&bus, EventFilter::all().about_pool("etl")).await;
    for name in ["etl", "ml"] {
        bus.create_pool(CreatePool::new(name, "process"))
            .await
            .unwrap();
        bus.create_queue(name, CreateQueue::new("q")).await.unwrap();
    }
    bus.flush().await.unwrap();
    assert_eq!(not_ready_etl.names(), ["prefect.work-pool.not-ready"]);
    assert_eq!(
        etl_queues.names(),
        ["prefect.work-queue.created", "prefect.work-queue.created"]
    );
    assert_eq!(about_etl.len(), 4, "{:?}", about_etl.names());
}
