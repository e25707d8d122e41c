//! `call-webhook` against a real HTTP server on 127.0.0.1: a call answered
//! `503` and `500` is tried again with backoff until it is answered `200`, and
//! the action is executed with Prefect's result details; a call that keeps
//! failing fails visibly after its tries, a `404` at once. Real time: the
//! backoff is 100 ms, 200 ms, 400 ms, 800 ms.

mod support;

use serde_json::{json, Value};
use support::receiver::{event_now, outcome, save_block, wait_for, Receiver};
use uuid::Uuid;
use workbus_automations::{
    Action, AutomationSpec, Automations, CallWebhook, EventTrigger, Posture, ACTION_ATTEMPTS,
};
use workbus_core::testing::collect;
use workbus_core::{Bus, EventFilter};
use workbus_events::SharedEvent;

fn alarm() -> SharedEvent {
    event_now("acme.alarm", &[("prefect.resource.id", "acme.alarm.1")])
}

const PAYLOAD: &str = r#"{"automation": "{{ automation.name }}", "event": "{{ event.event }}", "resource": "{{ event.resource.id }}"}"#;

async fn fire(statuses: &[u16]) -> (Receiver, Value, Automations) {
    let bus = Bus::start();
    let automations = Automations::start(&bus).await.unwrap();
    let seen = collect(&bus, EventFilter::prefix(["prefect.automation.action."])).await;
    let receiver = Receiver::start(statuses);
    let block = save_block(
        automations.blocks(),
        "webhook",
        &[],
        json!({"url": receiver.url, "method": "POST", "headers": {"x-token": "t0k"}}),
    )
    .await;
    let spec = AutomationSpec::new(
        "page on alarm",
        EventTrigger::new(Posture::Reactive).expect(["acme.alarm"]),
        vec![Action::CallWebhook(
            CallWebhook::new(block, PAYLOAD).unwrap(),
        )],
    );
    automations.create(spec).await.unwrap();
    bus.ingest(alarm()).await.unwrap();
    let outcome = outcome(&seen).await;
    (receiver, outcome, automations)
}

#[actix_rt::test]
async fn a_webhook_answered_503_then_500_then_200_is_executed() {
    let (receiver, outcome, automations) = fire(&[503, 500, 200]).await;
    assert_eq!(outcome["event"], "prefect.automation.action.executed");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3, "two retries, then the success");
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("x-token"), Some("t0k"));
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap(),
            json!({"automation": "page on alarm", "event": "acme.alarm", "resource": "acme.alarm.1"})
        );
    }
    let payload = &outcome["payload"];
    assert_eq!(payload["status_code"], 200);
    assert_eq!(payload["response_body"], "answer 2");
    assert_eq!(payload["response_headers"]["x-answer"], "2");
    assert!(
        payload["response_headers"].get("authorization").is_none(),
        "secret headers are left out, as Prefect leaves them out"
    );
    let related = outcome["related"].as_array().unwrap();
    let role = |r: &str| {
        related
            .iter()
            .find(|x| x["prefect.resource.role"] == r)
            .unwrap_or_else(|| panic!("a related resource of role {r}: {related:?}"))
    };
    assert!(role("block")["prefect.resource.id"]
        .as_str()
        .unwrap()
        .starts_with("prefect.block-document."));
    assert_eq!(
        role("block-type")["prefect.resource.id"],
        "prefect.block-type.webhook"
    );
    assert_eq!(automations.stats().action_retries(), 2);
    assert_eq!(automations.stats().actions_executed(), 1);
}

#[actix_rt::test]
async fn a_webhook_that_keeps_failing_fails_after_every_try() {
    let (receiver, outcome, automations) = fire(&[503]).await;
    assert_eq!(outcome["event"], "prefect.automation.action.failed");
    assert_eq!(
        outcome["payload"]["reason"],
        "Webhook call failed: status 503"
    );
    assert_eq!(outcome["payload"]["status_code"], 503);
    assert_eq!(receiver.requests().len(), ACTION_ATTEMPTS as usize);
    assert_eq!(
        automations.stats().action_retries(),
        u64::from(ACTION_ATTEMPTS - 1)
    );
    assert_eq!(automations.stats().actions_failed(), 1);
}

#[actix_rt::test]
async fn a_webhook_answered_404_fails_at_once() {
    let (receiver, outcome, automations) = fire(&[404]).await;
    assert_eq!(outcome["event"], "prefect.automation.action.failed");
    assert_eq!(outcome["payload"]["status_code"], 404);
    assert_eq!(
        receiver.requests().len(),
        1,
        "a 404 will not pass: no retry"
    );
    assert_eq!(automations.stats().action_retries(), 0);
}

#[actix_rt::test]
async fn a_webhook_that_cannot_be_reached_fails_with_the_reason() {
    let bus = Bus::start();
    let automations = Automations::start(&bus).await.unwrap();
    let seen = collect(
        &bus,
        EventFilter::prefix(["prefect.automation.action.failed"]),
    )
    .await;
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let block = save_block(
        automations.blocks(),
        "webhook",
        &[],
        json!({"url": format!("http://127.0.0.1:{port}/hook")}),
    )
    .await;
    let missing = Uuid::new_v4();
    let spec = AutomationSpec::new(
        "page on alarm",
        EventTrigger::new(Posture::Reactive).expect(["acme.alarm"]),
        vec![
            Action::CallWebhook(CallWebhook::new(block, "").unwrap()),
            Action::CallWebhook(CallWebhook::new(missing, "").unwrap()),
        ],
    );
    automations.create(spec).await.unwrap();
    bus.ingest(alarm()).await.unwrap();
    wait_for(&seen, "prefect.automation.action.failed", 2).await;
    let failed = seen.json();
    let reason = failed[0]["payload"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("Webhook call failed: "), "{reason}");
    assert_eq!(
        failed[1]["payload"]["reason"], "Unexpected status from 'call-webhook' action: 404",
        "a block document that does not exist, as Prefect's API answers it"
    );
}
