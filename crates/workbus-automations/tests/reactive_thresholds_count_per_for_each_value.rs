//! Reactive triggers: a threshold of events within a window fires once, as soon as
//! it is reached, separately for each value of the `for_each` labels; the rest of
//! that window is spent, and a window of 0 fires on every event. Paused time.

mod support;

use std::time::Duration;

use support::*;
use workbus_automations::{Action, AutomationSpec, EventTrigger, Posture};
use workbus_core::testing::{collect, paused};
use workbus_core::{CreatePool, EventFilter, PoolUpdate};

async fn pause_and_resume(bus: &workbus_core::Bus, pool: &str) {
    bus.update_pool(pool, PoolUpdate::pause()).await.unwrap();
    bus.update_pool(pool, PoolUpdate::resume()).await.unwrap();
}

#[test]
fn two_pauses_within_a_minute_fire_once_per_pool() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let fired = collect(&bus, EventFilter::prefix(["prefect.automation.triggered"])).await;
        let trigger = EventTrigger::new(Posture::Reactive)
            .expect(["prefect.work-pool.paused"])
            .for_each(["prefect.resource.id"])
            .threshold(2)
            .within(Duration::from_secs(60))
            .unwrap();
        automations
            .create(AutomationSpec::new(
                "flapping",
                trigger,
                vec![Action::DoNothing],
            ))
            .await
            .unwrap();
        let a = bus
            .create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("b", "process"))
            .await
            .unwrap();

        pause_and_resume(&bus, "a").await;
        pause_and_resume(&bus, "b").await;
        advance_all(&bus, Duration::from_secs(10)).await;
        assert!(fired.is_empty(), "one pause each: below the threshold");

        pause_and_resume(&bus, "a").await;
        settle_all(&bus).await;
        let events = fired.events();
        assert_eq!(
            events.len(),
            1,
            "the second pause of `a` reaches the threshold"
        );
        assert_eq!(
            events[0].occurred,
            at(10),
            "at once, not at the window's end"
        );
        assert_eq!(
            events[0].payload["triggering_labels"]["prefect.resource.id"],
            format!("prefect.work-pool.{}", a.id)
        );

        // The rest of a's window (until 60 s) is spent: a third pause does nothing.
        advance_all(&bus, Duration::from_secs(10)).await;
        pause_and_resume(&bus, "a").await;
        settle_all(&bus).await;
        assert_eq!(fired.len(), 1);

        // b's second pause, within b's own window, fires for b.
        pause_and_resume(&bus, "b").await;
        settle_all(&bus).await;
        assert_eq!(fired.len(), 2);
    });
}

#[test]
fn a_window_of_zero_fires_on_every_event() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let fired = collect(&bus, EventFilter::prefix(["prefect.automation.triggered"])).await;
        let trigger = EventTrigger::new(Posture::Reactive).expect(["prefect.work-pool.paused"]);
        automations
            .create(AutomationSpec::new("every pause", trigger, vec![]))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();
        for _ in 0..3 {
            pause_and_resume(&bus, "a").await;
        }
        settle_all(&bus).await;
        assert_eq!(fired.len(), 3);
    });
}
