//! Three `workbus` processes in one fleet (the real NATS at 127.0.0.1:4222):
//! an automation made on any node is read the same on every node, one node
//! (the leader) evaluates it, so a matching event fires it once in the fleet,
//! not once per node; when the leader is killed with SIGKILL another node takes
//! the lease, loads the automation and its block from JetStream KV, and the
//! next event fires it once again.

mod common;

use std::time::{Duration, Instant};

use common::child;
use serde_json::{json, Value};

async fn call(
    http: &awc::Client,
    node: &child::Running,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    child::call(http, method, node.url(path), body).await
}

/// Calls until the answer is not `503` (no leader yet), for up to 15 s.
async fn call_led(
    http: &awc::Client,
    node: &child::Running,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let start = Instant::now();
    loop {
        let (s, v) = call(http, node, method, path, body.clone()).await;
        if s != 503 || start.elapsed() > Duration::from_secs(15) {
            return (s, v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many `prefect.automation.triggered` events a node's history holds,
/// once it has held `n` for a moment (up to 15 s), and that it holds no more.
async fn triggered(http: &awc::Client, node: &child::Running, n: usize) -> usize {
    let count = || async {
        let (_, page) = call(
            http,
            node,
            "POST",
            "/api/events/filter",
            Some(json!({"filter": {"event": {"name": ["prefect.automation.triggered"]}}, "limit": 50})),
        )
        .await;
        page["events"].as_array().map_or(0, Vec::len)
    };
    let start = Instant::now();
    while count().await < n && start.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A second firing on another node would arrive within this.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    count().await
}

fn node(nodes: &[Option<child::Running>], i: usize) -> &child::Running {
    nodes[i].as_ref().expect("a live node")
}

#[actix_rt::test]
async fn one_firing_per_event_in_the_fleet_and_after_the_leader_dies() {
    let (tag, mut nodes) = child::start_fleet(&["a", "b", "c"]);
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(20))
        .finish();
    let (s, _) = call(
        &http,
        node(&nodes, 0),
        "POST",
        "/api/work_pools/",
        Some(json!({"name": "etl", "type": "process"})),
    )
    .await;
    assert_eq!(s, 201);
    let spec = json!({
        "name": "count pauses",
        "trigger": {"type": "event", "posture": "Reactive", "expect": ["prefect.work-pool.paused"],
                    "for_each": ["prefect.resource.id"], "threshold": 1, "within": 0},
        "actions": [{"type": "do-nothing"}]
    });
    let (s, created) = call_led(
        &http,
        node(&nodes, 1),
        "POST",
        "/api/automations/",
        Some(spec),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let (s, read) = call_led(
            &http,
            node(&nodes, i),
            "GET",
            &format!("/api/automations/{id}"),
            None,
        )
        .await;
        assert_eq!(s, 200, "node {i}: {read}");
        assert_eq!(read, created, "node {i} reads it as it was made");
    }

    let (s, _) = call(
        &http,
        node(&nodes, 2),
        "PATCH",
        "/api/work_pools/etl",
        Some(json!({"is_paused": true})),
    )
    .await;
    assert_eq!(s, 204);
    for i in 0..3 {
        assert_eq!(
            triggered(&http, node(&nodes, i), 1).await,
            1,
            "node {i} sees one firing: the fleet evaluated the automation once"
        );
    }

    // The leader is the node whose metrics count the firing.
    let mut leader = None;
    for i in 0..3 {
        let firings = node(&nodes, i)
            .metric_if_any("workbus_automations_firings_total")
            .await;
        if firings.is_some_and(|f| f >= 1.0) {
            assert!(leader.is_none(), "one node leads");
            leader = Some(i);
        }
    }
    let leader = leader.expect("one node counts the firing");
    let ok = std::process::Command::new("kill")
        .args(["-KILL", &node(&nodes, leader).child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    nodes[leader] = None;
    let other = (0..3).find(|i| *i != leader).unwrap();

    // Another node leads within the lease; the automation is there, from KV.
    let (s, read) = call_led(
        &http,
        node(&nodes, other),
        "GET",
        &format!("/api/automations/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{read}");
    assert_eq!(read, created);
    let (s, _) = call(
        &http,
        node(&nodes, other),
        "PATCH",
        "/api/work_pools/etl",
        Some(json!({"is_paused": false})),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = call(
        &http,
        node(&nodes, other),
        "PATCH",
        "/api/work_pools/etl",
        Some(json!({"is_paused": true})),
    )
    .await;
    assert_eq!(s, 204);
    for i in (0..3).filter(|i| *i != leader) {
        assert_eq!(
            triggered(&http, node(&nodes, i), 2).await,
            2,
            "node {i}: one more firing, from the new leader"
        );
    }
    drop(nodes);
    child::clean_fleet(&tag).await;
}
