//! A websocket client cannot make the server hold more than a message's limit:
//! a frame header declaring more is refused (1009) before its payload is read,
//! a fragmented message is refused when its running total passes the limit,
//! and broken frames get RFC 6455's close codes (1002, 1007). Run against the
//! binary, so that its resident memory is the process's own.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::child::{self, Running};
use common::raw::{frame, header, RawWs, BINARY, CONTINUATION, TEXT};
use tokio::io::AsyncWriteExt;

const AUTH: &str = "admin:s3cret";
const WAIT: Duration = Duration::from_secs(10);

fn server() -> Running {
    child::start(&[("WORKBUS_API_AUTH_STRING", AUTH)])
}

/// Declares a payload of 2^62 bytes, then streams zeros (up to `cap`) while reading:
/// answers the close code and how many bytes had gone out when it came.
async fn endless_frame(s: &Running, path: &str, cap: usize) -> (Option<u16>, usize) {
    let ws = RawWs::connect(s.addr, path, true).await.expect("101");
    let RawWs { mut reader, mut wr } = ws;
    wr.write_all(&header(true, TEXT, 1 << 62))
        .await
        .expect("header");
    let sent = AtomicUsize::new(0);
    let writer = async {
        let chunk = vec![0u8; 64 * 1024];
        while sent.load(Ordering::Relaxed) < cap {
            match tokio::time::timeout(Duration::from_secs(2), wr.write_all(&chunk)).await {
                Ok(Ok(())) => sent.fetch_add(chunk.len(), Ordering::Relaxed),
                // The server stopped reading, or hung up: nothing more goes out.
                _ => break,
            };
        }
        std::future::pending::<()>().await;
    };
    let code = tokio::select! {
        code = reader.close_code(WAIT) => code,
        () = writer => unreachable!(),
    };
    (code, sent.load(Ordering::Relaxed))
}

#[actix_rt::test]
async fn a_frame_declaring_more_than_the_limit_is_closed_with_1009_and_costs_no_memory() {
    let s = server();
    let before = s.rss_kib();
    for path in ["/api/events/out", "/api/events/in"] {
        let (code, sent) = endless_frame(&s, path, 256 << 20).await;
        assert_eq!(
            code,
            Some(1009),
            "{path}: the endless frame is refused as too big"
        );
        // It was refused on its header: far less than the 256 MiB on offer was read.
        assert!(
            sent < 64 << 20,
            "{path}: {sent} bytes went out before the close"
        );
    }
    let grown = s.rss_kib().saturating_sub(before);
    assert!(grown < 32 * 1024, "resident memory grew {grown} KiB");
    // And the server still serves.
    let mut resp = awc::Client::new()
        .get(s.url("/api/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(resp.status(), 200);
    let _ = resp.body().await;
}

#[actix_rt::test]
async fn a_fragmented_message_past_the_limit_is_closed_with_1009() {
    let s = server();
    let mut ws = RawWs::connect(s.addr, "/api/events/in", true)
        .await
        .expect("101");
    let part = vec![b' '; 1536 * 1024];
    ws.send(&frame(false, BINARY, &part)).await.expect("first");
    // Each fragment fits a frame; together they pass the 2 MiB a message may have.
    let _ = ws.send(&frame(false, CONTINUATION, &part)).await;
    assert_eq!(ws.close_code(WAIT).await, Some(1009));
}

#[actix_rt::test]
async fn a_filter_message_past_its_limit_is_closed_with_1009() {
    let s = child::start(&[]);
    let mut ws = RawWs::connect(s.addr, "/api/events/out", false)
        .await
        .expect("101");
    let ids: Vec<String> = (0..5_000)
        .map(|i| format!("prefect.work-pool.{i:036}"))
        .collect();
    let filter = serde_json::json!({"type": "filter", "filter": {"resource": {"id": ids}}});
    let _ = ws
        .send(&frame(true, TEXT, filter.to_string().as_bytes()))
        .await;
    assert_eq!(ws.close_code(WAIT).await, Some(1009));
}

#[actix_rt::test]
async fn text_that_is_not_utf8_is_closed_with_1007_on_both_routes() {
    let s = server();
    for path in ["/api/events/out", "/api/events/in"] {
        let mut ws = RawWs::connect(s.addr, path, true).await.expect("101");
        ws.send(&frame(
            true,
            TEXT,
            b"{\"type\":\"auth\",\"token\":\"\xff\xfe\"}",
        ))
        .await
        .expect("sent");
        assert_eq!(ws.close_code(WAIT).await, Some(1007), "{path}");
    }
}

#[actix_rt::test]
async fn broken_frames_are_closed_with_1002_on_both_routes() {
    let s = server();
    let unmasked = b"\x81\x05hello".to_vec();
    let bad_opcode = frame(true, 0x3, b"x");
    let stray_continuation = frame(true, CONTINUATION, b"x");
    for path in ["/api/events/out", "/api/events/in"] {
        for (what, bytes) in [
            ("unmasked", &unmasked),
            ("bad opcode", &bad_opcode),
            ("stray continuation", &stray_continuation),
        ] {
            let mut ws = RawWs::connect(s.addr, path, true).await.expect("101");
            ws.send(bytes).await.expect("sent");
            assert_eq!(ws.close_code(WAIT).await, Some(1002), "{path}: {what}");
        }
    }
}
