//! Connections that never finish their handshake hold only handshake places,
//! of which there are few, and only for the handshake deadline: clients that
//! authenticated keep their places and their events.

mod common;

use std::time::Duration;

use actix_web::http::StatusCode;
use common::raw::RawWs;
use common::{fast_config, recv_events, TestServer};
use serde_json::json;
use workbus_server::WebsocketLimits;

const TOKEN: &str = "admin:s3cret";

async fn server() -> TestServer {
    let mut cfg = fast_config();
    cfg.api_auth_string = Some(TOKEN.into());
    cfg.max_websocket_clients = 3;
    cfg.websocket_limits = WebsocketLimits {
        max_handshakes: 4,
        handshake_timeout: Duration::from_millis(500),
        close_timeout: Duration::from_secs(1),
        ..WebsocketLimits::default()
    };
    let (user, password) = TOKEN.split_once(':').unwrap();
    TestServer::with(cfg).await.login(user, password)
}

#[actix_rt::test]
async fn idle_handshakes_are_capped_timed_out_and_never_take_a_clients_place() {
    let t = server().await;
    let filter = json!({"event": {"prefix": ["prefect.work-pool."]}});
    let mut a = t.subscribe(Some(TOKEN), filter.clone(), false).await;
    let mut b = t.subscribe(Some(TOKEN), filter, false).await;

    // Four connections that never authenticate fill the handshake places ...
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(
            RawWs::connect(t.server.addr(), "/api/events/out", true)
                .await
                .expect("101"),
        );
    }
    // ... so a fifth is refused with a 503 it can retry ...
    assert_eq!(
        RawWs::connect(t.server.addr(), "/api/events/out", true)
            .await
            .err(),
        Some(503)
    );
    assert_eq!(t.server.stream_stats().handshakes(), 4);
    assert!(t.server.stream_stats().handshakes_refused() >= 1);

    // ... while the authenticated clients keep their places and their events.
    t.pool("etl").await;
    for ws in [&mut a, &mut b] {
        let events = recv_events(ws, 2).await;
        assert_eq!(events[0]["event"], "prefect.work-pool.created");
    }

    // At the deadline the idle ones are closed (1008) and their places freed.
    for ws in &mut idle {
        assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1008));
    }
    for _ in 0..100 {
        if t.server.stream_stats().handshakes() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(t.server.stream_stats().handshakes(), 0);
    assert_eq!(t.server.stream_stats().connections(), 2);
}

#[actix_rt::test]
async fn a_client_past_the_limit_is_told_to_try_again_after_its_handshake() {
    let t = server().await;
    let _a = t.subscribe(Some(TOKEN), json!({}), false).await;
    let mut c = RawWs::connect(t.server.addr(), "/api/events/out", true)
        .await
        .expect("101: the handshake has a place of its own");
    // The last client places go while `c` is still in its handshake.
    let _b = t.subscribe(Some(TOKEN), json!({}), false).await;
    let _d = t.subscribe(Some(TOKEN), json!({}), false).await;
    assert_eq!(
        RawWs::connect(t.server.addr(), "/api/events/out", true)
            .await
            .err(),
        Some(503),
        "with every client place taken, an upgrade is refused at once"
    );
    c.send_text(&json!({"type": "auth", "token": TOKEN}).to_string())
        .await;
    c.send_text(&json!({"type": "filter", "filter": {}}).to_string())
        .await;
    assert_eq!(c.close_code(Duration::from_secs(5)).await, Some(1013));
    assert!(t.server.stream_stats().refused() >= 2);
    let (status, _) = t.get("/api/health").await;
    assert_eq!(status, StatusCode::OK);
}
