//! The webhook sender against a real HTTP target that fails first attempts
//! (500, 503), answers 429 with Retry-After, hangs past the timeout and drops
//! the connection: every event still arrives exactly once per id, in order
//! per resource, with a signature that verifies, and other resources go on
//! while one waits.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{signature_verifies, workload, Recorder, Reply, Target};
use workbus_core::Bus;
use workbus_subscribers::webhook::{RetryPolicy, WebhookConfig};
use workbus_subscribers::{install, Feed, Guarded, SubscribersConfig};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn resource_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["resource"]["prefect.resource.id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_rt::test]
async fn every_event_arrives_once_in_order_per_resource_with_a_valid_signature() {
    // Each new webhook-id gets the next number; its number picks how its attempts go.
    let numbers: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let target = Target::start(move |id, attempt| {
        let k = {
            let mut m = numbers.lock().unwrap();
            let n = m.len();
            *m.entry(id.to_owned()).or_insert(n)
        };
        match (k % 6, attempt) {
            (1, 1) => Reply::Status(500),
            (1, 2) => Reply::Status(503),
            (2, 1) if k < 20 => Reply::RetryAfter(429, 1),
            (3, 1) => Reply::Hang(Duration::from_millis(600)),
            (4, 1) => Reply::Drop,
            (5, 1) => Reply::Status(408),
            (5, 2) => Reply::Status(502),
            _ => Reply::Status(200),
        }
    });

    let bus = Bus::start();
    let recorder = Recorder::default();
    let rec = Guarded::subscribe(&bus, "recorder", recorder.clone(), Feed::default())
        .await
        .unwrap();
    let mut config = SubscribersConfig::none();
    config.webhooks.push(
        WebhookConfig::new("hook", &target.url)
            .secret(SECRET)
            .timeout(Duration::from_millis(200))
            .concurrency(4)
            .retry(RetryPolicy {
                max_attempts: 6,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(100),
                ..RetryPolicy::default()
            }),
    );
    let subscribers = install(&bus, config).await.unwrap();

    workload(&bus, 4).await;
    subscribers.shutdown().await;
    rec.shutdown().await;

    let emitted = recorder.events();
    assert!(
        emitted.len() >= 40,
        "the workload emits {} events",
        emitted.len()
    );
    let accepted = target.accepted();
    let requests = target.requests();

    // Exactly once per id.
    let mut ids = HashSet::new();
    for r in &accepted {
        assert!(ids.insert(r.id.clone()), "event {} accepted twice", r.id);
    }
    let emitted_ids: HashSet<String> = emitted.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(
        ids, emitted_ids,
        "every emitted event, and only those, is accepted"
    );

    // The body is the event's Prefect JSON, byte for byte.
    let by_id: HashMap<String, &workbus_core::SharedEvent> =
        emitted.iter().map(|e| (e.id.to_string(), e)).collect();
    for r in &accepted {
        assert_eq!(&r.body[..], &by_id[&r.id].json()[..]);
    }

    // In order per resource.
    let mut resources: HashMap<String, Vec<String>> = HashMap::new();
    for e in &emitted {
        resources
            .entry(e.resource.id().to_owned())
            .or_default()
            .push(e.id.to_string());
    }
    let mut arrived: HashMap<String, Vec<String>> = HashMap::new();
    for r in &accepted {
        arrived
            .entry(resource_of(&r.body))
            .or_default()
            .push(r.id.clone());
    }
    assert_eq!(
        arrived, resources,
        "each resource's events arrive in emission order"
    );

    // Every request, failed ones included, is signed and verifies independently.
    for r in &requests {
        assert!(signature_verifies(SECRET, r), "bad signature on {r:?}");
        assert!(r.timestamp.parse::<i64>().is_ok());
    }

    // The failures really happened, and were retried.
    let count = |f: &dyn Fn(&Reply) -> bool| requests.iter().filter(|r| f(&r.reply)).count();
    assert!(count(&|r| matches!(r, Reply::Status(500))) > 0);
    assert!(count(&|r| matches!(r, Reply::Hang(_))) > 0);
    assert!(count(&|r| matches!(r, Reply::Drop)) > 0);
    assert!(count(&|r| matches!(r, Reply::Status(408))) > 0);
    let throttled: Vec<_> = requests
        .iter()
        .filter(|r| matches!(r.reply, Reply::RetryAfter(..)))
        .collect();
    assert!(!throttled.is_empty());

    for t in &throttled {
        // Retry-After: 1 is honoured...
        let next = requests
            .iter()
            .find(|r| r.id == t.id && r.attempt == t.attempt + 1)
            .unwrap();
        let waited = next.at - t.at;
        assert!(
            waited >= Duration::from_millis(950),
            "retried after {waited:?}, Retry-After said 1 s"
        );
        // ...and while that event waits, other resources' events go on.
        let resource = resource_of(&t.body);
        let others = accepted
            .iter()
            .filter(|r| r.at > t.at && r.at < next.at && resource_of(&r.body) != resource)
            .count();
        assert!(
            others > 0,
            "nothing else was delivered while {} waited",
            t.id
        );
    }
    target.stop().await;
}
