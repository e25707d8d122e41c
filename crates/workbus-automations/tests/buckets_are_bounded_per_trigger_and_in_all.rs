//! Events with ever new `for_each` values cannot grow the buckets without bound: past
//! `max_buckets_per_trigger`, or `max_buckets` for all triggers together, an event that
//! would open one more is not counted, and is counted in `buckets_refused`; swept
//! buckets make room again. Paused time.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use workbus_automations::{AutomationSpec, Automations, AutomationsConfig, EventTrigger, Posture};
use workbus_core::testing::{bus_at, paused};
use workbus_core::BusConfig;
use workbus_events::{Event, Resource, SharedEvent};

fn ping(i: usize) -> SharedEvent {
    SharedEvent::new(Event {
        occurred: t0(),
        event: "acme.ping".into(),
        resource: Resource::builder()
            .label("prefect.resource.id", format!("acme.thing.{i}"))
            .build()
            .unwrap(),
        related: Arc::from(Vec::new()),
        payload: Default::default(),
        id: uuid::Uuid::now_v7(),
        follows: None,
        received: None,
    })
}

#[test]
fn new_keys_past_the_bounds_are_refused_and_counted() {
    paused(|| async {
        let bus = bus_at(t0(), BusConfig::default());
        let automations = Automations::start_with(
            &bus,
            AutomationsConfig {
                max_buckets_per_trigger: 100,
                max_buckets: 150,
                ..AutomationsConfig::default()
            },
        )
        .await
        .unwrap();
        for name in ["a", "b"] {
            let trigger = EventTrigger::new(Posture::Reactive)
                .expect(["acme.ping"])
                .for_each(["prefect.resource.id"])
                .threshold(2)
                .within(Duration::from_secs(60))
                .unwrap();
            automations
                .create(AutomationSpec::new(name, trigger, vec![]))
                .await
                .unwrap();
        }
        for i in 0..200 {
            bus.ingest(ping(i)).await.unwrap();
        }
        settle_all(&bus).await;
        // 75 events open a bucket in each trigger; the other 125 are refused by both.
        assert_eq!(automations.stats().buckets_refused(), 250);

        // Swept 60 s after their windows closed, the buckets make room again.
        advance_all(&bus, Duration::from_secs(121)).await;
        for i in 200..250 {
            bus.ingest(ping(i)).await.unwrap();
        }
        settle_all(&bus).await;
        assert_eq!(automations.stats().buckets_refused(), 250);
    });
}

#[test]
fn one_trigger_is_bounded_on_its_own() {
    paused(|| async {
        let bus = bus_at(t0(), BusConfig::default());
        let automations = Automations::start_with(
            &bus,
            AutomationsConfig {
                max_buckets_per_trigger: 10,
                ..AutomationsConfig::default()
            },
        )
        .await
        .unwrap();
        let trigger = EventTrigger::new(Posture::Reactive)
            .expect(["acme.ping"])
            .for_each(["prefect.resource.id"])
            .threshold(2)
            .within(Duration::from_secs(60))
            .unwrap();
        automations
            .create(AutomationSpec::new("a", trigger, vec![]))
            .await
            .unwrap();
        for i in 0..30 {
            bus.ingest(ping(i)).await.unwrap();
        }
        settle_all(&bus).await;
        assert_eq!(automations.stats().buckets_refused(), 20);
    });
}
