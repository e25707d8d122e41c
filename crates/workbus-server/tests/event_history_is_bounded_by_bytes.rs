//! The event history keeps no more bytes than `WORKBUS_EVENT_HISTORY_BYTES`,
//! whatever size of events clients post, and counts what it evicts.

mod common;

use common::child;
use serde_json::json;

const MIB: u64 = 1024 * 1024;

#[actix_rt::test]
async fn large_events_evict_old_ones_and_memory_stays_bounded() {
    let limit = 32 * MIB;
    let s = child::start(&[("WORKBUS_EVENT_HISTORY_BYTES", &limit.to_string())]);
    let before = s.rss_kib();
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let big = "x".repeat(1_000_000);
    let posted = 300u64;
    for i in 0..posted {
        let event = json!([{
            "occurred": "2026-12-01T00:00:00Z",
            "event": "test.big",
            "resource": {"prefect.resource.id": format!("test.{i}")},
            "payload": {"blob": big},
            "id": uuid::Uuid::new_v4(),
        }]);
        let resp = client
            .post(s.url("/api/events"))
            .send_json(&event)
            .await
            .expect("POST /api/events");
        assert_eq!(resp.status(), 204, "event {i}");
    }
    // Every event reached the history (flushed by the metrics read after the posts).
    let mut held = 0.0;
    for _ in 0..100 {
        held = s.metric("workbus_event_history_events").await;
        let evicted = s.metric("workbus_event_history_evicted_total").await;
        if held + evicted >= posted as f64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let bytes = s.metric("workbus_event_history_bytes").await;
    let evicted = s.metric("workbus_event_history_evicted_total").await;
    assert!(bytes <= limit as f64, "history holds {bytes} bytes");
    assert!(held >= 5.0, "the newest events are kept: {held}");
    assert_eq!(
        held + evicted,
        posted as f64,
        "held {held} + evicted {evicted}"
    );
    // 300 MB went through; what stays is the bound and the process's own needs.
    let grown = s.rss_kib().saturating_sub(before);
    assert!(
        grown < 160 * 1024,
        "resident memory grew {grown} KiB with a history bound of {limit} bytes"
    );
}
