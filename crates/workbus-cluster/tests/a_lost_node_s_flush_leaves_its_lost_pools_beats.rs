//! A node that was cut off still flushes: beats it had not written yet for a
//! pool another node has taken since are the new owner's to keep, and the
//! store refusing them (fenced) is no failure of the flush.

mod support;

use std::time::Duration;

use support::*;
use workbus_cluster::Node;
use workbus_core::{Bus, BusConfig};

#[actix_rt::test]
async fn a_lost_node_flushes_though_its_lost_pools_beats_are_fenced() {
    init_logs();
    let cluster = fleet_name();
    // Beats are written lazily once an hour on `a`: those of this test wait
    // for the flush.
    let lazy = BusConfig {
        beats_every: Duration::from_secs(3600),
        ..BusConfig::default()
    };
    let a = Node::join(config(&cluster, "a"), Bus::builder().config(lazy))
        .await
        .expect("a joins");
    let b = Node::join(config(&cluster, "b"), Bus::builder())
        .await
        .expect("b joins");
    wait_until(
        Duration::from_secs(10),
        "each node to see the other",
        || a.members().len() == 2 && b.members().len() == 2,
    )
    .await;
    let names = create_pools(a.bus(), 12).await;
    let held = a.held().await;
    let pool = names
        .iter()
        .find(|n| held.contains(n))
        .expect("a holds one of twelve pools");
    // The worker's second heartbeat only moves a time: done in place, and
    // left for the lazy writer.
    a.bus().heartbeat(pool, "worker").await.unwrap();
    a.bus().heartbeat(pool, "worker").await.unwrap();

    // `a` stops renewing its membership; its actors and tables live on.
    let a_bus = a.bus().clone();
    drop(a);
    wait_until(Duration::from_secs(10), "b to take a's pools", || {
        b.bus().holds(pool)
    })
    .await;
    assert!(a_bus.holds(pool), "nothing has told a yet");

    a_bus
        .flush()
        .await
        .expect("the beats of a pool taken since do not fail the flush");
    // The new owner has the worker, from its first (written) heartbeat.
    assert_eq!(b.bus().workers(pool).await.unwrap().len(), 1);

    b.leave().await;
    clean(&cluster).await;
}
