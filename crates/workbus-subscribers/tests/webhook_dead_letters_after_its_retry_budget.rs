//! Dead letters: an event that a target refuses for good (4xx), or that
//! exhausts the retry budget (5xx, connection refused), goes to the
//! dead-letter sink, a JSON-lines file or an actor, and is counted.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use prometheus_parse::{Scrape, Value};
use support::{Recorder, Reply, Target};
use workbus_core::{Bus, CreatePool};
use workbus_subscribers::webhook::{DeadLetter, DeadLetterSink, RetryPolicy, WebhookConfig};
use workbus_subscribers::{install, Feed, Guarded, SubscribersConfig};

#[derive(Default)]
struct Letters(Arc<Mutex<Vec<DeadLetter>>>);

impl Actor for Letters {
    type Context = Context<Self>;
}

impl Handler<DeadLetter> for Letters {
    type Result = ();
    fn handle(&mut self, letter: DeadLetter, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(letter);
    }
}

fn quick(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..RetryPolicy::default()
    }
}

#[actix_rt::test]
async fn events_go_to_the_dead_letter_sink_after_the_retry_budget_and_are_counted() {
    let failing = Target::start(|_, _| Reply::Status(503));
    let refusing = Target::start(|_, _| Reply::Status(422));
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dead.jsonl");
    let letters = Arc::new(Mutex::new(Vec::new()));
    let letters_actor = Letters(letters.clone()).start();

    let bus = Bus::start();
    let recorder = Recorder::default();
    let rec = Guarded::subscribe(&bus, "recorder", recorder.clone(), Feed::default())
        .await
        .unwrap();
    let mut config = SubscribersConfig::none();
    config.metrics = Some(Default::default());
    config.webhooks = vec![
        WebhookConfig::new("failing", &failing.url)
            .retry(quick(3))
            .dead_letter(DeadLetterSink::File(file.clone())),
        WebhookConfig::new("refusing", &refusing.url)
            .retry(quick(3))
            .dead_letter(DeadLetterSink::Recipient(letters_actor.recipient())),
        WebhookConfig::new("closed", &closed)
            .retry(quick(2))
            .timeout(Duration::from_millis(500)),
    ];
    let subscribers = install(&bus, config).await.unwrap();
    let metrics = subscribers.metrics().unwrap().clone();

    bus.create_pool(CreatePool::new("a", "process"))
        .await
        .unwrap();
    bus.create_pool(CreatePool::new("b", "process"))
        .await
        .unwrap();
    subscribers.shutdown().await;
    rec.shutdown().await;
    let events = recorder.events();
    let n = events.len();
    assert_eq!(n, 6);

    // 503: three attempts each, then the file, one line per event with its JSON intact.
    assert_eq!(failing.requests().len(), 3 * n);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    // Lanes run in parallel, so dead letters come in order per resource only: match them by id.
    let by_id = |id: &str| events.iter().find(|e| e.id.to_string() == id).unwrap();
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|l| l["event"]["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "each event once");
    for line in &lines {
        let event = by_id(line["event"]["id"].as_str().unwrap());
        assert_eq!(line["webhook"], "failing");
        assert_eq!(line["attempts"], 3);
        assert!(line["reason"].as_str().unwrap().contains("503"), "{line}");
        let original: serde_json::Value = serde_json::from_slice(event.json()).unwrap();
        assert_eq!(line["event"], original);
    }

    // 422: one attempt each, no retry, then the actor.
    assert_eq!(refusing.requests().len(), n);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let got = letters.lock().unwrap().clone();
    assert_eq!(got.len(), n);
    let mut ids: Vec<String> = got.iter().map(|l| l.event.id.to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "each event once");
    for letter in &got {
        assert_eq!(&*letter.webhook, "refusing");
        assert!(events.iter().any(|e| e.id == letter.event.id));
        assert_eq!(letter.attempts, 1);
        assert!(letter.reason.contains("422"), "{}", letter.reason);
    }

    // Counted.
    let scrape = Scrape::parse(metrics.render().lines().map(|l| Ok(l.to_owned()))).unwrap();
    let get = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                Value::Counter(v) => v,
                _ => panic!("{name} is a counter"),
            })
    };
    let n = n as f64;
    for hook in ["failing", "refusing", "closed"] {
        assert_eq!(
            get("workbus_webhook_dead_letters_total", &[("webhook", hook)]),
            Some(n),
            "{hook}"
        );
    }
    assert_eq!(
        get("workbus_webhook_retries_total", &[("webhook", "failing")]),
        Some(2.0 * n)
    );
    assert_eq!(
        get("workbus_webhook_retries_total", &[("webhook", "refusing")]),
        None
    );
    assert_eq!(
        get("workbus_webhook_retries_total", &[("webhook", "closed")]),
        Some(n)
    );
    let requests = |hook, outcome| {
        get(
            "workbus_webhook_requests_total",
            &[("webhook", hook), ("outcome", outcome)],
        )
    };
    assert_eq!(requests("failing", "server_error"), Some(3.0 * n));
    assert_eq!(requests("refusing", "client_error"), Some(n));
    assert_eq!(requests("closed", "connect_error"), Some(2.0 * n));
    failing.stop().await;
    refusing.stop().await;
}
