//! What waits for slow websocket clients is bounded in bytes, per client and
//! for all clients together: a client whose backlog would pass either bound is
//! cut off (1013), and what it held is counted off again, to the byte.

mod common;

use std::time::Duration;

use common::raw::{RawWs, ServerFrame};
use common::TestServer;
use serde_json::json;
use workbus_server::WebsocketLimits;

const MIB: usize = 1024 * 1024;
const BLOB: usize = 200_000;

async fn server(client_bytes: usize, all_bytes: usize) -> TestServer {
    let mut cfg = common::fast_config();
    cfg.websocket_client_buffer = 100_000;
    cfg.websocket_limits = WebsocketLimits {
        client_buffer_bytes: client_bytes,
        all_buffer_bytes: all_bytes,
        close_timeout: Duration::from_millis(500),
        ..WebsocketLimits::default()
    };
    cfg.event_history = 10;
    TestServer::with(cfg).await
}

/// A client that subscribes to everything and then reads nothing.
async fn idle_client(t: &TestServer) -> RawWs {
    let before = t.server.stream_stats().clients();
    let mut ws = RawWs::connect(t.server.addr(), "/api/events/out", true)
        .await
        .expect("101");
    ws.send_text(&json!({"type": "auth", "token": null}).to_string())
        .await;
    assert!(matches!(
        ws.next_frame(Duration::from_secs(5)).await,
        Some(ServerFrame::Text(_))
    ));
    ws.send_text(&json!({"type": "filter", "filter": {}, "backfill": false}).to_string())
        .await;
    for _ in 0..200 {
        if t.server.stream_stats().clients() > before {
            return ws;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not attached")
}

/// Posts large events until `n` clients were cut off, checking the bound after each.
async fn flood_until_cut_off(t: &TestServer, n: u64, bound: usize) {
    let blob = "x".repeat(BLOB);
    for i in 0..2_000 {
        if t.server.stream_stats().cut_off() >= n {
            return;
        }
        let (status, _) = t
            .post(
                "/api/events",
                json!([{
                    "occurred": "2026-12-01T00:00:00Z",
                    "event": "test.big",
                    "resource": {"prefect.resource.id": format!("test.{i}")},
                    "payload": {"blob": blob},
                    "id": uuid::Uuid::new_v4(),
                }]),
            )
            .await;
        assert_eq!(status, 204);
        t.server.bus().flush().await.expect("flush");
        let queued = t.server.stream_stats().queued_bytes();
        assert!(queued <= bound, "{queued} bytes queued, bound {bound}");
    }
    panic!("never cut off")
}

async fn queued_drops_to_zero(t: &TestServer) {
    for _ in 0..300 {
        if t.server.stream_stats().queued_bytes() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{} bytes still counted after the clients went",
        t.server.stream_stats().queued_bytes()
    );
}

#[actix_rt::test]
async fn one_client_is_cut_off_at_its_byte_bound() {
    let t = server(MIB, 256 * MIB).await;
    let mut ws = idle_client(&t).await;
    flood_until_cut_off(&t, 1, MIB).await;
    assert_eq!(ws.close_code(Duration::from_secs(10)).await, Some(1013));
    drop(ws);
    queued_drops_to_zero(&t).await;
}

#[actix_rt::test]
async fn all_clients_together_stay_within_the_total() {
    let t = server(64 * MIB, MIB).await;
    let mut a = idle_client(&t).await;
    let mut b = idle_client(&t).await;
    flood_until_cut_off(&t, 2, MIB).await;
    for ws in [&mut a, &mut b] {
        assert_eq!(ws.close_code(Duration::from_secs(10)).await, Some(1013));
    }
    drop((a, b));
    queued_drops_to_zero(&t).await;
}
