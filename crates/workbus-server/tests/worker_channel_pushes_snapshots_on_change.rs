//! A change to a pool's template, limit, storage or paused state reaches every
//! worker connected to it as a `work_pool.snapshot.v1`, at once; other changes
//! go with the worker's next heartbeat, as Prefect 3.9.1 sends them.

mod common;

use std::time::{Duration, Instant};

use common::channel::{connect, heartbeat, hello};
use common::{recv, send, TestServer, Ws};
use serde_json::{json, Value};
use uuid::Uuid;
use workbus_core::PoolUpdate;

async fn snapshot(ws: &mut Ws) -> Value {
    let frame = recv(ws).await.expect("a snapshot");
    assert_eq!(frame["type"], "work_pool.snapshot.v1", "{frame}");
    frame["payload"].clone()
}

async fn quiet(ws: &mut Ws) -> bool {
    tokio::time::timeout(Duration::from_millis(200), recv(ws))
        .await
        .is_err()
}

#[actix_rt::test]
async fn pushed_fields_reach_every_worker_of_the_pool_in_sequence() {
    let s = TestServer::start().await;
    for name in ["etl", "other"] {
        s.post("/api/work_pools", json!({"name": name, "type": "process"}))
            .await;
    }
    let (mut a, _) = connect(&s, "etl", hello(Uuid::now_v7(), "a")).await;
    let (mut b, _) = connect(&s, "etl", hello(Uuid::now_v7(), "b")).await;
    let (mut elsewhere, _) = connect(&s, "other", hello(Uuid::now_v7(), "c")).await;

    let changes = [
        json!({"concurrency_limit": 3}),
        json!({"base_job_template": {"variables": {"properties": {}}}}),
        json!({"storage_configuration": {"bundle_upload_step": {"s": {}}}}),
        json!({"is_paused": true}),
        json!({"is_paused": false}),
    ];
    let mut latencies = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        let at = Instant::now();
        let (status, _) = s.patch("/api/work_pools/etl", change.clone()).await;
        assert_eq!(status, 204);
        let mut got = Vec::new();
        for ws in [&mut a, &mut b] {
            got.push(snapshot(ws).await);
            latencies.push(at.elapsed());
        }
        let pool = s.get("/api/work_pools/etl").await.1;
        for p in got {
            assert_eq!(p["snapshot_sequence"], i as u64 + 2);
            assert_eq!(p["reason"], "work_pool_updated");
            assert_eq!(p["work_pool"], pool);
        }
    }
    assert!(
        quiet(&mut elsewhere).await,
        "another pool's worker heard etl's changes"
    );
    latencies.sort();
    eprintln!(
        "snapshot after PATCH: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies.last().unwrap()
    );
    assert!(*latencies.last().unwrap() < Duration::from_secs(1));
    assert_eq!(s.server.channel_stats().snapshots(), 10);
}

#[actix_rt::test]
async fn other_changes_go_with_the_next_heartbeat() {
    let s = TestServer::start().await;
    s.post("/api/work_pools", json!({"name": "etl", "type": "process"}))
        .await;
    let consumer = Uuid::now_v7();
    let (mut ws, _) = connect(&s, "etl", hello(consumer, "w")).await;
    s.patch("/api/work_pools/etl", json!({"description": "nightly"}))
        .await;
    assert!(quiet(&mut ws).await, "a description is not pushed at once");
    send(&mut ws, heartbeat(consumer, "w")).await;
    let p = snapshot(&mut ws).await;
    assert_eq!(p["reason"], "heartbeat_reconciliation");
    assert_eq!(p["snapshot_sequence"], 2);
    assert_eq!(p["work_pool"]["description"], "nightly");
    // Nothing changed since: the next heartbeat brings nothing.
    send(&mut ws, heartbeat(consumer, "w")).await;
    assert!(quiet(&mut ws).await);
}

#[actix_rt::test]
async fn a_burst_of_changes_ends_on_the_last_state() {
    let s = TestServer::start().await;
    s.post("/api/work_pools", json!({"name": "etl", "type": "process"}))
        .await;
    let (mut ws, _) = connect(&s, "etl", hello(Uuid::now_v7(), "w")).await;
    for limit in 1..=50 {
        let update = PoolUpdate::new().concurrency_limit(Some(limit));
        s.server.bus().update_pool_nowait("etl", update).unwrap();
    }
    // Coalesced: fewer snapshots than changes maybe, in order, the last one showing 50.
    let mut last = 1;
    loop {
        let p = snapshot(&mut ws).await;
        let seq = p["snapshot_sequence"].as_u64().unwrap();
        assert_eq!(seq, last + 1, "sequences are consecutive");
        last = seq;
        if p["work_pool"]["concurrency_limit"] == 50 {
            break;
        }
    }
    // One more may follow (a change that landed while the last one was read): the same state.
    while let Ok(Some(frame)) =
        tokio::time::timeout(Duration::from_millis(200), recv(&mut ws)).await
    {
        assert_eq!(frame["payload"]["work_pool"]["concurrency_limit"], 50);
        last += 1;
    }
    assert!(last <= 51);
}
