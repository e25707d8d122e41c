//! A dead-letter file never grows past its cap: dead letters that would not fit are
//! not written, and each is counted as `dropped{reason="dead_letter_full"}`.

mod support;

use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use support::{Reply, Target};
use workbus_core::{Bus, CreatePool};
use workbus_subscribers::webhook::{DeadLetterSink, RetryPolicy, WebhookConfig};
use workbus_subscribers::{install, SubscribersConfig};

#[actix_rt::test]
async fn a_full_dead_letter_file_stops_growing_and_counts_what_it_refused() {
    let refusing = Target::start(|_, _| Reply::Status(400));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dead.jsonl");
    // Room for some dead letters but not for all of them (each line is about 1 KB).
    let cap = 2_500u64;
    let bus = Bus::start();
    let mut config = SubscribersConfig::none();
    config.metrics = Some(Default::default());
    config.webhooks = vec![WebhookConfig::new("capped", &refusing.url)
        .retry(RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        })
        .dead_letter(DeadLetterSink::File(file.clone()))
        .dead_letter_max_bytes(cap)];
    let subscribers = install(&bus, config).await.unwrap();
    let metrics = subscribers.metrics().unwrap().clone();
    for i in 0..5 {
        bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
            .await
            .unwrap();
    }
    subscribers.shutdown().await;

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.len() as u64 <= cap, "{} > {cap}", text.len());
    let written = text.lines().count() as f64;
    assert!(written >= 1.0);
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("whole JSON lines");
    }
    let scrape = Scrape::parse(metrics.render().lines().map(|l| Ok(l.to_owned()))).unwrap();
    let get = |name: &str, reason: Option<&str>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == name
                    && s.labels.get("subscriber").or(s.labels.get("webhook")) == Some("capped")
            })
            .filter(|s| reason.is_none_or(|r| s.labels.get("reason") == Some(r)))
            .map(|s| match s.value {
                Value::Counter(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    // 5 pools: 15 events, each refused: every one is either in the file or counted.
    assert_eq!(get("workbus_webhook_dead_letters_total", None), written);
    assert_eq!(
        get("workbus_events_dropped_total", Some("dead_letter_full")),
        15.0 - written
    );
    refusing.stop().await;
}
