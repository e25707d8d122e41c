//! An action the bus refuses for a reason that passes (here the store fails one
//! write, as a full or flaky disk would) is tried again after a backoff, succeeds,
//! and is counted as retried; its `action.executed` comes after the backoff.
//! Paused time.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use support::*;
use workbus_automations::{Action, AutomationSpec, Automations, EventTrigger, Posture, Target};
use workbus_core::testing::{collect, paused};
use workbus_core::{Bus, BusConfig, CreatePool, EventFilter, SharedEvent, TokioClock};
use workbus_events::{Event, Resource};
use workbus_store::Store;

fn alarm() -> Event {
    Event {
        occurred: t0(),
        event: "acme.alarm".into(),
        resource: Resource::builder()
            .label("prefect.resource.id", "acme.alarm.1")
            .build()
            .unwrap(),
        related: workbus_events::no_related(),
        payload: Default::default(),
        id: uuid::Uuid::now_v7(),
        follows: None,
        received: None,
    }
}

#[test]
fn a_store_that_fails_once_costs_one_retry_not_the_action() {
    paused(|| async {
        let store = Arc::new(Flaky::default());
        let bus = Bus::builder()
            .config(BusConfig::default())
            .clock(Arc::new(TokioClock::starting_at(t0())))
            .open(store.clone() as Arc<dyn Store>)
            .unwrap();
        let automations = Automations::start(&bus).await.unwrap();
        let done = collect(&bus, EventFilter::prefix(["prefect.automation.action."])).await;
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        automations
            .create(AutomationSpec::new(
                "pause on alarm",
                EventTrigger::new(Posture::Reactive).expect(["acme.alarm"]),
                vec![Action::PauseWorkPool(Target::selected(pool.id))],
            ))
            .await
            .unwrap();
        settle_all(&bus).await;

        // The next two writes fail: the `triggered` event's (logged, the event still
        // published) and the pause's, which the action then tries again.
        store.fail.store(2, Ordering::Release);
        // From another node, so not written here: the failures are the automation's.
        bus.ingest(SharedEvent::with_origin(
            alarm(),
            Some(Arc::from("elsewhere")),
        ))
        .await
        .unwrap();
        settle_all(&bus).await;
        assert_eq!(
            store.fail.load(Ordering::Acquire),
            0,
            "both failures were spent"
        );
        assert!(done
            .names()
            .iter()
            .all(|n| n != "prefect.automation.action.executed"));
        // The first retry comes 100 ms later, and succeeds.
        advance_all(&bus, Duration::from_millis(100)).await;

        assert!(bus.pool("etl").await.unwrap().is_paused);
        assert_eq!(automations.stats().action_retries(), 1);
        assert_eq!(automations.stats().actions_failed(), 0);
        let names: Vec<String> = done.names();
        assert!(
            names
                .iter()
                .all(|n| n != "prefect.automation.action.failed"),
            "{names:?}"
        );
        assert!(
            names
                .iter()
                .any(|n| n == "prefect.automation.action.executed"),
            "{names:?}"
        );
    });
}
