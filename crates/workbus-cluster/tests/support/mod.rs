//! Fleets of in-process nodes on the real NATS at 127.0.0.1:4222, each test in a fleet of its own.
#![allow(dead_code)]

use std::time::Duration;

use workbus_cluster::{ClusterConfig, Node};
use workbus_core::Bus;

pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// The lease of the tests' nodes: a stopped node loses its pools within about 1.25 s.
pub const LEASE: Duration = Duration::from_secs(1);

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A fleet name no other test (or run) uses.
pub fn fleet_name() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

pub fn config(cluster: &str, node: &str) -> ClusterConfig {
    ClusterConfig {
        lease: LEASE,
        call_timeout: Duration::from_secs(2),
        ..ClusterConfig::new(NATS_URL, cluster, node)
    }
}

/// Starts nodes `names` of fleet `cluster`, and waits until each sees them all.
pub async fn fleet(cluster: &str, names: &[&str]) -> Vec<Node> {
    let mut nodes = Vec::new();
    for n in names {
        nodes.push(
            Node::join(config(cluster, n), Bus::builder())
                .await
                .expect("join"),
        );
    }
    wait_until(
        Duration::from_secs(10),
        "every node to see the others",
        || nodes.iter().all(|n| n.members().len() == names.len()),
    )
    .await;
    nodes
}

/// Removes the fleet's buckets from the shared NATS server.
pub async fn clean(cluster: &str) {
    let client = async_nats::connect(NATS_URL).await.unwrap();
    let js = async_nats::jetstream::new(client);
    for b in ["nodes", "pools", "leaders", "automations"] {
        let _ = js.delete_key_value(format!("workbus-{cluster}-{b}")).await;
    }
}

pub async fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates pools `pool-0` to `pool-{n-1}` through `bus`; answers their names.
pub async fn create_pools(bus: &Bus, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("pool-{i}")).collect();
    for name in &names {
        bus.create_pool(workbus_core::CreatePool::new(name, "process"))
            .await
            .expect("create a pool");
    }
    names
}
