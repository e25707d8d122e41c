//! A client cut off for reading too slowly finds the 1013 close frame after the
//! frames it had not read, even when it starts reading a while later: the close
//! goes ahead of the frames still queued, and the connection stays open for the
//! close timeout.

mod common;

use std::time::Duration;

use common::raw::{RawWs, ServerFrame};
use common::TestServer;
use serde_json::json;
use workbus_server::WebsocketLimits;

#[actix_rt::test]
async fn a_slow_client_reads_1013_after_its_backlog() {
    let mut cfg = common::fast_config();
    cfg.websocket_client_buffer = 4;
    cfg.websocket_limits = WebsocketLimits {
        close_timeout: Duration::from_secs(4),
        ..WebsocketLimits::default()
    };
    let t = TestServer::with(cfg).await;
    let mut ws = RawWs::connect(t.server.addr(), "/api/events/out", true)
        .await
        .expect("101");
    ws.send_text(&json!({"type": "auth", "token": null}).to_string())
        .await;
    assert_eq!(
        ws.next_frame(Duration::from_secs(5)).await,
        Some(ServerFrame::Text(r#"{"type":"auth_success"}"#.into()))
    );
    ws.send_text(&json!({"type": "filter", "filter": {}, "backfill": false}).to_string())
        .await;
    for _ in 0..200 {
        if t.server.stream_stats().clients() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The client reads nothing while large events pile up, until it is cut off.
    let blob = "x".repeat(200_000);
    let mut posted = 0;
    while t.server.stream_stats().cut_off() == 0 {
        assert!(posted < 1_000, "never cut off");
        let (status, _) = t
            .post(
                "/api/events",
                json!([{
                    "occurred": "2026-12-01T00:00:00Z",
                    "event": "test.big",
                    "resource": {"prefect.resource.id": "test.slow"},
                    "payload": {"blob": blob},
                    "id": uuid::Uuid::new_v4(),
                }]),
            )
            .await;
        assert_eq!(status, 204);
        posted += 1;
        t.server.bus().flush().await.expect("flush");
    }

    // It starts reading late, and still finds the close after what it had not read.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut texts = 0;
    let code = loop {
        match ws.next_frame(Duration::from_secs(5)).await {
            Some(ServerFrame::Text(_)) => texts += 1,
            Some(ServerFrame::Close(code)) => break code,
            Some(ServerFrame::Other(_)) => {}
            None => panic!("the connection ended without a close frame after {texts} events"),
        }
    };
    assert_eq!(code, Some(1013));
    assert!(
        texts < posted,
        "some events were never sent: {texts} of {posted}"
    );
}
