//! The metrics text parses with a real exposition-format parser
//! (`prometheus-parse`) and its values match what happened on the bus.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use support::{workload, Reply, Target};
use workbus_core::{Bus, CreatePool, CreateQueue, PoolUpdate};
use workbus_subscribers::webhook::{RetryPolicy, WebhookConfig};
use workbus_subscribers::{install, SubscribersConfig};

fn parse(text: &str) -> Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Scrape::parse(lines).expect("the metrics text parses")
}

/// The value of the sample `name` whose labels include all of `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => f64::NAN,
        })
}

#[actix_rt::test]
async fn metrics_text_parses_and_its_values_match_what_happened() {
    // The target answers 500 once, then 200, for every event; and 429 once for none.
    let target = Target::start(|_, attempt| {
        if attempt == 1 {
            Reply::Status(500)
        } else {
            Reply::Status(200)
        }
    });
    let bus = Bus::start();
    let mut config = SubscribersConfig {
        logger: None,
        ..SubscribersConfig::default()
    };
    config.webhooks.push(
        WebhookConfig::new("hook", &target.url)
            .timeout(Duration::from_secs(2))
            .retry(RetryPolicy {
                initial_backoff: Duration::from_millis(5),
                ..RetryPolicy::default()
            }),
    );
    // A second webhook, only for pool creations, whose target drops every first connection.
    let dropper = Target::start(|_, attempt| {
        if attempt == 1 {
            Reply::Drop
        } else {
            Reply::Status(204)
        }
    });
    config.webhooks.push(
        WebhookConfig::new("dropper", &dropper.url)
            .filter(workbus_core::EventFilter::prefix([
                "prefect.work-pool.created",
            ]))
            .retry(RetryPolicy {
                initial_backoff: Duration::from_millis(5),
                ..RetryPolicy::default()
            }),
    );
    let subscribers = install(&bus, config).await.unwrap();
    let metrics = subscribers.metrics().unwrap().clone();

    // 3 pools through the workload; then one more paused pool with a paused queue, and a deleted pool.
    workload(&bus, 3).await;
    bus.create_pool(CreatePool::new("paused-pool", "process").paused())
        .await
        .unwrap();
    let paused_queue = CreateQueue {
        is_paused: true,
        ..CreateQueue::new("held")
    };
    bus.create_queue("paused-pool", paused_queue).await.unwrap();
    bus.create_pool(CreatePool::new("gone", "process"))
        .await
        .unwrap();
    bus.delete_pool("gone").await.unwrap();
    bus.heartbeat("pool-0", "worker-2").await.unwrap();
    bus.update_pool("pool-2", PoolUpdate::pause())
        .await
        .unwrap();

    for h in subscribers.handles() {
        h.drain().await;
    }
    // The paused queue's status is read from the bus: wait for that answer.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let text = metrics.render();
    let scrape = parse(&text);

    // Emitted, by event name, against the bus's own records.
    let stats = bus.stats();
    let mut by_name: HashMap<String, f64> = HashMap::new();
    for s in scrape
        .samples
        .iter()
        .filter(|s| s.metric == "workbus_events_emitted_total")
    {
        by_name.insert(
            s.labels.get("event").unwrap().to_owned(),
            match s.value {
                Value::Counter(v) => v,
                _ => panic!("emitted is a counter"),
            },
        );
    }
    let total: f64 = by_name.values().sum();
    assert_eq!(
        total,
        stats.published() as f64,
        "every published event is counted once"
    );
    // 5 pools created, 1 deleted; per workload pool: 1 ready, 1 paused, ready again on resume.
    assert_eq!(by_name["prefect.work-pool.created"], 5.0);
    assert_eq!(by_name["prefect.work-pool.deleted"], 1.0);
    // Queues: 5 default + 3 extra + 1 held created; 3 extra + gone's default deleted.
    assert_eq!(by_name["prefect.work-queue.created"], 9.0);
    assert_eq!(by_name["prefect.work-queue.deleted"], 4.0);
    assert_eq!(by_name["prefect.work-pool.updated"], 3.0);
    assert_eq!(by_name["prefect.work-queue.updated"], 3.0);

    // Pools by status: pool-0 and pool-1 READY, pool-2 and paused-pool PAUSED.
    let pools = |s| value(&scrape, "workbus_work_pools", &[("status", s)]);
    assert_eq!(pools("READY"), Some(2.0));
    assert_eq!(pools("PAUSED"), Some(2.0));
    assert_eq!(pools("NOT_READY"), Some(0.0));
    // Queues: 4 defaults NOT_READY (never polled), held PAUSED.
    let queues = |s| value(&scrape, "workbus_work_queues", &[("status", s)]);
    assert_eq!(queues("NOT_READY"), Some(4.0));
    assert_eq!(queues("PAUSED"), Some(1.0));
    assert_eq!(queues("READY"), Some(0.0));

    // Workers online: worker-1 on each of the 3 workload pools, worker-2 on pool-0.
    assert_eq!(value(&scrape, "workbus_workers_online", &[]), Some(4.0));
    assert_eq!(stats.workers_online(), 4);
    // Awaited operations one at a time never leave the registry behind.
    assert_eq!(
        value(&scrape, "workbus_bus_held_back_total", &[]),
        Some(0.0)
    );
    assert_eq!(stats.held_back(), 0);

    // Delivered per subscriber equals the registry's count; nothing dropped.
    for sub in stats.subscriptions() {
        let name = sub.name.to_string();
        let delivered = value(
            &scrape,
            "workbus_events_delivered_total",
            &[("subscriber", &name)],
        );
        assert_eq!(delivered, Some(sub.stats.delivered() as f64), "{name}");
        if name != "dropper" {
            assert_eq!(
                sub.stats.delivered(),
                stats.published(),
                "{name} got everything"
            );
        }
        for reason in ["overflow", "closed"] {
            let dropped = value(
                &scrape,
                "workbus_events_dropped_total",
                &[("subscriber", &name), ("reason", reason)],
            );
            assert_eq!(dropped, Some(0.0), "{name} {reason}");
        }
    }

    // Latency: one observation per event per subscriber that records it.
    let count = |sub: &str| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "workbus_delivery_latency_seconds_count"
                    && s.labels.get("subscriber") == Some(sub)
            })
            .map(|s| match s.value {
                Value::Counter(v) | Value::Untyped(v) | Value::Gauge(v) => v,
                _ => f64::NAN,
            })
            .or_else(|| {
                value(
                    &scrape,
                    "workbus_delivery_latency_seconds",
                    &[("subscriber", sub)],
                )
            })
    };
    assert_eq!(count("metrics"), Some(stats.published() as f64));
    assert_eq!(count("hook"), Some(stats.published() as f64));

    // Webhook: each event failed once (500) and then succeeded.
    let n = stats.published() as f64;
    let req = |o| {
        value(
            &scrape,
            "workbus_webhook_requests_total",
            &[("webhook", "hook"), ("outcome", o)],
        )
    };
    assert_eq!(req("server_error"), Some(n));
    assert_eq!(req("success"), Some(n));
    assert_eq!(
        value(
            &scrape,
            "workbus_webhook_retries_total",
            &[("webhook", "hook")]
        ),
        Some(n)
    );
    assert_eq!(target.accepted().len() as f64, n);

    // The dropped connections are errors of the connection (awc reports a
    // connection closed before the response as a connect error), retried:
    // each of the 5 creations once.
    let dropped = |o| {
        value(
            &scrape,
            "workbus_webhook_requests_total",
            &[("webhook", "dropper"), ("outcome", o)],
        )
    };
    let failed = dropped("connect_error").unwrap_or(0.0) + dropped("send_error").unwrap_or(0.0);
    assert_eq!(failed, 5.0);
    assert_eq!(dropped("success"), Some(5.0));
    assert_eq!(dropper.accepted().len(), 5);

    subscribers.shutdown().await;
    target.stop().await;
    dropper.stop().await;
}
