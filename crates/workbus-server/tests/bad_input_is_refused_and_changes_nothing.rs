//! Bad input, from issue 6: each request gets a 4xx with a JSON `detail` (or a websocket
//! close code), changes nothing (pools, queues and the history are as before), and the
//! server answers `/api/health` after each.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::StatusCode;
use common::{close_code, recv, send, TestServer};
use futures_util::SinkExt;
use serde_json::{json, Value};
use workbus_server::ServerConfig;

/// Everything a bad request could have changed.
async fn snapshot(s: &TestServer) -> Value {
    s.server.bus().flush().await.unwrap();
    let (_, pools) = s.post("/api/work_pools/filter", json!({})).await;
    let mut queues = Vec::new();
    for p in pools.as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let (_, q) = s
            .post(&format!("/api/work_pools/{name}/queues/filter"), json!({}))
            .await;
        let (_, w) = s
            .post(&format!("/api/work_pools/{name}/workers/filter"), json!({}))
            .await;
        queues.push(json!({"pool": name, "queues": q, "workers": w}));
    }
    let history: Vec<Value> = s
        .events(json!({}))
        .await
        .into_iter()
        .map(|e| e["id"].clone())
        .collect();
    json!({"pools": pools, "queues": queues, "history": history})
}

async fn healthy(s: &TestServer) {
    assert_eq!(s.get("/api/health").await, (StatusCode::OK, json!(true)));
}

/// Method, path, content type, body, expected status.
type Case<'a> = (&'a str, String, Option<&'a str>, Vec<u8>, StatusCode);

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[actix_rt::test]
async fn bad_requests_get_a_4xx_with_json_and_change_nothing() {
    let s = TestServer::start().await;
    s.pool("etl").await;
    assert_eq!(
        s.post(
            "/api/work_pools/etl/queues",
            json!({"name": "high", "priority": 2})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let before = snapshot(&s).await;
    let json = Some("application/json");
    let deep = nested(100_000);
    let ten_mb = format!(
        r#"{{"name": "big", "type": "process", "description": "{}"}}"#,
        "x".repeat(10 << 20)
    );
    let unknown_queue = uuid::Uuid::new_v4();
    let cases: Vec<Case> = vec![
        // Malformed JSON, not UTF-8, wrong types, unknown fields.
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "p""#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, b"\xff\xfe\x00\x01 garbage \xc3\x28".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, b"{\"name\": \"p\xc3\x28\", \"type\": \"process\"}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": 5, "type": "process"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "p", "type": ["process"]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "p", "type": "process", "colour": "red"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("PATCH", "/api/work_pools/etl".into(), json, br#"{"descripton": "typo"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("PATCH", "/api/work_pools/etl".into(), json, br#"{"concurrency_limit": "ten"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/etl/queues".into(), json, br#"{"name": "q", "colour": 1}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        // Banned characters and reserved names.
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "a/b", "type": "process"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "50%", "type": "process"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "a&b", "type": "process"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "<script>", "type": "process"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "", "type": "process"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "ok", "type": "a>b"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/etl/queues".into(), json, br#"{"name": "q/x"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "prefect-internal", "type": "process"}"#.to_vec(), StatusCode::FORBIDDEN),
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "Prefect", "type": "process"}"#.to_vec(), StatusCode::FORBIDDEN),
        // Negative limits, priority 0.
        ("POST", "/api/work_pools/".into(), json, br#"{"name": "p", "type": "process", "concurrency_limit": -1}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("PATCH", "/api/work_pools/etl".into(), json, br#"{"concurrency_limit": -3}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/filter".into(), json, br#"{"limit": -1}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/filter".into(), json, br#"{"offset": -5}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/events/filter".into(), json, br#"{"limit": -1}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/events/filter".into(), json, br#"{"limit": 51}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/etl/queues".into(), json, br#"{"name": "q", "priority": 0}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/etl/queues".into(), json, br#"{"name": "q", "priority": -2}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("PATCH", "/api/work_pools/etl/queues/high".into(), json, br#"{"priority": 0}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/etl/queues".into(), json, br#"{"name": "q", "concurrency_limit": -1}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/etl/workers/heartbeat".into(), json, br#"{"name": "w", "heartbeat_interval_seconds": -30}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        // Nesting 100,000 deep, in a body, a filter and an event.
        ("POST", "/api/work_pools/".into(), json, format!(r#"{{"name": "p", "type": "process", "base_job_template": {deep}}}"#).into_bytes(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/work_pools/".into(), json, deep.clone().into_bytes(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/events/filter".into(), json, format!(r#"{{"filter": {deep}}}"#).into_bytes(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/events".into(), json, format!(r#"[{{"event": "x", "resource": {{"prefect.resource.id": "x"}}, "payload": {deep}}}]"#).into_bytes(), StatusCode::UNPROCESSABLE_ENTITY),
        // 10 MB, over the 1 MiB limit.
        ("POST", "/api/work_pools/".into(), json, ten_mb.into_bytes(), StatusCode::PAYLOAD_TOO_LARGE),
        // Events that are not events.
        ("POST", "/api/events".into(), json, br#"{"event": "x"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/events".into(), json, br#"[{"event": "x"}]"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/events".into(), json, br#"[{"event": "x", "resource": {"prefect.resource.id": ""}}]"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        // Unknown pools, queues and workers.
        ("GET", "/api/work_pools/nope".into(), None, vec![], StatusCode::NOT_FOUND),
        ("PATCH", "/api/work_pools/nope".into(), json, br#"{"description": "x"}"#.to_vec(), StatusCode::NOT_FOUND),
        ("DELETE", "/api/work_pools/nope".into(), None, vec![], StatusCode::NOT_FOUND),
        ("POST", "/api/work_pools/nope/queues".into(), json, br#"{"name": "q"}"#.to_vec(), StatusCode::NOT_FOUND),
        ("POST", "/api/work_pools/nope/workers/heartbeat".into(), json, br#"{"name": "w"}"#.to_vec(), StatusCode::NOT_FOUND),
        ("GET", "/api/work_pools/etl/queues/nope".into(), None, vec![], StatusCode::NOT_FOUND),
        ("PATCH", "/api/work_pools/etl/queues/nope".into(), json, br#"{"priority": 3}"#.to_vec(), StatusCode::NOT_FOUND),
        ("DELETE", "/api/work_pools/etl/queues/nope".into(), None, vec![], StatusCode::NOT_FOUND),
        ("DELETE", "/api/work_pools/etl/workers/nobody".into(), None, vec![], StatusCode::NOT_FOUND),
        ("POST", "/api/work_pools/etl/get_scheduled_flow_runs".into(), json, br#"{"work_queue_names": ["high", "nope"]}"#.to_vec(), StatusCode::NOT_FOUND),
        ("GET", format!("/api/work_queues/{unknown_queue}"), None, vec![], StatusCode::NOT_FOUND),
        ("POST", format!("/api/work_queues/{unknown_queue}/get_runs"), json, b"{}".to_vec(), StatusCode::NOT_FOUND),
        ("GET", "/api/work_queues/not-a-uuid".into(), None, vec![], StatusCode::UNPROCESSABLE_ENTITY),
        // Forged page tokens.
        ("GET", "/api/events/filter/next?page-token=garbage".into(), None, vec![], StatusCode::FORBIDDEN),
        ("GET", "/api/events/filter/next?page-token=eyJ9".into(), None, vec![], StatusCode::FORBIDDEN),
    ];
    let tried = cases.len();
    for (method, path, ct, body, want) in cases {
        let shown: String = String::from_utf8_lossy(&body[..body.len().min(80)]).into();
        let (status, answer) = s.raw(method, &path, ct, body).await;
        assert_eq!(status, want, "{method} {path} {shown:?} -> {answer}");
        assert!(status.is_client_error());
        assert!(
            answer["detail"].is_string(),
            "{method} {path}: not JSON with a detail: {answer}"
        );
        healthy(&s).await;
    }
    assert_eq!(snapshot(&s).await, before, "after {tried} bad requests");
}

#[actix_rt::test]
async fn an_event_over_prefects_size_limit_is_refused_whole() {
    let mut cfg = ServerConfig::loopback();
    cfg.body_limit = 4 << 20;
    let s = TestServer::with(cfg).await;
    let before = snapshot(&s).await;
    let event = |padding: usize| {
        json!({
            "occurred": "2026-12-01T06:27:27.028685Z",
            "event": "test.big",
            "resource": {"prefect.resource.id": "test.big"},
            "payload": {"padding": "x".repeat(padding)},
            "id": uuid::Uuid::now_v7(),
        })
    };
    // A small event and one just over 1.5 MB: the batch is refused, neither is published.
    let (status, answer) = s
        .post(
            "/api/events",
            json!([event(10), event(workbus_events::MAX_EVENT_SIZE)]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("1500000"));
    healthy(&s).await;
    assert_eq!(snapshot(&s).await, before);
    // Under the limit, it is taken.
    let (status, _) = s.post("/api/events", json!([event(1_000_000)])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// Writes `bytes` to a fresh TCP connection and reads what comes back, until the
/// server closes or stays silent for a second.
fn raw_tcp(addr: SocketAddr, bytes: Vec<u8>) -> Vec<u8> {
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let _ = conn.write_all(&bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

async fn tcp(addr: SocketAddr, bytes: Vec<u8>) -> String {
    let got = actix_rt::task::spawn_blocking(move || raw_tcp(addr, bytes))
        .await
        .unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

/// The JSON body of a raw HTTP answer.
fn body_json(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[actix_rt::test]
async fn websocket_handshakes_of_garbage_are_refused_and_the_server_stays_healthy() {
    let s = TestServer::start().await;
    s.pool("etl").await;
    let before = snapshot(&s).await;
    let addr = s.server.addr();

    // Random bytes on the TCP socket: the HTTP parser answers 400 (before any route,
    // so without a JSON body) or closes the connection.
    for seed in 0..20u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let junk: Vec<u8> = (0..rng.usize(1..4096)).map(|_| rng.u8(..)).collect();
        let answer = tcp(addr, junk).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
            "seed {seed}: {answer:?}"
        );
        healthy(&s).await;
    }
    // A half-written request line, then the connection closes.
    let answer = tcp(addr, b"GET /api/events/out HTTP/1.1\r\nUpgr".to_vec()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer:?}"
    );

    // Handshakes with wrong headers: a 400 with a JSON detail.
    for headers in [
        // No Sec-WebSocket-Key.
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
        // A version nobody speaks.
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 7\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        // Not an upgrade at all.
        "Connection: keep-alive\r\n",
        // Upgrade to something else.
        "Upgrade: h2c\r\nConnection: Upgrade\r\n",
    ] {
        for path in ["/api/events/out", "/api/events/in"] {
            let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n");
            let answer = tcp(addr, req.into_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 400"), "{path} {headers:?}: {answer:?}");
            assert!(body_json(&answer)["detail"].is_string(), "{answer:?}");
            healthy(&s).await;
        }
    }

    // Bad first messages: binary junk, text that is not JSON, JSON of the wrong shape.
    let junk = vec![0xff, 0x00, 0x13, 0x37, 0xc3, 0x28];
    let mut ws = s.ws(true).await;
    ws.send(awc::ws::Message::Binary(junk.clone().into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1008));
    let mut ws = s.ws(true).await;
    send(&mut ws, json!([1, 2, 3])).await;
    assert_eq!(close_code(&mut ws).await, Some(1008));
    let mut ws = s.ws(false).await;
    ws.send(awc::ws::Message::Binary(junk.into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1002));
    let mut ws = s.ws(false).await;
    send(
        &mut ws,
        json!({"type": "filter", "filter": {"occurred": "yesterday"}}),
    )
    .await;
    assert_eq!(close_code(&mut ws).await, Some(1002));
    // A deeply nested filter, within the filter message's 64 KiB.
    let mut ws = s.ws(true).await;
    send(&mut ws, json!({"type": "auth", "token": null})).await;
    assert_eq!(recv(&mut ws).await, Some(json!({"type": "auth_success"})));
    ws.send(awc::ws::Message::Text(
        format!(r#"{{"type": "filter", "filter": {}}}"#, nested(30_000)).into(),
    ))
    .await
    .unwrap();
    assert!(matches!(close_code(&mut ws).await, Some(1002) | Some(1008)));
    // Deeper than that is also larger than a filter message may be: 1009.
    let mut ws = s.ws(true).await;
    send(&mut ws, json!({"type": "auth", "token": null})).await;
    assert_eq!(recv(&mut ws).await, Some(json!({"type": "auth_success"})));
    ws.send(awc::ws::Message::Text(
        format!(r#"{{"type": "filter", "filter": {}}}"#, nested(100_000)).into(),
    ))
    .await
    .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1009));
    // `/in` with something that is not an event: 1007 (invalid payload data).
    let url = s.url("/api/events/in").replacen("http", "ws", 1);
    let (_, mut ws) = s.client.ws(url).connect().await.unwrap();
    send(&mut ws, json!({"event": "x", "resource": {}})).await;
    assert_eq!(close_code(&mut ws).await, Some(1007));

    healthy(&s).await;
    assert_eq!(s.server.stream_stats().connections(), 0);
    assert_eq!(snapshot(&s).await, before);
}
