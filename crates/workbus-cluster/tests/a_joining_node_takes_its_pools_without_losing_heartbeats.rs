//! A node that joins takes the pools it now owns from the nodes that held
//! them, and a node that leaves hands its pools over: workers keep their
//! heartbeats and nothing is said twice.

mod support;

use std::time::Duration;

use support::*;
use workbus_cluster::Node;
use workbus_core::testing::collect;
use workbus_core::{Bus, CreatePool, EventFilter, Heartbeat, HeartbeatInterval, Status};

#[actix_rt::test]
async fn pools_move_to_a_new_node_and_back_when_it_leaves() {
    init_logs();
    let cluster = fleet_name();
    let mut nodes = fleet(&cluster, &["a", "b"]).await;
    let every = HeartbeatInterval::from_secs(60).unwrap();
    let names: Vec<String> = (0..12).map(|i| format!("pool-{i}")).collect();
    for name in &names {
        let bus = nodes[0].bus();
        bus.create_pool(CreatePool::new(name, "process"))
            .await
            .unwrap();
        bus.heartbeat(name, Heartbeat::new("worker").every(every))
            .await
            .unwrap();
    }
    let events = [
        collect(nodes[0].bus(), EventFilter::all()).await,
        collect(nodes[1].bus(), EventFilter::all()).await,
    ];
    let before: Vec<_> = {
        let mut v = Vec::new();
        for n in &names {
            v.push(nodes[1].bus().workers(n).await.unwrap());
        }
        v
    };

    // c joins: the pools it wins move to it.
    let c = Node::join(config(&cluster, "c"), Bus::builder())
        .await
        .unwrap();
    let c_events = collect(c.bus(), EventFilter::all()).await;
    nodes.push(c);
    wait_until(Duration::from_secs(10), "every node to see c", || {
        nodes.iter().all(|n| n.members().len() == 3)
    })
    .await;
    wait_until(Duration::from_secs(10), "c to hold its pools", || {
        let held: usize = nodes.iter().map(|n| n.stats().held()).sum();
        held == names.len() && nodes[2].stats().held() > 0
    })
    .await;
    assert!(nodes[2].stats().taken_over() > 0);
    for (name, workers) in names.iter().zip(&before) {
        for n in &nodes {
            let pool = n.bus().pool(name).await.unwrap();
            assert_eq!(pool.status, Some(Status::Ready), "{name}");
            // The same workers, with the same last heartbeat.
            assert_eq!(&n.bus().workers(name).await.unwrap(), workers, "{name}");
        }
    }

    // A heartbeat right after the move is the new owner's.
    for name in &names {
        nodes[0].bus().heartbeat(name, "late-worker").await.unwrap();
        assert_eq!(nodes[1].bus().workers(name).await.unwrap().len(), 2);
    }

    // c leaves: it hands its pools back, and they are served at once.
    let c = nodes.pop().unwrap();
    c.leave().await;
    for name in &names {
        assert_eq!(
            nodes[0].bus().workers(name).await.unwrap().len(),
            2,
            "{name}"
        );
    }
    assert_eq!(
        nodes.iter().map(|n| n.stats().held()).sum::<usize>(),
        names.len()
    );
    // Moving pools is silent: no node emitted an event for it.
    for e in events.iter().chain([&c_events]) {
        assert!(e.is_empty(), "{:?}", e.names());
    }
    for n in nodes {
        n.leave().await;
    }
    clean(&cluster).await;
}
