//! `send-notification` through a `custom-webhook` block (Prefect's
//! `CustomWebhookNotificationBlock`), against a real HTTP server on 127.0.0.1:
//! the rendered subject and body, the block's name and its secrets go where
//! its `{{placeholders}}` say; an answer that is not a success is
//! "Notification failed"; a block that cannot notify is refused at the action.

mod support;

use serde_json::{json, Value};
use support::receiver::{event_now, outcome, save_block, Receiver};
use uuid::Uuid;
use workbus_automations::{
    Action, AutomationSpec, Automations, EventTrigger, Posture, SendNotification,
};
use workbus_core::testing::collect;
use workbus_core::{Bus, EventFilter};
use workbus_events::SharedEvent;

fn not_ready() -> SharedEvent {
    let id = format!("prefect.work-pool.{}", Uuid::new_v4());
    event_now(
        "prefect.work-pool.not-ready",
        &[
            ("prefect.resource.id", &id),
            ("prefect.resource.name", "etl"),
        ],
    )
}

async fn notify(
    block_data: Value,
    capabilities: &[&str],
    slug: &str,
    statuses: &[u16],
) -> (Receiver, Value) {
    let bus = Bus::start();
    let automations = Automations::start(&bus).await.unwrap();
    let seen = collect(&bus, EventFilter::prefix(["prefect.automation.action."])).await;
    let receiver = Receiver::start(statuses);
    let mut data = block_data;
    if data["url"].is_null() {
        data["url"] = Value::from(format!("{}?team={{{{name}}}}", receiver.url));
    }
    let block = save_block(automations.blocks(), slug, capabilities, data).await;
    let action = SendNotification::new(
        block,
        "Pool {{ event.resource.name }} is not ready",
        "{{ event.event }} for {{ automation.name }}",
    )
    .unwrap();
    let spec = AutomationSpec::new(
        "tell ops",
        EventTrigger::new(Posture::Reactive).expect(["prefect.work-pool.not-ready"]),
        vec![Action::SendNotification(action)],
    );
    automations.create(spec).await.unwrap();
    bus.ingest(not_ready()).await.unwrap();
    (receiver, outcome(&seen).await)
}

#[actix_rt::test]
async fn subject_body_name_and_secrets_fill_the_placeholders() {
    let data = json!({
        "name": "ops",
        "method": "POST",
        "params": {"subject": "{{subject}}"},
        "json_data": {"text": "{{subject}}\n{{body}}", "token": "{{token}}", "n": 1},
        "headers": {"x-who": "{{name}}"},
        "cookies": {"session": "{{token}}"},
        "secrets": {"token": "s3cret"},
        "timeout": 5
    });
    let (receiver, outcome) = notify(data, &["notify"], "custom-webhook", &[200]).await;
    assert_eq!(
        outcome["event"], "prefect.automation.action.executed",
        "{outcome}"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert!(
        r.path_and_query.starts_with("/hook?team=ops&subject=Pool"),
        "{}",
        r.path_and_query
    );
    assert_eq!(r.header("user-agent"), Some("Prefect Notifications"));
    assert_eq!(r.header("x-who"), Some("ops"));
    assert_eq!(r.header("cookie"), Some("session=s3cret"));
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({
            "text": "Pool etl is not ready\nprefect.work-pool.not-ready for tell ops",
            "token": "s3cret",
            "n": 1
        })
    );
    assert!(outcome["related"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["prefect.resource.id"] == "prefect.block-type.custom-webhook"));
}

#[actix_rt::test]
async fn an_answer_that_is_not_a_success_is_a_failed_notification() {
    let data = json!({"name": "ops", "form_data": {"msg": "{{body}}"}});
    let (receiver, outcome) = notify(data, &["notify"], "custom-webhook", &[400]).await;
    assert_eq!(outcome["event"], "prefect.automation.action.failed");
    assert_eq!(outcome["payload"]["reason"], "Notification failed");
    assert_eq!(
        outcome["payload"]["notification_log"],
        "the webhook answered 400"
    );
    let r = &receiver.requests()[0];
    assert_eq!(
        r.body, "msg=prefect.work-pool.not-ready+for+tell+ops",
        "form data, encoded"
    );
}

#[actix_rt::test]
async fn a_block_that_cannot_notify_is_refused_at_the_action() {
    let (receiver, outcome) = notify(json!({}), &[], "webhook", &[200]).await;
    assert_eq!(outcome["event"], "prefect.automation.action.failed");
    assert_eq!(
        outcome["payload"]["reason"],
        "The referenced block was not a notification block"
    );
    assert!(receiver.requests().is_empty());
}
