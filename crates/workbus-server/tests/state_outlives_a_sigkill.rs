//! With a data directory, `kill -9` loses nothing the server answered: the
//! issue's own try (two pools with templates and limits, queues, two workers,
//! then SIGKILL and a restart) finds every object and every event again.

mod common;

use std::time::Duration;

use common::child::{self, call};
use serde_json::{json, Value};

/// Everything a client reads of the fleet and the history.
async fn everything(s: &child::Running, c: &awc::Client) -> (Value, Vec<Value>) {
    let (_, pools) = call(c, "POST", s.url("/api/work_pools/filter"), Some(json!({}))).await;
    let mut fleet = Vec::new();
    for p in pools.as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let (_, queues) = call(
            c,
            "POST",
            s.url(&format!("/api/work_pools/{name}/queues/filter")),
            Some(json!({})),
        )
        .await;
        let (_, workers) = call(
            c,
            "POST",
            s.url(&format!("/api/work_pools/{name}/workers/filter")),
            Some(json!({})),
        )
        .await;
        fleet.push(json!({"pool": p, "queues": queues, "workers": workers}));
    }
    let (_, page) = call(
        c,
        "POST",
        s.url("/api/events/filter"),
        Some(json!({"limit": 50})),
    )
    .await;
    (json!(fleet), page["events"].as_array().unwrap().clone())
}

#[actix_rt::test]
async fn two_pools_queues_and_workers_outlive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let c = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let s = child::start(&[("WORKBUS_DATA_DIR", data)]);
    let template = json!({"job_configuration": {"command": "{{ command }}"},
                          "variables": {"properties": {"command": {"type": "string"}}}});
    for (name, limit) in [("etl", 4), ("ml", 2)] {
        let (status, _) = call(
            &c,
            "POST",
            s.url("/api/work_pools"),
            Some(json!({
            "name": name, "type": "process", "base_job_template": template,
            "concurrency_limit": limit})),
        )
        .await;
        assert_eq!(status, 201);
        let (status, _) = call(
            &c,
            "POST",
            s.url(&format!("/api/work_pools/{name}/queues")),
            Some(json!({"name": "high", "priority": 1})),
        )
        .await;
        assert_eq!(status, 201);
    }
    for w in ["w1", "w2"] {
        let (status, _) = call(
            &c,
            "POST",
            s.url("/api/work_pools/etl/workers/heartbeat"),
            Some(json!({"name": w, "heartbeat_interval_seconds": 30})),
        )
        .await;
        assert_eq!(status, 204);
    }
    let (status, _) = call(
        &c,
        "POST",
        s.url("/api/work_pools/etl/get_scheduled_flow_runs"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &c,
        "PATCH",
        s.url("/api/work_pools/ml"),
        Some(json!({"is_paused": true})),
    )
    .await;
    assert_eq!(status, 204);
    let (fleet, events) = everything(&s, &c).await;
    assert_eq!(fleet.as_array().unwrap().len(), 2);
    // Per pool: default created, created, not-ready, high created, default moved to 2;
    // then etl ready, its two queues ready, ml paused.
    assert_eq!(events.len(), 14, "{events:#?}");
    drop(s); // SIGKILL

    let s = child::start(&[("WORKBUS_DATA_DIR", data)]);
    let (fleet_after, events_after) = everything(&s, &c).await;
    assert_eq!(fleet_after, fleet);
    assert_eq!(events_after, events);
    // And it goes on from there.
    let (status, _) = call(
        &c,
        "PATCH",
        s.url("/api/work_pools/etl"),
        Some(json!({"description": "d"})),
    )
    .await;
    assert_eq!(status, 204);
}

#[actix_rt::test]
async fn a_data_dir_in_use_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let _first = child::start(&[("WORKBUS_DATA_DIR", data)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_workbus"))
        .env("WORKBUS_DATA_DIR", data)
        .env("WORKBUS_PORT", "0")
        .env_remove("WORKBUS_IN_MEMORY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another process"), "{err}");
}

#[actix_rt::test]
async fn a_corrupt_store_is_refused_never_taken_for_an_empty_fleet() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("workbus.redb"),
        b"not a store at all, just bytes",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_workbus"))
        .env("WORKBUS_DATA_DIR", dir.path())
        .env("WORKBUS_PORT", "0")
        .env_remove("WORKBUS_IN_MEMORY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot be read") && err.contains("restore it from a backup"),
        "{err}"
    );
}
