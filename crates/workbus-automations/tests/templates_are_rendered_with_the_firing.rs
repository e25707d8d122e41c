//! An action's templates see what Prefect's see: the automation, the
//! triggering event (with `id`, `name` and `role` on its resources), the
//! firing's labels, and the work pool the event is about, read from the bus.
//! A template that does not parse is refused when the automation is made; one
//! that fails as it renders fails its action, with the error and the source.

mod support;

use serde_json::{json, Value};
use support::receiver::{outcome, save_block, Receiver};
use workbus_automations::{
    Action, AutomationSpec, Automations, CallWebhook, EventTrigger, Posture,
};
use workbus_core::testing::collect;
use workbus_core::{Bus, CreatePool, EventFilter, PoolUpdate};

async fn fire(payload: &str) -> (Receiver, Value) {
    let bus = Bus::start();
    let automations = Automations::start(&bus).await.unwrap();
    let seen = collect(&bus, EventFilter::prefix(["prefect.automation.action."])).await;
    let receiver = Receiver::start(&[200]);
    let block = save_block(
        automations.blocks(),
        "webhook",
        &[],
        json!({"url": receiver.url}),
    )
    .await;
    bus.create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    let spec = AutomationSpec::new(
        "watch pools",
        EventTrigger::new(Posture::Reactive)
            .expect(["prefect.work-pool.paused"])
            .for_each(["prefect.resource.id"]),
        vec![Action::CallWebhook(
            CallWebhook::new(block, payload).unwrap(),
        )],
    );
    automations.create(spec).await.unwrap();
    bus.update_pool("etl", PoolUpdate::pause()).await.unwrap();
    (receiver, outcome(&seen).await)
}

#[actix_rt::test]
async fn the_payload_sees_the_automation_event_labels_and_pool() {
    let payload = "{{ automation.name }}|{{ event.event }}|{{ event.resource.name }}|\
                   {{ labels['prefect.resource.id'] == event.resource.id }}|\
                   {{ work_pool.name }}/{{ work_pool.type }}/{{ work_pool.is_paused }}|\
                   {{ event.nothing.here }}";
    let (receiver, outcome) = fire(payload).await;
    assert_eq!(
        outcome["event"], "prefect.automation.action.executed",
        "{outcome}"
    );
    // Booleans render as Python's Jinja renders them in Prefect.
    assert_eq!(
        receiver.requests()[0].body,
        "watch pools|prefect.work-pool.paused|etl|True|etl/process/True|"
    );
}

#[actix_rt::test]
async fn a_template_that_fails_as_it_renders_fails_its_action() {
    let payload = "{% for i in range(50000) %}{% for j in range(50000) %}.{% endfor %}{% endfor %}";
    let (receiver, outcome) = fire(payload).await;
    assert_eq!(outcome["event"], "prefect.automation.action.failed");
    let reason = outcome["payload"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Template rendering failed: "),
        "{reason}"
    );
    assert_eq!(outcome["payload"]["template_source"], payload);
    assert!(outcome["payload"]["template_error"].is_string());
    assert!(receiver.requests().is_empty(), "nothing is sent");
}

#[test]
fn a_template_that_does_not_parse_is_refused_when_made() {
    let spec = json!({
        "name": "bad",
        "trigger": {"type": "event", "posture": "Reactive", "expect": ["x"]},
        "actions": [{
            "type": "call-webhook",
            "block_document_id": uuid::Uuid::new_v4(),
            "payload": "{{ automation.name"
        }]
    });
    let err = serde_json::from_value::<AutomationSpec>(spec).unwrap_err();
    assert!(
        err.to_string()
            .contains("'payload' is not a valid template"),
        "{err}"
    );
}
