//! Composite triggers: a compound trigger fires when `require` of its triggers
//! fired within its window; a sequence only when its triggers fired in order.
//! Paused time.

mod support;

use std::time::Duration;

use support::*;
use workbus_automations::{
    AutomationSpec, CompoundTrigger, EventTrigger, Posture, Require, SequenceTrigger, Trigger,
};
use workbus_core::testing::{collect, paused};
use workbus_core::{CreatePool, EventFilter, PoolUpdate};

fn on(event: &str) -> Trigger {
    EventTrigger::new(Posture::Reactive).expect([event]).into()
}

#[test]
fn compound_all_fires_once_both_fired_within_its_window() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let fired = collect(&bus, EventFilter::prefix(["prefect.automation.triggered"])).await;
        let both = CompoundTrigger::new(
            vec![
                on("prefect.work-pool.paused"),
                on("prefect.work-pool.updated"),
            ],
            Require::All,
            Some(Duration::from_secs(60)),
        )
        .unwrap();
        automations
            .create(AutomationSpec::new("paused and changed", both, vec![]))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();

        bus.update_pool("a", PoolUpdate::pause()).await.unwrap();
        settle_all(&bus).await;
        assert!(fired.is_empty(), "one of two");
        // Too late: the pause fell out of the window.
        advance_all(&bus, Duration::from_secs(61)).await;
        bus.update_pool("a", PoolUpdate::default().description("x"))
            .await
            .unwrap();
        settle_all(&bus).await;
        assert!(fired.is_empty(), "the pause is more than 60 s old");
        // A pause now completes the pair.
        bus.update_pool("a", PoolUpdate::resume()).await.unwrap();
        bus.update_pool("a", PoolUpdate::pause()).await.unwrap();
        settle_all(&bus).await;
        let events = fired.events();
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].resource.get("prefect.posture"),
            None,
            "a compound trigger has no posture"
        );
    });
}

#[test]
fn compound_any_fires_on_either() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let fired = collect(&bus, EventFilter::prefix(["prefect.automation.triggered"])).await;
        let either = CompoundTrigger::new(
            vec![
                on("prefect.work-pool.paused"),
                on("prefect.work-queue.paused"),
            ],
            Require::Any,
            None,
        )
        .unwrap();
        automations
            .create(AutomationSpec::new("anything paused", either, vec![]))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();
        bus.update_pool("a", PoolUpdate::pause()).await.unwrap();
        settle_all(&bus).await;
        assert_eq!(fired.len(), 1);
    });
}

#[test]
fn a_sequence_fires_only_in_order() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let fired = collect(&bus, EventFilter::prefix(["prefect.automation.triggered"])).await;
        let then = SequenceTrigger::new(
            vec![
                on("prefect.work-pool.paused"),
                on("prefect.work-pool.updated"),
            ],
            Some(Duration::from_secs(60)),
        );
        automations
            .create(AutomationSpec::new("paused, then changed", then, vec![]))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();

        // Out of order: changed, then paused.
        bus.update_pool("a", PoolUpdate::default().description("x"))
            .await
            .unwrap();
        advance_all(&bus, Duration::from_secs(1)).await;
        bus.update_pool("a", PoolUpdate::pause()).await.unwrap();
        settle_all(&bus).await;
        assert!(fired.is_empty(), "the order is wrong");
        // In order: the change after the pause completes it.
        advance_all(&bus, Duration::from_secs(1)).await;
        bus.update_pool("a", PoolUpdate::default().description("y"))
            .await
            .unwrap();
        settle_all(&bus).await;
        assert_eq!(fired.len(), 1);
    });
}
