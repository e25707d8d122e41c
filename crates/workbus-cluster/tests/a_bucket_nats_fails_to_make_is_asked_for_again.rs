//! A fleet bucket NATS fails to make when a node joins is asked for again, not given up on.

mod support;

#[path = "../../workbus-nats/tests/support/own_server.rs"]
mod own_server;

use std::time::Duration;

use own_server::OwnServer;
use support::*;
use workbus_cluster::{ClusterConfig, ClusterError, Node};
use workbus_core::{Bus, CreatePool};

#[actix_rt::test]
async fn a_node_joins_once_nats_can_store_its_buckets() {
    init_logs();
    let server = OwnServer::start();
    let cluster = fleet_name();
    let stream = format!("KV_workbus-{cluster}-pools");
    // NATS cannot make the pools bucket until the blocker is gone.
    let blocker = server.block(&stream);
    let failed = server
        .answered(format!("$JS.API.STREAM.CREATE.{stream}"), 10049)
        .await;
    let unblock = async {
        failed.await;
        std::fs::remove_file(&blocker).unwrap();
    };

    let config = ClusterConfig {
        connect_timeout: Duration::from_secs(10),
        ..ClusterConfig::new(server.url(), &cluster, "a")
    };
    let (node, ()) = tokio::join!(Node::join(config, Bus::builder()), unblock);
    let node = node.expect("the node joins once NATS can store the bucket");
    node.bus()
        .create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    assert_eq!(node.held().await, vec!["etl".to_string()]);
}

#[actix_rt::test]
async fn joining_gives_up_after_the_connect_timeout_with_nats_s_answer() {
    init_logs();
    let server = OwnServer::start();
    let cluster = fleet_name();
    server.block(&format!("KV_workbus-{cluster}-pools"));

    let config = ClusterConfig {
        connect_timeout: Duration::from_millis(300),
        ..ClusterConfig::new(server.url(), &cluster, "a")
    };
    let err = Node::join(config, Bus::builder()).await.unwrap_err();
    let ClusterError::Setup { what, reason } = &err else {
        panic!("not a setup error: {err}");
    };
    assert_eq!(what, &format!("bucket workbus-{cluster}-pools"));
    assert!(
        reason.contains("error creating store for stream"),
        "{reason}"
    );
}
