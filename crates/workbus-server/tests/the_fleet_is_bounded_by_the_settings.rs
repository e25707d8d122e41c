//! Pools, queues in a pool, and workers in a pool are bounded by the settings:
//! one more is refused with 409 and changes nothing, and a place frees when
//! one is deleted.

mod common;

use actix_web::http::StatusCode;
use common::TestServer;
use serde_json::json;

#[actix_rt::test]
async fn one_more_than_the_limit_is_409_until_a_place_frees() {
    let mut cfg = common::fast_config();
    cfg.bus.max_pools = 2;
    cfg.bus.max_queues_per_pool = 2;
    cfg.bus.max_workers_per_pool = 2;
    let t = TestServer::with(cfg).await;
    t.pool("a").await;
    t.pool("b").await;
    let (status, body) = t
        .post("/api/work_pools/", json!({"name": "c", "type": "process"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("at most 2 work pools"));

    // The default queue counts: one more fits, then no more.
    let (status, _) = t
        .post("/api/work_pools/a/queues", json!({"name": "q1"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = t
        .post("/api/work_pools/a/queues", json!({"name": "q2"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    for w in ["w1", "w2"] {
        let (status, _) = t
            .post("/api/work_pools/a/workers/heartbeat", json!({"name": w}))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (status, _) = t
        .post("/api/work_pools/a/workers/heartbeat", json!({"name": "w3"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A known worker still heartbeats.
    let (status, _) = t
        .post("/api/work_pools/a/workers/heartbeat", json!({"name": "w1"}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Places free when one goes.
    assert_eq!(
        t.delete("/api/work_pools/a/workers/w2").await.0,
        StatusCode::NO_CONTENT
    );
    let (status, _) = t
        .post("/api/work_pools/a/workers/heartbeat", json!({"name": "w3"}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.delete("/api/work_pools/b").await.0,
        StatusCode::NO_CONTENT
    );
    t.pool("c").await;
    let (_, pools) = t.post("/api/work_pools/filter", json!({})).await;
    let names: Vec<&str> = pools
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"]);
}
