//! A pool's queue priorities stay distinct, as Prefect 3.9.1 keeps them
//! (`bulk_update_work_queue_priorities`): creating a queue at a priority
//! another holds, or moving one there, shifts the holder and those behind it
//! down by one; workbus says so with a `prefect.work-queue.updated`
//! (`priority`) for every queue moved, which Prefect does not. A queue
//! created without a priority takes the first one free.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use workbus_core::testing::{collect, settle};
use workbus_core::{Bus, CreateQueue, EventFilter, QueueUpdate};

async fn priorities(bus: &Bus) -> BTreeMap<String, i64> {
    let queues = bus.queues("etl").await.unwrap();
    queues.into_iter().map(|q| (q.name, q.priority)).collect()
}

/// Each `updated` event as (queue name, from, to) of its priority.
fn moves(events: &[Value]) -> Vec<(String, i64, i64)> {
    events
        .iter()
        .filter(|e| e["event"] == "prefect.work-queue.updated")
        .map(|e| {
            let change = &e["payload"]["updates"]["priority"];
            (
                e["resource"]["prefect.resource.name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                change["from"].as_i64().unwrap(),
                change["to"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[actix_rt::test]
async fn queue_priorities_stay_distinct_as_prefects() {
    let bus = Bus::start();
    bus.create_pool(workbus_core::CreatePool::new("etl", "process"))
        .await
        .unwrap();
    bus.create_queue("etl", CreateQueue::new("q2"))
        .await
        .unwrap();
    let seen = collect(&bus, EventFilter::prefix(["prefect.work-queue."])).await;

    // Created at 1: `default` (1) and `q2` (2) move down, each with its event.
    let q3 = CreateQueue {
        priority: Some(1),
        ..CreateQueue::new("q3")
    };
    bus.create_queue("etl", q3).await.unwrap();
    settle(&bus).await;
    let json = seen.json();
    assert_eq!(json[0]["event"], "prefect.work-queue.created");
    assert_eq!(
        moves(&json),
        [("default".into(), 1, 2), ("q2".into(), 2, 3)]
    );
    // The moved queues' events carry their pool, as every queue event does.
    assert_eq!(json[1]["related"][0]["prefect.resource.name"], json!("etl"));
    assert_eq!(
        priorities(&bus).await,
        BTreeMap::from([("default".into(), 2), ("q2".into(), 3), ("q3".into(), 1)])
    );

    // Moved to 1: its own change first, then the queues it pushed down.
    seen.take();
    bus.update_queue("etl", "q2", QueueUpdate::new().priority(1))
        .await
        .unwrap();
    settle(&bus).await;
    assert_eq!(
        moves(&seen.json()),
        [
            ("q2".into(), 3, 1),
            ("q3".into(), 1, 2),
            ("default".into(), 2, 3)
        ]
    );
    // A later change reports the `from` the pool really had.
    seen.take();
    bus.update_queue("etl", "default", QueueUpdate::new().priority(7))
        .await
        .unwrap();
    settle(&bus).await;
    assert_eq!(moves(&seen.json()), [("default".into(), 3, 7)]);

    // Without a priority: the first one free (3), as Prefect's `create_work_queue`.
    let q4 = bus
        .create_queue("etl", CreateQueue::new("q4"))
        .await
        .unwrap();
    assert_eq!(q4.priority, 3);
    assert_eq!(
        priorities(&bus).await,
        BTreeMap::from([
            ("default".into(), 7),
            ("q2".into(), 1),
            ("q3".into(), 2),
            ("q4".into(), 3)
        ])
    );
}
