//! A firing's actions: each acts on its pool or queue (inferred from the triggering
//! event or selected by id), in order, and each is followed by Prefect's
//! `action.triggered` and `action.executed` events, or `action.failed` with the
//! reason, linked to the `triggered` event and the triggering event. Paused time.

mod support;

use std::sync::Arc;

use support::*;
use uuid::Uuid;
use workbus_automations::{Action, AutomationSpec, EventTrigger, Posture, Target};
use workbus_core::testing::{collect, paused};
use workbus_core::{CreatePool, CreateQueue, EventFilter};
use workbus_events::{Event, Resource, SharedEvent};

fn alarm(pool: Uuid) -> SharedEvent {
    SharedEvent::new(Event {
        occurred: t0(),
        event: "acme.alarm".into(),
        resource: Resource::builder()
            .label("prefect.resource.id", "acme.alarm.1")
            .build()
            .unwrap(),
        related: Arc::from(vec![Resource::builder()
            .label("prefect.resource.id", format!("prefect.work-pool.{pool}"))
            .label("prefect.resource.role", "work-pool")
            .build_related()
            .unwrap()]),
        payload: Default::default(),
        id: Uuid::now_v7(),
        follows: None,
        received: None,
    })
}

#[test]
fn actions_run_in_order_with_their_events() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let seen = collect(&bus, EventFilter::prefix(["prefect.automation."])).await;
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let queue = bus
            .create_queue("etl", CreateQueue::new("high"))
            .await
            .unwrap();
        let missing = Uuid::new_v4();
        let spec = AutomationSpec::new(
            "on alarm",
            EventTrigger::new(Posture::Reactive).expect(["acme.alarm"]),
            vec![
                Action::PauseWorkPool(Target::inferred()),
                Action::PauseWorkQueue(Target::selected(queue.id)),
                Action::ResumeWorkQueue(Target::selected(missing)),
            ],
        )
        .on_trigger(vec![Action::DoNothing]);
        let automation = automations.create(spec).await.unwrap();
        settle_all(&bus).await;
        seen.take();

        let alarm = alarm(pool.id);
        bus.ingest(alarm.clone()).await.unwrap();
        settle_all(&bus).await;

        assert!(bus.pool("etl").await.unwrap().is_paused);
        assert!(bus.queue("etl", "high").await.unwrap().is_paused);
        let events = seen.events();
        let names: Vec<&str> = events.iter().map(|e| &*e.event).collect();
        assert_eq!(
            names,
            [
                "prefect.automation.triggered",
                "prefect.automation.action.triggered",
                "prefect.automation.action.executed",
                "prefect.automation.action.triggered",
                "prefect.automation.action.executed",
                "prefect.automation.action.triggered",
                "prefect.automation.action.failed",
                "prefect.automation.action.triggered",
                "prefect.automation.action.executed",
            ]
        );
        let triggered = &events[0];
        let automation_id = format!("prefect.automation.{}", automation.id);
        assert_eq!(triggered.resource.id(), automation_id);
        assert_eq!(label(triggered, "prefect.resource.name"), Some("on alarm"));
        assert_eq!(
            related(triggered, "triggering-event").unwrap().id(),
            format!("prefect.event.{}", alarm.id)
        );
        assert_eq!(triggered.payload["triggering_event"]["event"], "acme.alarm");

        // Each action's pair: Prefect's resource, the target first among the
        // related, then the triggered event and the triggering event.
        for (i, pair) in events[1..].chunks(2).enumerate() {
            let (first, second) = (&pair[0], &pair[1]);
            assert_eq!(first.resource.id(), automation_id);
            assert_eq!(label(first, "prefect.trigger-type"), Some("event"));
            assert_eq!(label(first, "prefect.posture"), Some("Reactive"));
            assert_eq!(first.payload["action_index"], i);
            assert_eq!(second.follows, Some(first.id));
            assert_eq!(second.payload["invocation"], first.payload["invocation"]);
            assert_eq!(
                related(first, "automation-triggered-event").unwrap().id(),
                format!("prefect.event.{}", triggered.id)
            );
        }
        let (pause_pool, pause_queue, resume_missing, nothing) =
            (&events[1], &events[4], &events[6], &events[7]);
        assert_eq!(pause_pool.follows, Some(alarm.id));
        let target = related(pause_pool, "target").unwrap();
        assert_eq!(target.id(), format!("prefect.work-pool.{}", pool.id));
        assert_eq!(target.name(), Some("etl"));
        assert_eq!(events[2].payload["status_code"], 204);
        assert_eq!(
            related(pause_queue, "target").unwrap().id(),
            format!("prefect.work-queue.{}", queue.id)
        );
        assert_eq!(
            resume_missing.payload["reason"],
            "Unexpected status from 'resume-work-queue' action: 404"
        );
        assert_eq!(resume_missing.payload["status_code"], 404);
        // The action on the trigger sees the `triggered` event as its triggering event.
        assert_eq!(nothing.payload["action_type"], "do-nothing");
        assert_eq!(
            related(nothing, "triggering-event").unwrap().id(),
            format!("prefect.event.{}", triggered.id)
        );
        assert_eq!(automations.stats().actions_failed(), 1);
        assert_eq!(automations.stats().actions_executed(), 3);
    });
}

#[test]
fn an_action_with_nothing_to_infer_fails_with_prefects_reason() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let failed = collect(
            &bus,
            EventFilter::prefix(["prefect.automation.action.failed"]),
        )
        .await;
        automations
            .create(AutomationSpec::new(
                "pause what",
                EventTrigger::new(Posture::Reactive).expect(["acme.alarm"]),
                vec![Action::PauseWorkQueue(Target::inferred())],
            ))
            .await
            .unwrap();
        bus.ingest(alarm(Uuid::new_v4())).await.unwrap();
        settle_all(&bus).await;
        let events = failed.events();
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].payload["reason"],
            "No work queue could be inferred"
        );
    });
}
