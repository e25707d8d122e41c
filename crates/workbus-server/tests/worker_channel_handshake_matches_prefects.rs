//! The worker channel's handshake answers as Prefect 3.9.1's server does:
//! `worker.ready.v1` with the pool's snapshot, the worker's heartbeat recorded
//! through the same path (and with the same events) as a REST heartbeat.

mod common;

use common::channel::{connect, heartbeat, hello};
use common::{fast_config, names, recv, send, TestServer};
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

async fn read(s: &TestServer, pool: &str) -> serde_json::Value {
    s.get(&format!("/api/work_pools/{pool}")).await.1
}

#[actix_rt::test]
async fn ready_carries_the_pool_and_the_heartbeat_makes_it_ready() {
    let s = TestServer::with(fast_config()).await;
    s.post("/api/work_pools", json!({"name": "etl", "type": "process"}))
        .await;
    s.post("/api/work_pools/etl/queues", json!({"name": "high"}))
        .await;
    let consumer = Uuid::now_v7();
    let mut h = hello(consumer, "w1");
    // Cleanup delivery is asked for, and declined: there are no flow runs here.
    h["payload"]["requested_capabilities"] = json!([
        "worker_heartbeat.v1",
        "work_pool_snapshot.v1",
        "cleanup_delivery.v1"
    ]);
    h["payload"]["handled_cleanup_kinds"] = json!(["pending_claim_teardown.v1"]);
    h["payload"]["max_cleanup_concurrency"] = json!(2);
    let (_ws, ready) = connect(&s, "etl", h).await;

    let p = &ready["payload"];
    assert_eq!(p["consumer_id"], json!(consumer));
    assert_eq!(p["worker_id"], json!(null));
    assert_eq!(p["selected_channel_version"], "work_pool_worker_channel.v1");
    assert_eq!(p["effective_heartbeat_interval_seconds"], 30);
    assert_eq!(
        p["accepted_capabilities"],
        json!(["worker_heartbeat.v1", "work_pool_snapshot.v1"])
    );
    assert_eq!(p["rejected_capabilities"], json!(["cleanup_delivery.v1"]));
    assert_eq!(p["effective_max_cleanup_concurrency"], 0);
    let queues: Vec<&str> = p["resolved_work_queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(queues, ["default", "high"]);
    assert_eq!(p["initial_snapshot"]["snapshot_sequence"], 1);
    assert_eq!(p["initial_snapshot"]["reason"], "initial");
    // The snapshot is the pool as GET answers it, after the heartbeat made it ready.
    let pool = read(&s, "etl").await;
    assert_eq!(p["initial_snapshot"]["work_pool"], pool);
    assert_eq!(pool["status"], "READY");
    assert!(ready["id"]
        .as_str()
        .and_then(|i| i.parse::<Uuid>().ok())
        .is_some());
    assert!(ready["sent_at"].is_string());

    // The worker is listed as a REST heartbeat lists it, and the events are the same.
    let (_, workers) = s
        .post("/api/work_pools/etl/workers/filter", json!({}))
        .await;
    assert_eq!(workers[0]["name"], "w1");
    assert_eq!(workers[0]["heartbeat_interval_seconds"], 30);
    assert!(names(&s.events(json!({})).await).contains(&"prefect.work-pool.ready".to_owned()));
    assert_eq!(s.server.channel_stats().heartbeats(), 1);
    assert_eq!(s.server.channel_stats().rest_heartbeats(), 0);
}

#[actix_rt::test]
async fn channel_heartbeats_keep_the_pool_ready_until_the_worker_stops() {
    let s = TestServer::with(fast_config()).await;
    s.post("/api/work_pools", json!({"name": "etl", "type": "process"}))
        .await;
    let consumer = Uuid::now_v7();
    let mut h = hello(consumer, "w1");
    // fast_config's multiple is 1: offline one interval after the last heartbeat.
    h["payload"]["heartbeat_interval_seconds"] = json!(1);
    let (mut ws, _) = connect(&s, "etl", h).await;
    let mut beat = heartbeat(consumer, "w1");
    beat["payload"]["heartbeat_interval_seconds"] = json!(1);
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        send(&mut ws, beat.clone()).await;
    }
    let sent = std::time::Instant::now();
    while s.server.channel_stats().heartbeats() < 7 {
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "heartbeats not recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(read(&s, "etl").await["status"], "READY");
    assert_eq!(s.server.channel_stats().heartbeats(), 7);
    assert_eq!(s.server.channel_stats().rest_heartbeats(), 0);

    // The worker stops: no heartbeat comes, and the pool is not ready an interval later.
    drop(ws);
    let stopped = std::time::Instant::now();
    while read(&s, "etl").await["status"] != "NOT_READY" {
        assert!(stopped.elapsed() < Duration::from_secs(5), "still READY");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, workers) = s
        .post("/api/work_pools/etl/workers/filter", json!({}))
        .await;
    assert_eq!(workers[0]["status"], "OFFLINE");
}

#[actix_rt::test]
async fn a_worker_creates_its_pool_and_fills_an_empty_template() {
    let s = TestServer::start().await;
    let template = json!({"job_configuration": {"command": "{{ command }}"},
                          "variables": {"properties": {"command": {"type": "string"}}}});
    let mut h = hello(Uuid::now_v7(), "w1");
    h["payload"]["create_pool_if_not_found"] = json!(true);
    h["payload"]["default_base_job_template"] = template.clone();
    let (_ws, ready) = connect(&s, "fresh", h).await;
    let pool = read(&s, "fresh").await;
    assert_eq!(pool["type"], "process");
    assert_eq!(pool["base_job_template"], template);
    assert_eq!(ready["payload"]["initial_snapshot"]["work_pool"], pool);

    // An existing pool with an empty template gets the worker's, with Prefect's one
    // `updated` event; one with a template keeps it.
    s.post(
        "/api/work_pools",
        json!({"name": "empty", "type": "process"}),
    )
    .await;
    let mut h = hello(Uuid::now_v7(), "w2");
    h["payload"]["default_base_job_template"] = template.clone();
    let (_ws2, _) = connect(&s, "empty", h.clone()).await;
    assert_eq!(read(&s, "empty").await["base_job_template"], template);
    let updated: Vec<_> = s
        .events(json!({"event": {"name": ["prefect.work-pool.updated"]}}))
        .await
        .into_iter()
        .filter(|e| e["resource"]["prefect.resource.name"] == "empty")
        .collect();
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(
        updated[0]["payload"],
        json!({"updated_fields": ["base_job_template"],
               "updates": {"base_job_template": {"from": {}, "to": template}}})
    );

    let other = json!({"variables": {"properties": {}}});
    let mut h2 = hello(Uuid::now_v7(), "w3");
    h2["payload"]["default_base_job_template"] = other;
    let (_ws3, _) = connect(&s, "empty", h2).await;
    assert_eq!(read(&s, "empty").await["base_job_template"], template);
}

#[actix_rt::test]
async fn named_queues_are_resolved_in_the_order_asked() {
    let s = TestServer::start().await;
    s.post("/api/work_pools", json!({"name": "etl", "type": "process"}))
        .await;
    s.post("/api/work_pools/etl/queues", json!({"name": "high"}))
        .await;
    let mut h = hello(Uuid::now_v7(), "w1");
    h["payload"]["work_queue_names"] = json!(["high", "default", "high"]);
    let (mut ws, ready) = connect(&s, "etl", h).await;
    let queues: Vec<&str> = ready["payload"]["resolved_work_queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(queues, ["high", "default"]);
    // Nothing else is said until something changes.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), recv(&mut ws))
            .await
            .is_err()
    );
}
