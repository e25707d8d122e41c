//! Request bodies held at once are bounded in bytes, whatever the number of
//! connections: a request whose body would pass the budget is refused with a
//! 503 it can retry, before any of its body is read, and the budget comes
//! back as bodies are parsed.

mod common;

use std::time::Duration;

use actix_web::http::StatusCode;
use common::TestServer;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KIB: usize = 1024;

/// Starts a POST declaring `len` bytes of body and sends none of it yet.
async fn slow_upload(addr: std::net::SocketAddr, len: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST /api/work_pools/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("head sent");
    s
}

async fn answer(s: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("an answer")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[actix_rt::test]
async fn bodies_past_the_budget_get_503_until_others_are_done() {
    let mut cfg = common::fast_config();
    cfg.body_limit = 256 * KIB;
    cfg.max_body_bytes_in_flight = 512 * KIB;
    let t = TestServer::with(cfg).await;
    // Two uploads take the whole budget, sending nothing.
    let mut a = slow_upload(t.server.addr(), 256 * KIB).await;
    let _b = slow_upload(t.server.addr(), 256 * KIB).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A third is refused at once.
    let mut c = slow_upload(t.server.addr(), 10 * KIB).await;
    let refused = answer(&mut c).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(
        refused.contains("too many request bodies in flight"),
        "{refused}"
    );
    // Small requests without a body still go through.
    let (status, _) = t.get("/api/health").await;
    assert_eq!(status, StatusCode::OK);
    // When one upload is done, its share comes back.
    let name = "x".repeat(200);
    let mut body = json!({"name": "big", "type": "process", "description": name}).to_string();
    body.push_str(&" ".repeat(256 * KIB - body.len()));
    a.write_all(body.as_bytes()).await.expect("body sent");
    let created = answer(&mut a).await;
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let (status, _) = t
        .post(
            "/api/work_pools/",
            json!({"name": "after", "type": "process"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}
