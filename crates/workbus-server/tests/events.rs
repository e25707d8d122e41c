//! The event history over `/api/events/filter`, the `/api/events/out` websocket, and auth.

mod common;

use actix_web::http::StatusCode;
use common::{close_code, names, recv, recv_events, send, TestServer};
use serde_json::{json, Value};
use workbus_server::ServerConfig;

#[actix_rt::test]
async fn pool_life_as_seen_through_the_history() {
    let s = TestServer::start().await;
    let pool = s.pool("etl").await;
    let pool_id = pool["id"].as_str().unwrap();
    let queue_id = pool["default_queue_id"].as_str().unwrap();
    s.post(
        "/api/work_pools/etl/workers/heartbeat",
        json!({"name": "w"}),
    )
    .await;
    s.post("/api/work_pools/etl/get_scheduled_flow_runs", json!({}))
        .await;
    s.patch(
        "/api/work_pools/etl",
        json!({"description": "d", "is_paused": true}),
    )
    .await;
    s.patch("/api/work_pools/etl/queues/default", json!({"priority": 4}))
        .await;
    s.delete("/api/work_pools/etl").await;
    assert_eq!(
        s.event_names().await,
        [
            "prefect.work-queue.created",
            "prefect.work-pool.created",
            "prefect.work-pool.not-ready",
            "prefect.work-pool.ready",
            "prefect.work-queue.ready",
            "prefect.work-pool.updated",
            "prefect.work-pool.paused",
            "prefect.work-queue.updated",
            "prefect.work-queue.deleted",
            "prefect.work-pool.deleted",
        ]
    );
    let ready = s
        .events(json!({"event": {"name": ["prefect.work-pool.ready"]}}))
        .await;
    assert_eq!(ready.len(), 1);
    let ready = &ready[0];
    assert_eq!(
        ready["resource"],
        json!({"prefect.resource.id": format!("prefect.work-pool.{pool_id}"), "prefect.resource.name": "etl", "prefect.work-pool.type": "process"})
    );
    assert_eq!(ready["related"], json!([]));
    assert_eq!(ready["payload"], json!({}));
    assert!(
        ready["received"].is_string() && ready["id"].is_string() && ready["occurred"].is_string()
    );
    let keys: Vec<&String> = ready.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["occurred", "event", "resource", "related", "payload", "id", "follows", "received"]
    );
    let updated = s
        .events(json!({"event": {"name": ["prefect.work-pool.updated"]}}))
        .await;
    assert_eq!(
        updated[0]["payload"],
        json!({"updated_fields": ["description"], "updates": {"description": {"from": null, "to": "d"}}})
    );
    let queue = s
        .events(json!({"resource": {"id": [format!("prefect.work-queue.{queue_id}")]}}))
        .await;
    assert_eq!(
        names(&queue),
        [
            "prefect.work-queue.created",
            "prefect.work-queue.ready",
            "prefect.work-queue.updated",
            "prefect.work-queue.deleted"
        ]
    );
    assert_eq!(queue[1]["related"][0]["prefect.resource.role"], "work-pool");
}

#[actix_rt::test]
async fn event_pages_follow_prefect() {
    let s = TestServer::start().await;
    for name in ["a", "b", "c"] {
        s.pool(name).await;
    }
    s.server.bus().flush().await.unwrap();
    // Newest first by default.
    let (status, page) = s.post("/api/events/filter", json!({"limit": 4})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 9);
    assert_eq!(page["events"].as_array().map(Vec::len), Some(4));
    assert_eq!(page["events"][0]["event"], "prefect.work-pool.not-ready");
    assert_eq!(page["events"][0]["resource"]["prefect.resource.name"], "c");
    let next = page["next_page"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with(&format!("{}/api/events/filter/next?page-token=", s.base)),
        "{next}"
    );
    // New events do not shift the pages of a query under way.
    s.pool("d").await;
    s.server.bus().flush().await.unwrap();
    let (status, page2) = s.get(next.strip_prefix(&s.base).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page2["total"], 9);
    assert_eq!(page2["events"].as_array().map(Vec::len), Some(4));
    assert_eq!(page2["events"][0]["resource"]["prefect.resource.name"], "b");
    let next = page2["next_page"].as_str().unwrap().to_owned();
    let (_, page3) = s.get(next.strip_prefix(&s.base).unwrap()).await;
    assert_eq!(page3["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(page3["next_page"], Value::Null);
    assert_eq!(page3["events"][0]["event"], "prefect.work-queue.created");

    // Everything fits: no next page. No body: everything, 50 at most.
    let (_, all) = s
        .post(
            "/api/events/filter",
            json!({"filter": {"event": {"prefix": ["prefect.work-pool.created"]}}}),
        )
        .await;
    assert_eq!(
        (all["total"].clone(), all["next_page"].clone()),
        (json!(4), Value::Null)
    );
    let (status, all) = s.raw("POST", "/api/events/filter", None, vec![]).await;
    assert_eq!((status, all["total"].clone()), (StatusCode::OK, json!(12)));

    assert_eq!(
        s.post("/api/events/filter", json!({"limit": 51})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.post("/api/events/filter", json!({"limit": -1})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.post("/api/events/filter", json!({"filter": {"bogus": {}}}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.get("/api/events/filter/next?page-token=garbage!").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.get("/api/events/filter/next?page-token=e30").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.get("/api/events/filter/next").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[actix_rt::test]
async fn history_keeps_only_the_newest() {
    let mut cfg = ServerConfig::loopback();
    cfg.event_history = 5;
    let s = TestServer::with(cfg).await;
    for name in ["a", "b", "c"] {
        s.pool(name).await;
    }
    let events = s.events(json!({})).await;
    assert_eq!(events.len(), 5);
    assert_eq!(events[4]["event"], "prefect.work-pool.not-ready");
    assert_eq!(events[4]["resource"]["prefect.resource.name"], "c");
    assert_eq!(s.server.stream_stats().history_len(), 5);
}

#[actix_rt::test]
async fn ingested_events_reach_history_and_stream() {
    let s = TestServer::start().await;
    let mut ws = s
        .subscribe(
            None,
            json!({"event": {"prefix": ["prefect.worker."]}}),
            false,
        )
        .await;
    let event = json!({
        "occurred": "2026-12-01T06:27:27.028685Z",
        "event": "prefect.worker.started",
        "resource": {"prefect.resource.id": "prefect.worker.process.w1", "prefect.resource.name": "w1"},
        "id": uuid::Uuid::now_v7(),
    });
    assert_eq!(
        s.post("/api/events", json!([event])).await.0,
        StatusCode::NO_CONTENT
    );
    let got = recv_events(&mut ws, 1).await;
    assert_eq!(got[0]["event"], "prefect.worker.started");
    assert!(got[0]["received"].is_string());
    let bad = json!([{"event": "x", "resource": {}, "occurred": "2026-12-01T00:00:00Z", "id": uuid::Uuid::now_v7()}]);
    assert_eq!(
        s.post("/api/events", bad).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        names(&s.events(json!({})).await),
        ["prefect.worker.started"]
    );
}

#[actix_rt::test]
async fn websocket_backfills_then_streams_live() {
    let s = TestServer::start().await;
    s.pool("old").await;
    s.server.bus().flush().await.unwrap();
    let filter = json!({"event": {"prefix": ["prefect.work-pool."]}, "occurred": {"since": "2020-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z"}});
    let mut ws = s.subscribe(None, filter, true).await;
    let backfill = recv_events(&mut ws, 2).await;
    assert_eq!(
        names(&backfill),
        ["prefect.work-pool.created", "prefect.work-pool.not-ready"]
    );
    s.pool("new").await;
    s.post(
        "/api/work_pools/new/workers/heartbeat",
        json!({"name": "w"}),
    )
    .await;
    let live = recv_events(&mut ws, 3).await;
    assert_eq!(
        names(&live),
        [
            "prefect.work-pool.created",
            "prefect.work-pool.not-ready",
            "prefect.work-pool.ready"
        ]
    );
    assert_eq!(live[2]["resource"]["prefect.resource.name"], "new");
    // Frames carry the same JSON the history serves.
    let stored = s
        .events(json!({"event": {"name": ["prefect.work-pool.ready"]}}))
        .await;
    assert_eq!(live[2], stored[0]);
    assert_eq!(s.server.stream_stats().clients(), 1);
}

#[actix_rt::test]
async fn websocket_without_backfill_and_in_legacy_mode() {
    let s = TestServer::start().await;
    s.pool("old").await;
    s.server.bus().flush().await.unwrap();
    let mut ws = s.subscribe(None, json!({}), false).await;
    // Legacy mode: no subprotocol, no auth step, the filter first; backfill by default.
    let mut legacy = s.ws(false).await;
    send(
        &mut legacy,
        json!({"type": "filter", "filter": {"event": {"name": ["prefect.work-pool.created"]}}}),
    )
    .await;
    assert_eq!(
        recv_events(&mut legacy, 1).await[0]["resource"]["prefect.resource.name"],
        "old"
    );
    s.pool("new").await;
    let live = recv_events(&mut ws, 3).await;
    assert_eq!(live[1]["event"], "prefect.work-pool.created");
    assert_eq!(live[1]["resource"]["prefect.resource.name"], "new");
    assert_eq!(
        recv_events(&mut legacy, 1).await[0]["resource"]["prefect.resource.name"],
        "new"
    );
}

#[actix_rt::test]
async fn websocket_bad_handshakes_close_with_prefect_codes() {
    let s = TestServer::start().await;
    let mut ws = s.ws(true).await;
    send(&mut ws, json!({"type": "filter", "filter": {}})).await;
    assert_eq!(close_code(&mut ws).await, Some(1008));

    let mut ws = s.ws(true).await;
    send(&mut ws, json!({"type": "auth", "token": null})).await;
    assert_eq!(recv(&mut ws).await, Some(json!({"type": "auth_success"})));
    send(&mut ws, json!({"type": "subscribe"})).await;
    assert_eq!(close_code(&mut ws).await, Some(1002));

    let mut ws = s.ws(true).await;
    send(&mut ws, json!({"type": "auth"})).await;
    recv(&mut ws).await;
    send(
        &mut ws,
        json!({"type": "filter", "filter": {"event": {"nope": 1}}}),
    )
    .await;
    assert_eq!(close_code(&mut ws).await, Some(1002));

    let mut ws = s.ws(true).await;
    ws_text(&mut ws, "not json").await;
    assert_eq!(close_code(&mut ws).await, Some(1008));

    // A plain GET is not a websocket.
    assert_eq!(s.get("/api/events/out").await.0, StatusCode::BAD_REQUEST);
}

async fn ws_text(ws: &mut common::Ws, text: &str) {
    use futures_util::SinkExt;
    ws.send(awc::ws::Message::Text(text.to_owned().into()))
        .await
        .unwrap();
}

#[actix_rt::test]
async fn auth_guards_every_route_but_health() {
    let mut cfg = ServerConfig::loopback();
    cfg.api_auth_string = Some("admin:s3cret".into());
    let anon = TestServer::with(cfg).await;
    assert_eq!(anon.get("/api/health").await, (StatusCode::OK, json!(true)));
    assert_eq!(anon.get("/api/ready").await.0, StatusCode::OK);
    let (status, body) = anon.get("/api/work_pools/x").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["exception_message"], "Unauthorized");
    assert_eq!(
        anon.post("/api/work_pools/", json!({"name": "p", "type": "process"}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        anon.raw("POST", "/api/health", None, vec![]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let bad_header = anon
        .client
        .get(anon.url("/api/version"))
        .insert_header(("authorization", "Bearer admin:s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_header.status(), StatusCode::UNAUTHORIZED);

    // Websockets: the token is the auth string; without the subprotocol they are refused.
    let mut ws = anon.ws(true).await;
    send(&mut ws, json!({"type": "auth", "token": null})).await;
    assert_eq!(close_code(&mut ws).await, Some(1008));
    let mut ws = anon.ws(true).await;
    send(&mut ws, json!({"type": "auth", "token": "admin:wrong"})).await;
    assert_eq!(close_code(&mut ws).await, Some(1008));
    let legacy = anon
        .client
        .ws(anon.url("/api/events/out").replacen("http", "ws", 1))
        .connect()
        .await;
    assert!(matches!(
        legacy,
        Err(awc::error::WsClientError::InvalidResponseStatus(
            StatusCode::FORBIDDEN
        ))
    ));

    // The worker channel authenticates by message too: past the auth middleware, refused
    // for want of the `prefect` subprotocol (403), as Prefect refuses it.
    let channel = anon
        .client
        .ws(anon
            .url("/api/work_pools/p/workers/connect")
            .replacen("http", "ws", 1))
        .connect()
        .await;
    assert!(matches!(
        channel,
        Err(awc::error::WsClientError::InvalidResponseStatus(
            StatusCode::FORBIDDEN
        ))
    ));

    let wrong = TestServer {
        auth: Some(("admin".into(), "nope".into())),
        ..anon
    };
    assert_eq!(wrong.get("/api/version").await.0, StatusCode::UNAUTHORIZED);
    let s = TestServer {
        auth: Some(("admin".into(), "s3cret".into())),
        ..wrong
    };
    assert_eq!(s.get("/api/version").await.0, StatusCode::OK);
    s.pool("p").await;
    let mut ws = s.subscribe(Some("admin:s3cret"), json!({}), true).await;
    assert_eq!(
        names(&recv_events(&mut ws, 3).await)[1],
        "prefect.work-pool.created"
    );
}

#[actix_rt::test]
async fn a_slow_websocket_client_is_cut_off() {
    let mut cfg = ServerConfig::loopback();
    cfg.websocket_client_buffer = 2;
    cfg.body_limit = 8 << 20;
    let s = TestServer::with(cfg).await;
    let mut ws = s.subscribe(None, json!({}), false).await;
    // One request, a burst of events: far faster than one client can be written to.
    let events: Vec<Value> = (0..3000)
        .map(|i| {
            json!({
                "occurred": "2026-12-01T06:27:27.028685Z",
                "event": "test.burst",
                "resource": {"prefect.resource.id": format!("test.{i}")},
                "payload": {"padding": "x".repeat(200)},
                "id": uuid::Uuid::now_v7(),
            })
        })
        .collect();
    assert_eq!(
        s.post("/api/events", json!(events)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(close_code(&mut ws).await, Some(1013));
    assert_eq!(s.server.stream_stats().cut_off(), 1);
    assert_eq!(s.server.stream_stats().clients(), 0);
    // The history kept everything.
    s.server.bus().flush().await.unwrap();
    assert_eq!(
        s.post("/api/events/filter", json!({"limit": 1})).await.1["total"],
        3000
    );
}

#[actix_rt::test]
async fn shutdown_closes_websockets_going_away() {
    let s = TestServer::start().await;
    let mut ws = s.subscribe(None, json!({}), false).await;
    s.pool("p").await;
    recv_events(&mut ws, 3).await;
    let common::TestServer { server, .. } = s;
    let stopping = actix_rt::spawn(server.shutdown());
    assert_eq!(close_code(&mut ws).await, Some(1001));
    stopping.await.unwrap().unwrap();
}
