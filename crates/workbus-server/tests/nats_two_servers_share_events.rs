//! Two servers with a NATS URL (the real NATS at 127.0.0.1:4222, on a stream and
//! subject prefix of this test's own) share events: an operation on server A
//! appears in server B's `/api/events/filter`, and both shut down cleanly.

mod common;

use std::time::Duration;

use actix_web::http::StatusCode;
use common::TestServer;
use serde_json::json;
use workbus_server::{ServeArgs, ServerConfig};

const NATS_URL: &str = "nats://127.0.0.1:4222";

fn node(tag: &str, node: &str) -> ServerConfig {
    let args = ServeArgs {
        port: 0,
        in_memory: true,
        http_workers: 1,
        nats_url: Some(NATS_URL.into()),
        node: Some(format!("{node}-{tag}")),
        nats_stream: Some(format!("SRVTEST_{tag}")),
        nats_subject_prefix: Some(format!("srvtest.{tag}")),
        ..ServeArgs::default()
    };
    ServerConfig::try_from(args).expect("settings")
}

#[actix_rt::test]
async fn an_operation_on_one_server_appears_in_the_other_servers_history() {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let a = TestServer::with(node(&tag, "a")).await;
    let b = TestServer::with(node(&tag, "b")).await;
    assert!(a.server.nats_stats().is_some());

    a.pool("shared-etl").await;
    let filter = json!({"event": {"name": ["prefect.work-pool.created"]}});
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = b.events(filter.clone()).await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen.len(), 1, "B never saw A's pool: {seen:?}");
    assert_eq!(
        seen[0]["resource"]["prefect.resource.name"], "shared-etl",
        "{}",
        seen[0]
    );
    // Only the event is shared: the pool itself lives on A.
    assert_eq!(
        b.get("/api/work_pools/shared-etl").await.0,
        StatusCode::NOT_FOUND
    );
    // And back: B's operation reaches A, and A does not see its own event twice.
    b.pool("from-b").await;
    let mut back = Vec::new();
    for _ in 0..200 {
        back = a
            .events(json!({"event": {"name": ["prefect.work-pool.created"]}}))
            .await;
        if back.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let names: Vec<&str> = back
        .iter()
        .map(|e| {
            e["resource"]["prefect.resource.name"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(names, ["shared-etl", "from-b"]);

    let stats = a.server.nats_stats().unwrap().clone();
    let (TestServer { server: sa, .. }, TestServer { server: sb, .. }) = (a, b);
    tokio::time::timeout(Duration::from_secs(20), sa.shutdown())
        .await
        .expect("A stops in time")
        .expect("A stops cleanly");
    tokio::time::timeout(Duration::from_secs(20), sb.shutdown())
        .await
        .expect("B stops in time")
        .expect("B stops cleanly");
    assert_eq!(stats.publisher.lost(), 0);
    assert!(stats.publisher.published() >= 3);

    // Leave the NATS server as it was.
    if let Ok(client) = async_nats::connect(NATS_URL).await {
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(format!("SRVTEST_{tag}")).await;
    }
}
