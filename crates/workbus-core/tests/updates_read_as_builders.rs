//! Updates are written with builders that read at the call site, and mean the
//! same as the structs they build.

use workbus_core::{Bus, CreatePool, CreateQueue, PoolUpdate, QueueUpdate};

#[actix_rt::test]
async fn pool_and_queue_updates_from_builders() {
    let bus = Bus::start();
    bus.create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    let pool = bus
        .update_pool(
            "etl",
            PoolUpdate::new()
                .description("nightly")
                .concurrency_limit(Some(4))
                .paused(true),
        )
        .await
        .unwrap();
    assert_eq!(pool.description.as_deref(), Some("nightly"));
    assert_eq!(pool.concurrency_limit, Some(4));
    assert!(pool.is_paused);
    let pool = bus
        .update_pool(
            "etl",
            PoolUpdate::new()
                .clear_description()
                .concurrency_limit(None),
        )
        .await
        .unwrap();
    assert_eq!((pool.description, pool.concurrency_limit), (None, None));

    bus.create_queue("etl", CreateQueue::new("q"))
        .await
        .unwrap();
    let queue = bus
        .update_queue(
            "etl",
            "q",
            QueueUpdate::new()
                .name("gpu")
                .priority(1)
                .description("GPUs"),
        )
        .await
        .unwrap();
    assert_eq!((queue.name.as_str(), queue.priority), ("gpu", 1));
    assert_eq!(queue.description, "GPUs");
    assert_eq!(
        PoolUpdate::new().paused(true),
        PoolUpdate::pause(),
        "a builder and a constructor agree"
    );
}
