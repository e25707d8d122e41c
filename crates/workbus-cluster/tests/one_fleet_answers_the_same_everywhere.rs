//! Three nodes, one fleet: a pool created on one is served by every one.

mod support;

use std::time::Duration;

use support::*;
use workbus_core::{CreatePool, CreateQueue, Error, PoolUpdate, Status};

#[actix_rt::test]
async fn create_on_a_heartbeat_on_b_read_on_c() {
    init_logs();
    let cluster = fleet_name();
    let nodes = fleet(&cluster, &["a", "b", "c"]).await;
    let (a, b, c) = (nodes[0].bus(), nodes[1].bus(), nodes[2].bus());

    let created = a
        .create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    assert_eq!(created.status, Some(Status::NotReady));
    b.heartbeat("etl", "worker-1").await.unwrap();
    let seen = [
        a.pool("etl").await.unwrap(),
        b.pool("etl").await.unwrap(),
        c.pool("etl").await.unwrap(),
    ];
    assert_eq!(seen[0].status, Some(Status::Ready));
    assert!(seen.iter().all(|p| *p == seen[0]), "{seen:#?}");
    assert_eq!(seen[0].id, created.id);

    // Exactly one node holds it; the others route to it.
    let mut holders = Vec::new();
    for n in &nodes {
        if n.held().await.contains(&"etl".to_string()) {
            holders.push(n.name().to_owned());
        }
    }
    assert_eq!(holders.len(), 1, "{holders:?}");

    // Refusals come back as the owner gave them.
    let err = b
        .create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap_err();
    assert_eq!(err, Error::PoolExists("etl".into()));
    let err = c.queue("etl", "nope").await.unwrap_err();
    assert!(matches!(err, Error::QueueNotFound { .. }), "{err}");
    let err = a.pool("absent").await.unwrap_err();
    assert_eq!(err, Error::PoolNotFound("absent".into()));

    // Queues, workers, updates and ids, from any node.
    let q = c
        .create_queue("etl", CreateQueue::new("gpu"))
        .await
        .unwrap();
    assert_eq!(a.workers("etl").await.unwrap().len(), 1);
    let paused = b.update_pool("etl", PoolUpdate::pause()).await.unwrap();
    assert_eq!(paused.status, Some(Status::Paused));
    wait_until(
        Duration::from_secs(5),
        "every node to know the queue's id",
        || {
            nodes
                .iter()
                .all(|n| n.bus().pool_name(created.id).is_some())
                && nodes
                    .iter()
                    .all(|n| n.bus().pool_id("etl") == Some(created.id))
        },
    )
    .await;
    for n in &nodes {
        let by_id = n.bus().queue_by_id(q.id).await.unwrap();
        assert_eq!(by_id.name, "gpu");
        assert_eq!(n.bus().pool_by_id(created.id).await.unwrap().name, "etl");
    }

    // Lists: the whole fleet's pools, from every node.
    for name in ["b-pool", "c-pool", "d-pool"] {
        c.create_pool(CreatePool::new(name, "process"))
            .await
            .unwrap();
    }
    wait_until(Duration::from_secs(5), "every node to list 4 pools", || {
        nodes.iter().all(|n| n.bus().pool_names().len() == 4)
    })
    .await;
    for n in &nodes {
        let names: Vec<String> = n.bus().pools().await.into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["b-pool", "c-pool", "d-pool", "etl"]);
    }

    b.delete_pool("etl").await.unwrap();
    assert_eq!(
        c.pool("etl").await.unwrap_err(),
        Error::PoolNotFound("etl".into())
    );
    for n in nodes {
        n.leave().await;
    }
    clean(&cluster).await;
}
