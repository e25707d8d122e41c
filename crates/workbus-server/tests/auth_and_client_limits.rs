//! Security and limits: with `WORKBUS_API_AUTH_STRING`, every route but the probes
//! answers 401 without the auth string and with a wrong one, and works with it
//! (`/metrics` included); the websocket token is checked the same way; websocket
//! connections beyond `max_websocket_clients` are refused with 503 and counted.

mod common;

use actix_web::http::StatusCode;
use common::{close_code, recv, send, TestServer};
use serde_json::json;
use workbus_server::ServerConfig;

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/version"),
    ("GET", "/api/admin/version"),
    ("GET", "/api/csrf-token"),
    ("POST", "/api/work_pools/"),
    ("POST", "/api/work_pools/filter"),
    ("GET", "/api/work_pools/etl"),
    ("PATCH", "/api/work_pools/etl"),
    ("DELETE", "/api/work_pools/gone"),
    ("POST", "/api/work_pools/etl/get_scheduled_flow_runs"),
    ("POST", "/api/work_pools/etl/workers/heartbeat"),
    ("POST", "/api/work_pools/etl/workers/filter"),
    ("DELETE", "/api/work_pools/etl/workers/w"),
    ("POST", "/api/work_pools/etl/queues"),
    ("POST", "/api/work_pools/etl/queues/filter"),
    ("GET", "/api/work_pools/etl/queues/default"),
    ("PATCH", "/api/work_pools/etl/queues/default"),
    ("DELETE", "/api/work_pools/etl/queues/x"),
    ("POST", "/api/work_queues/"),
    (
        "GET",
        "/api/work_queues/00000000-0000-0000-0000-000000000000",
    ),
    (
        "POST",
        "/api/work_queues/00000000-0000-0000-0000-000000000000/get_runs",
    ),
    ("POST", "/api/flow_runs/filter"),
    ("POST", "/api/deployments/filter"),
    ("POST", "/api/events"),
    ("POST", "/api/events/filter"),
    ("GET", "/api/events/filter/next?page-token=x"),
    ("GET", "/api/events/out"),
    ("GET", "/api/events/in"),
    ("GET", "/metrics"),
    ("GET", "/no/such/route"),
    ("POST", "/api/health"),
];

/// One request with these basic-auth credentials (or none).
async fn call(
    s: &TestServer,
    auth: Option<(&str, &str)>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (StatusCode, serde_json::Value) {
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s
        .client
        .request(method, s.url(path))
        .insert_header(("content-type", "application/json"));
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, p);
    }
    let mut resp = req.send_body(body.to_vec()).await.unwrap();
    let bytes = resp.body().await.unwrap();
    (
        resp.status(),
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[actix_rt::test]
async fn every_route_but_the_probes_needs_the_auth_string() {
    let mut cfg = ServerConfig::loopback();
    cfg.api_auth_string = Some("admin:s3cret".into());
    let anon = TestServer::with(cfg).await;
    let right = Some(("admin", "s3cret"));
    let (status, _) = call(
        &anon,
        right,
        "POST",
        "/api/work_pools/",
        br#"{"name": "etl", "type": "process"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    for probe in ["/api/health", "/api/ready"] {
        assert_eq!(anon.get(probe).await.0, StatusCode::OK);
    }
    for (method, path) in ROUTES {
        for who in [
            None,
            Some(("admin", "s3cre")),
            Some(("admin", "s3cret2")),
            Some(("", "admin:s3cret")),
        ] {
            let (status, body) = call(&anon, who, method, path, b"{}").await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} as {who:?}"
            );
            assert_eq!(body["detail"], "Unauthorized");
        }
        let (status, body) = call(&anon, right, method, path, b"{}").await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
    }
    // A header that is not basic auth, or not base64, is no key either.
    for header in [
        "Bearer admin:s3cret",
        "Basic admin:s3cret",
        "Basic",
        "s3cret",
    ] {
        let resp = anon
            .client
            .get(anon.url("/api/version"))
            .insert_header(("authorization", header))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    // The websocket's token: missing, wrong, a prefix of the right one, then right.
    for token in [
        json!(null),
        json!("admin:wrong"),
        json!("admin:s3cre"),
        json!(42),
    ] {
        let mut ws = anon.ws(true).await;
        send(&mut ws, json!({"type": "auth", "token": token})).await;
        assert_eq!(close_code(&mut ws).await, Some(1008), "token {token}");
    }
    let mut ws = anon.ws(true).await;
    send(&mut ws, json!({"type": "auth", "token": "admin:s3cret"})).await;
    assert_eq!(recv(&mut ws).await, Some(json!({"type": "auth_success"})));
    // Nothing changed by the refused requests: one pool, made with the key.
    let (_, pools) = call(&anon, right, "POST", "/api/work_pools/filter", b"{}").await;
    assert_eq!(pools.as_array().map(Vec::len), Some(1));
}

#[actix_rt::test]
async fn websocket_clients_beyond_the_limit_are_refused_with_503() {
    let mut cfg = ServerConfig::loopback();
    cfg.max_websocket_clients = 2;
    let s = TestServer::with(cfg).await;
    let first = s.subscribe(None, json!({}), false).await;
    let url = s.url("/api/events/in").replacen("http", "ws", 1);
    let (_, second) = s.client.ws(url.as_str()).connect().await.unwrap();
    assert_eq!(s.server.stream_stats().connections(), 2);
    let refused = s
        .client
        .ws(s.url("/api/events/out").replacen("http", "ws", 1))
        .connect()
        .await;
    assert!(matches!(
        refused,
        Err(awc::error::WsClientError::InvalidResponseStatus(
            StatusCode::SERVICE_UNAVAILABLE
        ))
    ));
    // The refusal is JSON, with a Retry-After.
    let addr = s.server.addr();
    let answer = actix_rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let req = format!(
            "GET /api/events/out HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        conn.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 5"),
        "{answer}"
    );
    let body: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("at most 2"),
        "{body}"
    );
    assert_eq!(s.server.stream_stats().refused(), 2);
    assert_eq!(s.get("/api/health").await.0, StatusCode::OK);
    // A place frees when a client leaves.
    drop(first);
    drop(second);
    for _ in 0..200 {
        if s.server.stream_stats().connections() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(s.server.stream_stats().connections(), 0);
    let _again = s.subscribe(None, json!({}), false).await;
}
