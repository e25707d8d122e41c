//! Every REST route and status code, against a real server on a loopback port.

mod common;

use std::time::Duration;

use actix_web::http::StatusCode;
use common::{fast_config, TestServer};
use serde_json::{json, Value};
use workbus_server::ServerConfig;

#[actix_rt::test]
async fn root_routes_answer_as_prefect() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/api/health").await, (StatusCode::OK, json!(true)));
    assert_eq!(
        s.get("/api/ready").await,
        (StatusCode::OK, json!({"message": "OK"}))
    );
    assert_eq!(
        s.get("/api/version").await,
        (StatusCode::OK, json!("0.8.4"))
    );
    assert_eq!(
        s.get("/api/admin/version").await,
        (StatusCode::OK, json!("3.9.1"))
    );
    let (status, body) = s.get("/api/csrf-token?client=abc").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"], "CSRF protection is disabled.");
    assert_eq!(
        s.post("/api/flow_runs/filter", json!({})).await,
        (StatusCode::OK, json!([]))
    );
    assert_eq!(
        s.post("/api/deployments/filter", json!({})).await,
        (StatusCode::OK, json!([]))
    );
    s.server.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn unknown_routes_and_methods_answer_json() {
    let s = TestServer::start().await;
    assert_eq!(
        s.get("/api/nope").await,
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
    assert_eq!(s.get("/elsewhere").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        s.raw("PUT", "/api/health", None, vec![]).await,
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"detail": "Method Not Allowed"})
        )
    );
    s.pool("p").await;
    // The worker channel is a websocket: a plain GET is a 400 that says so.
    let (status, body) = s.get("/api/work_pools/p/workers/connect").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("websocket handshake failed"));
}

#[actix_rt::test]
async fn pool_lifecycle_and_status_codes() {
    let s = TestServer::start().await;
    let pool = s.pool("etl").await;
    assert_eq!(pool["name"], "etl");
    assert_eq!(pool["type"], "process");
    assert_eq!(pool["status"], "NOT_READY");
    assert_eq!(pool["is_paused"], false);
    assert_eq!(pool["base_job_template"], json!({}));
    assert!(pool["default_queue_id"].is_string());
    assert_eq!(
        pool["storage_configuration"],
        json!({"bundle_upload_step": null, "bundle_execution_step": null, "default_result_storage_block_id": null})
    );

    // The trailing slash is optional, as behind Prefect's redirect.
    let (status, _) = s
        .post("/api/work_pools", json!({"name": "etl", "type": "process"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = s
        .post(
            "/api/work_pools/",
            json!({"name": "Prefect-x", "type": "process"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for bad in [
        json!({"name": "a/b"}),
        json!({"name": ""}),
        json!({"name": "x", "concurrency_limit": -1}),
    ] {
        let (status, body) = s.post("/api/work_pools/", bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["detail"].is_string());
    }
    // Prefect's default type.
    let (status, agent) = s.post("/api/work_pools/", json!({"name": "agent"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(agent["type"], "prefect-agent");
    assert_eq!(agent["status"], Value::Null);

    let (status, read) = s.get("/api/work_pools/etl").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["id"], pool["id"]);
    assert_eq!(
        s.get("/api/work_pools/missing").await.0,
        StatusCode::NOT_FOUND
    );

    let (status, body) = s
        .patch(
            "/api/work_pools/etl",
            json!({"description": "d", "concurrency_limit": 3}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (_, read) = s.get("/api/work_pools/etl").await;
    assert_eq!(read["description"], "d");
    assert_eq!(read["concurrency_limit"], 3);
    assert_eq!(
        s.patch("/api/work_pools/etl", json!({"name": "renamed"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.patch("/api/work_pools/missing", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.patch("/api/work_pools/etl", json!({"is_paused": true}))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.get("/api/work_pools/etl").await.1["status"], "PAUSED");

    let (status, list) = s.post("/api/work_pools/filter", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let (_, list) = s
        .post(
            "/api/work_pools/filter",
            json!({"work_pools": {"name": {"any_": ["etl"]}}}),
        )
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (_, list) = s
        .post(
            "/api/work_pools/filter",
            json!({"work_pools": {"type": {"any_": ["docker"]}}}),
        )
        .await;
    assert_eq!(list, json!([]));
    let (_, list) = s
        .post("/api/work_pools/filter", json!({"limit": 1, "offset": 1}))
        .await;
    assert_eq!(list[0]["name"], "etl");
    assert_eq!(
        s.post("/api/work_pools/filter", json!({"limit": 201}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.post(
            "/api/work_pools/filter",
            json!({"work_pools": {"bogus": 1}})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    assert_eq!(
        s.delete("/api/work_pools/etl").await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        s.delete("/api/work_pools/etl").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.get("/api/work_pools/etl").await.0, StatusCode::NOT_FOUND);
}

#[actix_rt::test]
async fn bad_bodies_get_json_errors_and_change_nothing() {
    let mut cfg = ServerConfig::loopback();
    cfg.body_limit = 1024;
    let s = TestServer::with(cfg).await;
    let json = Some("application/json");
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            json,
            b"{\"name\": \"p\"".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json,
            b"{\"name\": \"\xff\xfe\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json,
            b"{\"name\": 5}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json, b"[1, 2]".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json,
            b"{\"name\": \"p\", \"status\": \"READY\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json, b"".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        (
            Some("text/plain"),
            b"{\"name\": \"p\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            json,
            format!(
                "{{\"name\": \"p\", \"description\": \"{}\"}}",
                "x".repeat(2000)
            )
            .into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (ct, body, want) in cases {
        let (status, answer) = s.raw("POST", "/api/work_pools/", ct, body.clone()).await;
        assert_eq!(
            status,
            want,
            "{:?} -> {answer}",
            String::from_utf8_lossy(&body)
        );
        assert!(answer["detail"].is_string(), "{answer}");
    }
    let (_, invalid) = s
        .raw("POST", "/api/work_pools/", json, b"{\"name\": 5}".to_vec())
        .await;
    assert_eq!(invalid["exception_message"], "Invalid request received.");
    // A body without a content type is JSON, as on Prefect's server.
    let (status, _) = s
        .raw(
            "POST",
            "/api/work_pools/",
            None,
            br#"{"name": "ok", "type": "process"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Bad PATCH bodies change nothing either.
    for body in [
        &b"{\"description\": 5}"[..],
        b"{\"is_paused\": \"yes\"}",
        b"nope",
    ] {
        let (status, _) = s
            .raw("PATCH", "/api/work_pools/ok", json, body.to_vec())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(
        s.raw(
            "POST",
            "/api/work_pools/ok/workers/heartbeat",
            json,
            b"{}".to_vec()
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_, pools) = s.post("/api/work_pools/filter", json!({})).await;
    assert_eq!(pools.as_array().map(Vec::len), Some(1));
    assert_eq!(pools[0]["description"], Value::Null);
    assert_eq!(pools[0]["status"], "NOT_READY");
    assert_eq!(
        s.event_names().await,
        [
            "prefect.work-queue.created",
            "prefect.work-pool.created",
            "prefect.work-pool.not-ready"
        ]
    );
}

#[actix_rt::test]
async fn queues_by_pool_and_name() {
    let s = TestServer::start().await;
    s.pool("p").await;
    let (status, q) = s
        .post(
            "/api/work_pools/p/queues",
            json!({"name": "high", "priority": 5, "description": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    assert_eq!(q["name"], "high");
    assert_eq!(q["priority"], 5);
    assert_eq!(q["status"], "NOT_READY");
    assert_eq!(q["work_pool_name"], "p");
    assert_eq!(q["filter"], Value::Null);
    assert_eq!(
        s.post("/api/work_pools/p/queues", json!({"name": "high"}))
            .await
            .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        s.post(
            "/api/work_pools/p/queues",
            json!({"name": "x", "priority": 0})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.post("/api/work_pools/p/queues", json!({"name": "x", "bogus": 0}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.post("/api/work_pools/nope/queues", json!({"name": "x"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        s.get("/api/work_pools/p/queues/high").await.1["id"],
        q["id"]
    );
    assert_eq!(
        s.get("/api/work_pools/p/queues/low").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.patch(
            "/api/work_pools/p/queues/high",
            json!({"name": "urgent", "priority": 2})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get("/api/work_pools/p/queues/high").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/work_pools/p/queues/urgent").await.1["priority"],
        2
    );
    assert_eq!(
        s.patch("/api/work_pools/p/queues/urgent", json!({"priority": -3}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (status, list) = s.post("/api/work_pools/p/queues/filter", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert_eq!(names, ["default", "urgent"]);
    let (_, list) = s
        .post(
            "/api/work_pools/p/queues/filter",
            json!({"work_queues": {"name": {"startswith_": ["urg"]}}}),
        )
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    assert_eq!(
        s.delete("/api/work_pools/p/queues/default").await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        s.delete("/api/work_pools/p/queues/urgent").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.delete("/api/work_pools/p/queues/urgent").await.0,
        StatusCode::NOT_FOUND
    );
}

#[actix_rt::test]
async fn legacy_work_queue_routes() {
    let s = TestServer::start().await;
    let pool = s.pool("p").await;
    let id = pool["default_queue_id"].as_str().unwrap().to_owned();
    let (status, q) = s.get(&format!("/api/work_queues/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(q["name"], "default");
    assert_eq!(
        s.get("/api/work_queues/not-a-uuid").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let unknown = uuid::Uuid::now_v7();
    assert_eq!(
        s.get(&format!("/api/work_queues/{unknown}")).await.0,
        StatusCode::NOT_FOUND
    );

    // The UI header reads without marking the queue polled.
    let r = s
        .client
        .post(s.url(&format!("/api/work_queues/{id}/get_runs")))
        .insert_header(("x-prefect-ui", "true"))
        .send_json(&json!({}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.get(&format!("/api/work_queues/{id}")).await.1["status"],
        "NOT_READY"
    );
    assert_eq!(
        s.post(
            &format!("/api/work_queues/{id}/get_runs"),
            json!({"limit": 5})
        )
        .await,
        (StatusCode::OK, json!([]))
    );
    let (_, q) = s.get(&format!("/api/work_queues/{id}")).await;
    assert_eq!(q["status"], "READY");
    assert!(q["last_polled"].is_string());

    assert_eq!(
        s.patch(
            &format!("/api/work_queues/{id}"),
            json!({"is_paused": true})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(&format!("/api/work_queues/{id}")).await.1["status"],
        "PAUSED"
    );
    assert_eq!(
        s.patch(&format!("/api/work_queues/{id}"), json!({"bogus": 1}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.delete(&format!("/api/work_queues/{id}")).await.0,
        StatusCode::CONFLICT
    );

    let (status, created) = s.post("/api/work_queues/", json!({"name": "legacy"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["work_pool_name"], "default-agent-pool");
    let lid = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.post("/api/work_queues/", json!({"name": "legacy"}))
            .await
            .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        s.delete(&format!("/api/work_queues/{lid}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(&format!("/api/work_queues/{lid}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[actix_rt::test]
async fn workers_heartbeat_list_and_delete() {
    let s = TestServer::start().await;
    s.pool("p").await;
    let hb = "/api/work_pools/p/workers/heartbeat";
    // Cloud's extra keys are ignored, as Prefect's server ignores them.
    let (status, body) = s
        .post(
            hb,
            json!({"name": "w1", "heartbeat_interval_seconds": 30, "return_id": false}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(
        s.post(hb, json!({"name": "w2"})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.post(hb, json!({"heartbeat_interval_seconds": 30}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.post(hb, json!({"name": "w3", "heartbeat_interval_seconds": 0}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.post(hb, json!({"name": "w3", "heartbeat_interval_seconds": -1}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.post(
            "/api/work_pools/nope/workers/heartbeat",
            json!({"name": "w"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.get("/api/work_pools/p").await.1["status"], "READY");

    let (status, workers) = s.post("/api/work_pools/p/workers/filter", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let workers = workers.as_array().unwrap().clone();
    assert_eq!(workers.len(), 2);
    let w1 = workers.iter().find(|w| w["name"] == "w1").unwrap();
    assert_eq!(w1["status"], "ONLINE");
    assert_eq!(w1["heartbeat_interval_seconds"], 30);
    assert!(w1["id"].is_string() && w1["last_heartbeat_time"].is_string());
    // Ids are stable across reads.
    let (_, again) = s.post("/api/work_pools/p/workers/filter", json!({})).await;
    assert!(again
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["id"] == w1["id"]));
    let (_, offline) = s
        .post(
            "/api/work_pools/p/workers/filter",
            json!({"workers": {"status": {"any_": ["OFFLINE"]}}}),
        )
        .await;
    assert_eq!(offline, json!([]));
    assert_eq!(
        s.post("/api/work_pools/nope/workers/filter", json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        s.delete("/api/work_pools/p/workers/w1").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.delete("/api/work_pools/p/workers/w1").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.delete("/api/work_pools/p/workers/w2").await.0,
        StatusCode::NO_CONTENT
    );
    // The last online worker gone, the pool is not ready.
    assert_eq!(s.get("/api/work_pools/p").await.1["status"], "NOT_READY");
}

#[actix_rt::test]
async fn scheduled_flow_runs_marks_queues_polled() {
    let s = TestServer::start().await;
    s.pool("p").await;
    s.post("/api/work_pools/p/queues", json!({"name": "a"}))
        .await;
    s.post("/api/work_pools/p/queues", json!({"name": "b"}))
        .await;
    let path = "/api/work_pools/p/get_scheduled_flow_runs";
    let (status, body) = s
        .post(
            path,
            json!({"work_queue_names": ["a"], "scheduled_before": "2026-12-01T00:00:00Z"}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
    assert_eq!(
        s.get("/api/work_pools/p/queues/a").await.1["status"],
        "READY"
    );
    assert_eq!(
        s.get("/api/work_pools/p/queues/b").await.1["status"],
        "NOT_READY"
    );
    // An unknown name fails before anything is marked.
    assert_eq!(
        s.post(path, json!({"work_queue_names": ["b", "zzz"]}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/work_pools/p/queues/b").await.1["status"],
        "NOT_READY"
    );
    assert_eq!(
        s.post(path, json!({"scheduled_before": "yesterday"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // No body: every queue.
    assert_eq!(
        s.raw("POST", path, None, vec![]).await,
        (StatusCode::OK, json!([]))
    );
    assert_eq!(
        s.get("/api/work_pools/p/queues/b").await.1["status"],
        "READY"
    );
    assert_eq!(
        s.get("/api/work_pools/p/queues/default").await.1["status"],
        "READY"
    );
    assert_eq!(
        s.post("/api/work_pools/nope/get_scheduled_flow_runs", json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[actix_rt::test]
async fn workers_and_queues_time_out() {
    let s = TestServer::with(fast_config()).await;
    s.pool("p").await;
    s.post("/api/work_pools/p/workers/heartbeat", json!({"name": "w"}))
        .await;
    s.post("/api/work_pools/p/get_scheduled_flow_runs", json!({}))
        .await;
    assert_eq!(s.get("/api/work_pools/p").await.1["status"], "READY");
    assert_eq!(
        s.get("/api/work_pools/p/queues/default").await.1["status"],
        "READY"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(s.get("/api/work_pools/p").await.1["status"], "NOT_READY");
    assert_eq!(
        s.get("/api/work_pools/p/queues/default").await.1["status"],
        "NOT_READY"
    );
    let (_, workers) = s.post("/api/work_pools/p/workers/filter", json!({})).await;
    assert_eq!(workers[0]["status"], "OFFLINE");
    assert_eq!(
        s.event_names().await,
        [
            "prefect.work-queue.created",
            "prefect.work-pool.created",
            "prefect.work-pool.not-ready",
            "prefect.work-pool.ready",
            "prefect.work-queue.ready",
            "prefect.work-pool.not-ready",
            "prefect.work-queue.not-ready",
        ]
    );
}

#[actix_rt::test]
async fn extra_services_and_an_existing_bus_plug_in() {
    let bus = workbus_core::Bus::start();
    bus.create_pool(workbus_core::CreatePool::new("pre", "process"))
        .await
        .unwrap();
    let mut cfg = ServerConfig::loopback();
    cfg.api_auth_string = Some("a:b".into());
    let server = workbus_server::Server::builder(cfg)
        .bus(bus)
        .service(|cfg| {
            cfg.route(
                "/metrics",
                actix_web::web::get().to(|| async { "workbus_up 1\n" }),
            );
        })
        .bind()
        .await
        .unwrap();
    let client = awc::Client::new();
    let url = |p: &str| format!("http://{}{}", server.addr(), p);
    // Extra routes sit behind the same auth.
    let resp = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let mut resp = client
        .get(url("/metrics"))
        .basic_auth("a", "b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.body().await.unwrap(), "workbus_up 1\n");
    let mut resp = client
        .get(url("/api/work_pools/pre"))
        .basic_auth("a", "b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let pool: Value = resp.json().await.unwrap();
    assert_eq!(pool["name"], "pre");
    server.shutdown().await.unwrap();
}
