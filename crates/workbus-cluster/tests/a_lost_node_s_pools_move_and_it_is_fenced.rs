//! A node that stops renewing its membership (as one killed or paused does)
//! loses its pools to the others within the lease; when it wakes it cannot
//! write them or emit for them.

mod support;

use std::time::{Duration, Instant};

use support::*;
use workbus_core::testing::collect;
use workbus_core::{
    CreatePool, Error, EventFilter, Heartbeat, HeartbeatInterval, PoolUpdate, Status,
};
use workbus_store::StoreError;

#[actix_rt::test]
async fn survivors_serve_a_lost_nodes_pools_and_the_lost_node_is_fenced() {
    init_logs();
    let cluster = fleet_name();
    let mut nodes = fleet(&cluster, &["a", "b", "c"]).await;
    let every = HeartbeatInterval::from_secs(60).unwrap();
    let names: Vec<String> = (0..12).map(|i| format!("pool-{i}")).collect();
    for name in &names {
        nodes[0]
            .bus()
            .create_pool(CreatePool::new(name, "process"))
            .await
            .unwrap();
        nodes[1]
            .bus()
            .heartbeat(name, Heartbeat::new("worker").every(every))
            .await
            .unwrap();
    }
    // The node that holds the most pools is lost.
    let mut held = Vec::new();
    for n in &nodes {
        held.push(n.held().await);
    }
    let victim_at = (0..3).max_by_key(|i| held[*i].len()).unwrap();
    let lost = held[victim_at].clone();
    assert!(!lost.is_empty());
    let victim = nodes.remove(victim_at);
    let victim_bus = victim.bus().clone();
    let victim_events = collect(&victim_bus, EventFilter::all()).await;

    // Its membership and its calls stop; its actors run on, as in a paused process.
    let stopped = Instant::now();
    drop(victim);
    wait_until(
        Duration::from_secs(10),
        "the survivors to see the loss",
        || nodes.iter().all(|n| n.members().len() == 2),
    )
    .await;
    eprintln!("members changed {:?} after the stop", stopped.elapsed());
    for name in &lost {
        loop {
            assert!(
                stopped.elapsed() < Duration::from_secs(10),
                "{name} not served within 10 s"
            );
            let found = nodes[0].bus().pool(name).await;
            if let Ok(pool) = found {
                if nodes.iter().any(|n| n.bus().holds(name)) {
                    assert_eq!(pool.status, Some(Status::Ready), "{name}");
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Every acknowledged heartbeat is there, from both survivors.
        for n in &nodes {
            let workers = n.bus().workers(name).await.unwrap();
            assert_eq!(workers.len(), 1, "{name}");
            assert_eq!(workers[0].name, "worker");
        }
    }
    let moved_in = stopped.elapsed();
    assert!(moved_in < Duration::from_secs(10), "{moved_in:?}");
    eprintln!(
        "{} pools served by the survivors {moved_in:?} after their node stopped",
        lost.len()
    );

    // The lost node still holds the pool in memory; its first write is refused.
    let name = &lost[0];
    assert!(victim_bus.holds(name));
    let before = victim_events.len();
    let err = victim_bus
        .update_pool(name, PoolUpdate::pause())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::Fenced { .. })),
        "{err}"
    );
    assert!(!victim_bus.holds(name), "a fenced pool is let go");
    // The registry is flushed first; the beats it then writes are fenced too.
    let _ = victim_bus.flush().await;
    assert_eq!(victim_events.len(), before, "a fenced change emits nothing");
    let pool = nodes[1].bus().pool(name).await.unwrap();
    assert!(!pool.is_paused, "the fleet's state is the new owner's");

    for n in nodes {
        n.leave().await;
    }
    clean(&cluster).await;
}
