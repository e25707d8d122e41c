//! A leadership of the fleet (the real NATS at 127.0.0.1:4222): one node
//! leads and every node names it; when it steps down another node leads at
//! its next tick; when the leader is dropped (a crash: the key is not given
//! up), another leads once the lease has run out. Never two at once as seen
//! from the nodes, and the fleet's automations store keeps what a leader wrote.

mod support;

use std::time::Duration;

use support::*;
use workbus_store::{Batch, Store, Table};

#[actix_rt::test]
async fn a_leader_at_a_time_and_a_successor_after_it() {
    init_logs();
    let cluster = fleet_name();
    let nodes = fleet(&cluster, &["a", "b", "c"]).await;
    let mut leads: Vec<_> = nodes.iter().map(|n| Some(n.lead("work"))).collect();
    let leader = |leads: &Vec<Option<workbus_cluster::Leadership>>| {
        let me: Vec<usize> = (0..leads.len())
            .filter(|i| leads[*i].as_ref().is_some_and(|l| l.current().me))
            .collect();
        assert!(me.len() <= 1, "two leaders at once: {me:?}");
        me.first().copied()
    };
    wait_until(Duration::from_secs(5), "a leader", || {
        leader(&leads).is_some()
    })
    .await;
    let first = leader(&leads).unwrap();
    let name = nodes[first].name().to_owned();
    wait_until(Duration::from_secs(5), "every node to name it", || {
        leads
            .iter()
            .flatten()
            .all(|l| l.current().holder.as_deref() == Some(name.as_str()))
    })
    .await;

    // What the leader writes, the next reads.
    let mut batch = Batch::new();
    batch.put(Table::Automations, vec![1, 2, 3], b"{}".to_vec());
    nodes[first]
        .automations_store()
        .commit(batch)
        .await
        .unwrap();

    leads[first].take().unwrap().step_down().await;
    wait_until(Duration::from_secs(3), "a successor", || {
        leader(&leads).is_some()
    })
    .await;
    let second = leader(&leads).unwrap();
    assert_ne!(second, first);
    let read = nodes[second].automations_store().load_all().await.unwrap();
    assert_eq!(read.automations, vec![(vec![1, 2, 3], b"{}".to_vec())]);

    // A crash gives nothing up: the next leads after the lease.
    drop(leads[second].take());
    let crashed = tokio::time::Instant::now();
    wait_until(
        Duration::from_secs(5),
        "a successor to the crashed leader",
        || leader(&leads).is_some(),
    )
    .await;
    assert!(
        crashed.elapsed() >= LEASE / 2,
        "not before the crashed leader's key expired: {:?}",
        crashed.elapsed()
    );
    for n in nodes {
        n.leave().await;
    }
    clean(&cluster).await;
}
