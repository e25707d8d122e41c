//! A request that races the deletion of its pool finds the pool gone (404), or
//! done before it (2xx), never "the bus has stopped" (503): a pool's actor
//! stopping is not the bus stopping.

mod common;

use actix_web::http::StatusCode;
use common::TestServer;
use futures_util::future::join_all;
use serde_json::json;

#[actix_rt::test]
async fn racing_requests_get_404_or_success_never_503() {
    let t = TestServer::start().await;
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..60 {
        let pool = format!("race-{round}");
        t.pool(&pool).await;
        let (status, _) = t
            .post(
                &format!("/api/work_pools/{pool}/queues"),
                json!({"name": "q"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = t
            .post(
                &format!("/api/work_pools/{pool}/workers/heartbeat"),
                json!({"name": "w"}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let base = format!("/api/work_pools/{pool}");
        let requests = (0..32).map(|i| {
            let (t, base) = (&t, base.clone());
            async move {
                // The delete goes out among the others, not first.
                match i % 8 {
                    0 if i == 8 => t.delete(&base).await.0,
                    0 => t.patch(&base, json!({"description": "x"})).await.0,
                    1 => t.get(&base).await.0,
                    2 => {
                        t.post(
                            &format!("{base}/workers/heartbeat"),
                            json!({"name": format!("w{i}")}),
                        )
                        .await
                        .0
                    }
                    3 => {
                        t.post(&format!("{base}/queues"), json!({"name": format!("q{i}")}))
                            .await
                            .0
                    }
                    4 => t.delete(&format!("{base}/queues/q")).await.0,
                    5 => t.delete(&format!("{base}/workers/w")).await.0,
                    6 => t.get(&format!("{base}/queues/default")).await.0,
                    _ => t.post(&format!("{base}/queues/filter"), json!({})).await.0,
                }
            }
        });
        for status in join_all(requests).await {
            *seen.entry(status.as_u16()).or_default() += 1;
            assert!(
                status.is_success()
                    || status == StatusCode::NOT_FOUND
                    || status == StatusCode::CONFLICT,
                "round {round}: {status} while racing a delete"
            );
        }
        let (status, _) = t.get(&base).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the pool is gone");
    }
    // The race was real: some requests came after the delete.
    assert!(seen.get(&404).copied().unwrap_or(0) > 0, "{seen:?}");
}
