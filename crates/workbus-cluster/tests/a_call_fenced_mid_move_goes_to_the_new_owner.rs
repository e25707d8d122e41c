//! A change a node serves from memory while its pool moves away finds its
//! write fenced: the node drops it and lets the pool go. The caller is not
//! refused for it: the call goes to whoever holds the pool now, and is
//! served there once, events included.
//!
//! The move is made deterministic by writing the pool's document in the
//! bucket from outside, as a claim by another node does: its revision moves
//! on, so the holder's next write is refused.

mod support;

use support::*;
use workbus_core::testing::collect;
use workbus_core::{CreatePool, CreateQueue, EventFilter, Heartbeat, PoolUpdate, QueueUpdate};

/// The pool's key in the fleet's bucket: `p.` and the name in hex.
fn pool_key(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("p.{hex}")
}

/// Moves the revision of the pool's document on, as another node's claim does.
async fn move_revision(cluster: &str, name: &str) {
    let js = async_nats::jetstream::new(async_nats::connect(NATS_URL).await.unwrap());
    let kv = js
        .get_key_value(format!("workbus-{cluster}-pools"))
        .await
        .unwrap();
    let entry = kv.entry(pool_key(name)).await.unwrap().unwrap();
    kv.update(pool_key(name), entry.value, entry.revision)
        .await
        .unwrap();
}

#[actix_rt::test]
async fn changes_served_here_during_a_move_are_served_once_by_the_holder() {
    init_logs();
    let cluster = fleet_name();
    let nodes = fleet(&cluster, &["a", "b"]).await;
    let pool = "moving";
    nodes[0]
        .bus()
        .create_pool(CreatePool::new(pool, "process"))
        .await
        .unwrap();
    let holder = nodes.iter().position(|n| n.bus().holds(pool)).unwrap();
    let (node, other) = (&nodes[holder], &nodes[1 - holder]);
    let bus = node.bus();
    let queue = bus
        .create_queue(pool, CreateQueue::new("gpu"))
        .await
        .unwrap();
    let events = [
        collect(node.bus(), EventFilter::all()).await,
        collect(other.bus(), EventFilter::all()).await,
    ];

    // A heartbeat: the first write after the move is refused here, served all the same.
    move_revision(&cluster, pool).await;
    bus.heartbeat(pool, Heartbeat::new("worker")).await.unwrap();
    assert_eq!(node.stats().fenced(), 1);
    assert_eq!(other.bus().workers(pool).await.unwrap().len(), 1);
    assert!(bus.holds(pool), "the holder took the pool back");

    // A pause.
    move_revision(&cluster, pool).await;
    let paused = bus.update_pool(pool, PoolUpdate::pause()).await.unwrap();
    assert!(paused.is_paused);
    assert_eq!(node.stats().fenced(), 2);
    assert!(other.bus().pool(pool).await.unwrap().is_paused);

    // A queue's change by id, whose pool this node finds in its own tables.
    move_revision(&cluster, pool).await;
    let q = bus
        .update_queue_by_id(queue.id, QueueUpdate::pause())
        .await
        .unwrap();
    assert!(q.is_paused);
    assert_eq!(node.stats().fenced(), 3);
    assert!(other.bus().queue_by_id(queue.id).await.unwrap().is_paused);

    // Each change was said once: what the refused writes emitted was dropped.
    node.bus().flush().await.unwrap();
    other.bus().flush().await.unwrap();
    let mut said = events[0].names();
    said.extend(events[1].names());
    said.sort();
    assert_eq!(
        said,
        [
            "prefect.work-pool.paused",
            "prefect.work-pool.ready",
            "prefect.work-queue.paused",
        ],
        "{said:?}"
    );
    for n in nodes {
        n.leave().await;
    }
    clean(&cluster).await;
}
