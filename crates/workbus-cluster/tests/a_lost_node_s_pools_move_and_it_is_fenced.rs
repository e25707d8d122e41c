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
    // One of its pools has a single worker that heartbeats every second: once
    // its node stops, that worker goes offline on the node's own timer.
    let short = &lost[0];
    nodes[0]
        .bus()
        .heartbeat(
            short,
            Heartbeat::new("short").every(HeartbeatInterval::from_secs(1).unwrap()),
        )
        .await
        .unwrap();
    nodes[0].bus().delete_worker(short, "worker").await.unwrap();

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
            if nodes.iter().any(|n| n.bus().holds(name)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Every acknowledged heartbeat is there, from both survivors.
        for n in &nodes {
            let pool = n.bus().pool(name).await.unwrap();
            let workers = n.bus().workers(name).await.unwrap();
            assert_eq!(workers.len(), 1, "{name}");
            if name != short {
                assert_eq!(pool.status, Some(Status::Ready), "{name}");
                assert_eq!(workers[0].name, "worker");
            }
        }
    }
    let moved_in = stopped.elapsed();
    assert!(moved_in < Duration::from_secs(10), "{moved_in:?}");
    eprintln!(
        "{} pools served by the survivors {moved_in:?} after their node stopped",
        lost.len()
    );

    // The lost node's lease has lapsed: it serves nothing from memory.
    let err = victim_bus
        .update_pool(short, PoolUpdate::pause())
        .await
        .unwrap_err();
    assert_eq!(err, Error::Timeout);
    assert!(!nodes[1].bus().pool(short).await.unwrap().is_paused);

    // Its timer still fires (the short worker goes offline there), but its
    // write is refused: it lets the pool go and emits nothing for it.
    wait_until(
        Duration::from_secs(10),
        "the lost node to let the pool go",
        || !victim_bus.holds(short),
    )
    .await;
    let _ = victim_bus.flush().await;
    let about_short: Vec<String> = victim_events
        .events()
        .iter()
        .filter(|e| e.resource.name() == Some(short.as_str()))
        .map(|e| e.event.to_string())
        .collect();
    assert!(about_short.is_empty(), "{about_short:?}");
    // The new owner's own timer takes the worker offline: the pool is not ready.
    let deadline = Instant::now() + Duration::from_secs(10);
    while nodes[0].bus().pool(short).await.unwrap().status != Some(Status::NotReady) {
        assert!(
            Instant::now() < deadline,
            "the new owner never saw the worker go"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for n in nodes {
        n.leave().await;
    }
    clean(&cluster).await;
}
