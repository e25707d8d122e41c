//! What a strict reading refused but clients legitimately send: `HEAD` probes
//! without credentials, the basic scheme in any case (RFC 7235), a whole
//! number of seconds written `30.0` (pydantic takes it), and an event of
//! exactly Prefect's 1.5 MB as the client sent it (the server's own
//! `received` does not count against it).

mod common;

use actix_web::http::StatusCode;
use base64::Engine;
use common::TestServer;
use serde_json::json;

const TOKEN: &str = "admin:s3cret";

async fn with_auth() -> TestServer {
    let mut cfg = common::fast_config();
    cfg.api_auth_string = Some(TOKEN.into());
    cfg.body_limit = 4 << 20;
    TestServer::with(cfg).await
}

#[actix_rt::test]
async fn head_probes_need_no_credentials() {
    let t = with_auth().await;
    for path in ["/api/health", "/api/ready"] {
        let resp = t.client.head(t.url(path)).send().await.expect("HEAD");
        assert_eq!(resp.status(), StatusCode::OK, "HEAD {path}");
    }
    let (status, _) = t.get("/api/work_pools/x").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the API still needs them");
}

#[actix_rt::test]
async fn the_basic_scheme_is_case_insensitive() {
    let t = with_auth().await;
    let creds = base64::engine::general_purpose::STANDARD.encode(TOKEN);
    for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
        let resp = t
            .client
            .post(t.url("/api/work_pools/filter"))
            .insert_header(("authorization", format!("{scheme} {creds}")))
            .send_json(&json!({}))
            .await
            .expect("POST");
        assert_eq!(resp.status(), StatusCode::OK, "{scheme}");
    }
}

#[actix_rt::test]
async fn heartbeat_intervals_are_whole_seconds_however_written() {
    let t = TestServer::start().await;
    t.pool("etl").await;
    for ok in [json!(30), json!(30.0), json!("30"), json!(null)] {
        let (status, body) = t
            .post(
                "/api/work_pools/etl/workers/heartbeat",
                json!({"name": "w", "heartbeat_interval_seconds": ok}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{ok}: {body}");
    }
    for bad in [json!(30.5), json!(-1), json!("soon"), json!([30])] {
        let (status, _) = t
            .post(
                "/api/work_pools/etl/workers/heartbeat",
                json!({"name": "w", "heartbeat_interval_seconds": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

/// An event whose JSON, as the client sends it, is exactly `size` bytes.
fn event_of(size: usize) -> serde_json::Value {
    let mut event = json!({
        "occurred": "2026-12-01T00:00:00.000000Z",
        "event": "test.sized",
        "resource": {"prefect.resource.id": "test.sized"},
        "related": [],
        "payload": {"blob": ""},
        "id": "01936b3c-0000-7000-8000-000000000000",
        "follows": null,
    });
    // Measured as the server measures it: the event as parsed, without `received`.
    let encoded = |v: &serde_json::Value| {
        let mut e: workbus_core::Event = serde_json::from_value(v.clone()).expect("an event");
        e.received = None;
        serde_json::to_vec(&e).unwrap().len()
    };
    let base = encoded(&event);
    event["payload"]["blob"] = json!("x".repeat(size - base));
    assert_eq!(encoded(&event), size);
    event
}

#[actix_rt::test]
async fn the_event_size_limit_counts_what_the_client_sent() {
    let t = with_auth().await;
    let (user, password) = TOKEN.split_once(':').unwrap();
    let t = t.login(user, password);
    let (status, body) = t.post("/api/events", json!([event_of(1_500_000)])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body:.300}");
    let (status, _) = t.post("/api/events", json!([event_of(1_500_001)])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
