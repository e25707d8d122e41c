//! Every way a worker channel is refused or ended closes with Prefect 3.9.1's
//! close code and reason text (the worker reads both to decide whether to
//! retry), and changes nothing.

mod common;

use common::channel::{authed, close_frame, connect, heartbeat, hello, open};
use common::{recv, send, TestServer, Ws};
use futures_util::SinkExt;
use serde_json::{json, Value};
use uuid::Uuid;
use workbus_server::ServerConfig;

async fn with_pool() -> TestServer {
    let s = TestServer::start().await;
    s.post("/api/work_pools", json!({"name": "etl", "type": "process"}))
        .await;
    s
}

/// Says `hello` on a fresh channel to `pool` and answers how it was closed.
async fn refused(s: &TestServer, pool: &str, hello: Value) -> (u16, String) {
    let mut ws = authed(s, pool, None).await;
    send(&mut ws, hello).await;
    close_frame(&mut ws).await.expect("a close frame")
}

fn protocol_error() -> (u16, String) {
    (1002, "protocol_error".into())
}

#[actix_rt::test]
async fn bad_hellos_are_protocol_errors() {
    let s = with_pool().await;
    let mut cases = Vec::new();
    let mut unknown = hello(Uuid::now_v7(), "w");
    unknown["payload"]["surprise"] = json!(1);
    cases.push(unknown);
    let mut blank = hello(Uuid::now_v7(), "w");
    blank["payload"]["worker_name"] = json!("");
    cases.push(blank);
    let mut missing = hello(Uuid::now_v7(), "w");
    missing["payload"]["requested_capabilities"] = json!(["worker_heartbeat.v1"]);
    cases.push(missing);
    let mut cleanup = hello(Uuid::now_v7(), "w");
    cleanup["payload"]["handled_cleanup_kinds"] = json!(["pending_claim_teardown.v1"]);
    cases.push(cleanup);
    // A heartbeat before the hello.
    cases.push(heartbeat(Uuid::now_v7(), "w"));
    cases.push(json!({"type": "worker.hello.v1"}));
    for case in cases {
        assert_eq!(
            refused(&s, "etl", case.clone()).await,
            protocol_error(),
            "{case}"
        );
    }
    // Text that is not JSON.
    let mut ws = authed(&s, "etl", None).await;
    ws.send(awc::ws::Message::Text("hello?".into()))
        .await
        .unwrap();
    assert_eq!(close_frame(&mut ws).await, Some(protocol_error()));
    assert_eq!(s.server.channel_stats().refused(), 7);
    assert_eq!(s.server.channel_stats().opened(), 0);
    let (_, workers) = s
        .post("/api/work_pools/etl/workers/filter", json!({}))
        .await;
    assert_eq!(workers, json!([]), "a refused hello records no heartbeat");
}

#[actix_rt::test]
async fn version_pool_and_queue_refusals_are_prefects() {
    let s = with_pool().await;
    let mut v2 = hello(Uuid::now_v7(), "w");
    v2["payload"]["supported_channel_versions"] = json!(["work_pool_worker_channel.v2"]);
    assert_eq!(
        refused(&s, "etl", v2).await,
        (1008, "unsupported_version".into())
    );
    let denied = (1008, "authorization_failed".to_owned());
    assert_eq!(
        refused(&s, "nope", hello(Uuid::now_v7(), "w")).await,
        denied
    );
    let mut reserved = hello(Uuid::now_v7(), "w");
    reserved["payload"]["create_pool_if_not_found"] = json!(true);
    assert_eq!(refused(&s, "prefect-mine", reserved).await, denied);
    let mut queue = hello(Uuid::now_v7(), "w");
    queue["payload"]["work_queue_names"] = json!(["default", "missing"]);
    assert_eq!(refused(&s, "etl", queue).await, denied);
    let (status, _) = s.get("/api/work_pools/nope").await;
    assert_eq!(status, 404, "nothing was created");
    let (status, _) = s.get("/api/work_pools/prefect-mine").await;
    assert_eq!(status, 404, "nothing was created");
}

#[actix_rt::test]
async fn auth_failures_close_with_authentication_failed() {
    let mut cfg = ServerConfig::loopback();
    cfg.api_auth_string = Some("admin:secret".into());
    let s = TestServer::with(cfg).await.login("admin", "secret");
    s.post("/api/work_pools", json!({"name": "etl", "type": "process"}))
        .await;
    for auth in [
        json!({"type": "auth", "token": "wrong"}),
        json!({"type": "auth", "token": null}),
        json!({"type": "hello"}),
    ] {
        let mut ws = open(&s, "etl").await;
        send(&mut ws, auth.clone()).await;
        assert_eq!(
            close_frame(&mut ws).await,
            Some((1008, "authentication_failed".into())),
            "{auth}"
        );
    }
    let mut ws = open(&s, "etl").await;
    send(&mut ws, json!({"type": "auth", "token": "admin:secret"})).await;
    assert_eq!(recv(&mut ws).await, Some(json!({"type": "auth_success"})));
}

#[actix_rt::test]
async fn the_channel_requires_the_prefect_subprotocol() {
    let s = with_pool().await;
    let url = s
        .url("/api/work_pools/etl/workers/connect")
        .replacen("http", "ws", 1);
    let err = s.client.ws(url).connect().await.err().expect("refused");
    let awc::error::WsClientError::InvalidResponseStatus(status) = err else {
        panic!("expected a refused upgrade, got {err:?}")
    };
    assert_eq!(status, 403);
}

async fn connected(s: &TestServer, consumer: Uuid) -> Ws {
    connect(s, "etl", hello(consumer, "w")).await.0
}

#[actix_rt::test]
async fn a_connected_worker_is_closed_as_prefect_closes_it() {
    let s = with_pool().await;
    // A heartbeat for another consumer or worker.
    let c = Uuid::now_v7();
    let mut ws = connected(&s, c).await;
    send(&mut ws, heartbeat(Uuid::now_v7(), "w")).await;
    assert_eq!(close_frame(&mut ws).await, Some(protocol_error()));
    let mut ws = connected(&s, c).await;
    send(&mut ws, heartbeat(c, "someone-else")).await;
    assert_eq!(close_frame(&mut ws).await, Some(protocol_error()));
    // A second hello.
    let mut ws = connected(&s, c).await;
    send(&mut ws, hello(c, "w")).await;
    assert_eq!(close_frame(&mut ws).await, Some(protocol_error()));
    // A binary frame that is not JSON.
    let mut ws = connected(&s, c).await;
    ws.send(awc::ws::Message::Binary(vec![0xff, 0xfe].into()))
        .await
        .unwrap();
    assert_eq!(close_frame(&mut ws).await, Some(protocol_error()));

    // Cleanup operations are answered as Prefect answers them when it declined cleanup.
    let mut ws = connected(&s, c).await;
    let (frame, message) = (Uuid::now_v7(), Uuid::now_v7());
    send(
        &mut ws,
        json!({"type": "cleanup.ack.v1", "id": frame, "sent_at": "2026-12-02T06:00:00Z",
               "payload": {"message_id": message, "reservation_token": "t"}}),
    )
    .await;
    let result = recv(&mut ws).await.expect("an operation result");
    assert_eq!(result["type"], "cleanup.operation_result.v1");
    assert_eq!(
        result["payload"],
        json!({"request_frame_id": frame, "message_id": message, "operation": "ack",
               "status": "unauthorized", "lease_expires_at": null,
               "reason": "cleanup_delivery_not_accepted", "detail": null})
    );

    // Its pool is deleted.
    let (status, _) = s.delete("/api/work_pools/etl").await;
    assert_eq!(status, 204);
    assert_eq!(
        close_frame(&mut ws).await,
        Some((1008, "authorization_failed".into()))
    );
    assert_eq!(s.server.channel_stats().closed(), 5);
}

#[actix_rt::test]
async fn non_utf8_text_closes_with_1007() {
    use common::raw::{frame, RawWs, ServerFrame, TEXT};
    use std::time::Duration;
    let s = with_pool().await;
    let path = "/api/work_pools/etl/workers/connect";
    let mut ws = RawWs::connect(s.server.addr(), path, true)
        .await
        .expect("upgraded");
    let wait = Duration::from_secs(5);
    ws.send_text(r#"{"type":"auth","token":null}"#).await;
    assert!(matches!(
        ws.next_frame(wait).await,
        Some(ServerFrame::Text(_))
    ));
    ws.send_text(&hello(Uuid::now_v7(), "w").to_string()).await;
    let Some(ServerFrame::Text(ready)) = ws.next_frame(wait).await else {
        panic!("no ready frame")
    };
    assert!(ready.contains("worker.ready.v1"));
    ws.send(&frame(true, TEXT, &[0xff, 0xfe])).await.unwrap();
    assert_eq!(ws.close_code(wait).await, Some(1007));
}

#[actix_rt::test]
async fn shutdown_closes_connected_workers_with_1001() {
    let s = with_pool().await;
    let mut ws = connected(&s, Uuid::now_v7()).await;
    let closing = actix_rt::spawn(async move { close_frame(&mut ws).await });
    s.server.shutdown().await.expect("shuts down");
    let (code, _) = closing.await.unwrap().expect("a close frame");
    assert_eq!(code, 1001);
}
