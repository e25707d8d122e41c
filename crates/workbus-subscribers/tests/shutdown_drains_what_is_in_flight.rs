//! Graceful shutdown: events emitted before it reach every subscriber, a
//! webhook's through its retries, and the JSON-lines log has every line.

mod support;

use std::time::Duration;

use support::{workload, Recorder, Reply, Target};
use workbus_core::Bus;
use workbus_subscribers::logger::{JsonTarget, LoggerConfig};
use workbus_subscribers::webhook::{RetryPolicy, WebhookConfig};
use workbus_subscribers::{install, Feed, Guarded, SubscribersConfig};

#[actix_rt::test]
async fn shutdown_returns_after_every_earlier_event_reached_every_subscriber() {
    // Two failures per event before it is taken: the shutdown has to wait for retries.
    let target = Target::start(|_, attempt| match attempt {
        1 => Reply::Status(502),
        2 => Reply::Hang(Duration::from_millis(200)),
        _ => Reply::Status(200),
    });
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    let bus = Bus::start();
    let recorder = Recorder::default();
    let rec = Guarded::subscribe(&bus, "recorder", recorder.clone(), Feed::default())
        .await
        .unwrap();
    let mut config = SubscribersConfig {
        logger: Some(LoggerConfig::json_lines(JsonTarget::File(log.clone()))),
        ..SubscribersConfig::default()
    };
    config.webhooks.push(
        WebhookConfig::new("hook", &target.url)
            .timeout(Duration::from_millis(50))
            .retry(RetryPolicy {
                initial_backoff: Duration::from_millis(5),
                ..RetryPolicy::default()
            }),
    );
    let subscribers = install(&bus, config).await.unwrap();
    workload(&bus, 3).await;
    // No flush, no waiting: straight to shutdown.
    subscribers.shutdown().await;
    rec.shutdown().await;

    let events = recorder.events();
    assert_eq!(
        target.accepted().len(),
        events.len(),
        "every event delivered before shutdown returned"
    );
    let lines = std::fs::read_to_string(&log).unwrap();
    let expected: Vec<String> = events
        .iter()
        .map(|e| String::from_utf8(e.json().to_vec()).unwrap())
        .collect();
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        expected,
        "every line written and flushed, in order"
    );
    target.stop().await;
}
