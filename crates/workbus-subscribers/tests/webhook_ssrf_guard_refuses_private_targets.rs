//! The SSRF guard: with `refuse_private_addresses` on, a webhook never reaches a
//! loopback or private address, whether the URL names it as an IP address
//! (refused when configured) or as a host name that resolves to it (refused for
//! good at delivery, dead-lettered, not retried). Off, the default, the same
//! target on 127.0.0.1 receives the events.

mod support;

use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use support::{Reply, Target};
use workbus_core::{Bus, CreatePool};
use workbus_subscribers::webhook::{RetryPolicy, WebhookConfig};
use workbus_subscribers::{install, Error, SubscribersConfig};

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..RetryPolicy::default()
    }
}

fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[actix_rt::test]
async fn an_ip_literal_on_loopback_or_a_private_network_is_refused_when_configured() {
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
        "http://0.0.0.0/hook",
        // Not globally routable either: NAT64 and 6to4 carrying the metadata
        // address, multicast, benchmarking, reserved.
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "http://[2002:a9fe:a9fe::1]/hook",
        "http://224.0.0.1/hook",
        "http://198.18.0.1/hook",
        "http://240.0.0.1/hook",
    ] {
        let on = WebhookConfig::new("guarded", url).refuse_private_addresses(true);
        let err = on.validate().expect_err(url);
        assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err}");
        assert!(err.to_string().contains("refused"), "{err}");
        // Off (the default), the same URL is fine.
        WebhookConfig::new("open", url).validate().unwrap();
    }
    // One switch turns it on for every webhook (the server's `--webhook-refuse-private`).
    let err = SubscribersConfig::none()
        .webhook(WebhookConfig::new("webhook", "http://127.0.0.1:4300/hook"))
        .refuse_private_addresses()
        .validate()
        .expect_err("refused");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    // A value of the switch that is neither true nor false (`maybe`) is the binary's to
    // refuse: workbus-server's `binary.rs`, `bad_settings_exit_with_a_message`.
}

#[actix_rt::test]
async fn a_host_name_resolving_to_loopback_is_refused_at_delivery_and_not_retried() {
    let target = Target::start(|_, _| Reply::Status(204));
    let port = target.url.rsplit(':').next().unwrap().to_owned(); // "PORT/hook"
    let by_name = format!("http://localhost:{port}");
    let bus = Bus::start();
    let mut config = SubscribersConfig::none();
    config.metrics = Some(Default::default());
    config.webhooks = vec![
        WebhookConfig::new("guarded", &by_name)
            .retry(quick())
            .refuse_private_addresses(true),
        // The same target without the guard: it works.
        WebhookConfig::new("open", &target.url).retry(quick()),
    ];
    let subscribers = install(&bus, config).await.unwrap();
    let metrics = subscribers.metrics().unwrap().clone();
    bus.create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    subscribers.shutdown().await;

    // Three events (queue created, pool created, pool not-ready), each received once: by
    // the open webhook only.
    assert_eq!(target.accepted().len(), 3, "{:?}", target.requests());
    let text = metrics.render();
    assert_eq!(
        counter(
            &text,
            "workbus_webhook_requests_total",
            &[("webhook", "guarded"), ("outcome", "refused_address")]
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        counter(
            &text,
            "workbus_webhook_retries_total",
            &[("webhook", "guarded")]
        ),
        0.0
    );
    assert_eq!(
        counter(
            &text,
            "workbus_webhook_dead_letters_total",
            &[("webhook", "guarded")]
        ),
        3.0
    );
    assert_eq!(
        counter(
            &text,
            "workbus_webhook_requests_total",
            &[("webhook", "open"), ("outcome", "success")]
        ),
        3.0
    );
    target.stop().await;
}
