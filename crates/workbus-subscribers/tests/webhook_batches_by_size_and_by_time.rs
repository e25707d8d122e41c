//! Batching: events go as JSON arrays of at most `max_events`, the rest after
//! `max_wait`, in emission order, signed like single events.

mod support;

use std::time::{Duration, Instant};

use support::{signature_verifies, Recorder, Reply, Target};
use workbus_core::{Bus, CreatePool};
use workbus_subscribers::webhook::{Webhook, WebhookConfig};
use workbus_subscribers::{Feed, Guarded};

const SECRET: &str = "whsec_c2VjcmV0LWtleS1mb3ItYmF0Y2hlcw==";

#[actix_rt::test]
async fn batches_are_sent_when_full_or_when_the_oldest_event_has_waited_long_enough() {
    let target = Target::start(|_, _| Reply::Status(200));
    let bus = Bus::start();
    let recorder = Recorder::default();
    let rec = Guarded::subscribe(&bus, "recorder", recorder.clone(), Feed::default())
        .await
        .unwrap();
    let config = WebhookConfig::new("batched", &target.url)
        .secret(SECRET)
        .batch(5, Duration::from_millis(150));
    let hook = Webhook::subscribe(&bus, config).await.unwrap();

    // 4 pools: 12 events, emitted within a few milliseconds.
    for i in 0..4 {
        bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
            .await
            .unwrap();
    }
    let emitted_at = Instant::now();
    support::eventually(Duration::from_secs(5), "three batches", || {
        target.accepted().len() == 3
    })
    .await;
    hook.shutdown().await;
    rec.shutdown().await;

    let accepted = target.accepted();
    let sizes: Vec<usize> = accepted
        .iter()
        .map(|r| {
            serde_json::from_slice::<Vec<serde_json::Value>>(&r.body)
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(
        sizes,
        [5, 5, 2],
        "two full batches, then the rest after max_wait"
    );
    // The last two waited for max_wait (measured from their emission, less a little slack).
    assert!(
        accepted[2].at >= emitted_at + Duration::from_millis(100),
        "the rest was sent too early"
    );

    // In emission order, each element the event's JSON byte for byte.
    let mut body = Vec::new();
    body.push(b'[');
    for (i, e) in recorder.events().iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e.json());
    }
    body.push(b']');
    let joined: Vec<serde_json::Value> = accepted
        .iter()
        .flat_map(|r| serde_json::from_slice::<Vec<serde_json::Value>>(&r.body).unwrap())
        .collect();
    assert_eq!(
        joined,
        serde_json::from_slice::<Vec<serde_json::Value>>(&body).unwrap()
    );
    let first: Vec<serde_json::Value> = serde_json::from_slice(&accepted[0].body).unwrap();
    assert_eq!(
        accepted[0].id,
        format!("batch-{}", first[0]["id"].as_str().unwrap())
    );
    for r in &accepted {
        assert!(signature_verifies(SECRET, r));
    }
    target.stop().await;
}
