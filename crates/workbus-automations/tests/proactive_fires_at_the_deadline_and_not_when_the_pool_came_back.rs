//! "A work pool not ready for five minutes": the proactive trigger fires at exactly
//! five minutes after the pool's `not-ready`, with its event stamped at that instant,
//! and pauses the pool; for a pool that came back at 4:59 it does not fire at all.
//! Paused time.

mod support;

use std::time::Duration;

use support::*;
use workbus_automations::{Action, AutomationSpec, EventTrigger, Posture, ResourceSpec, Target};
use workbus_core::testing::{collect, paused};
use workbus_core::{CreatePool, EventFilter};

#[test]
fn fires_at_five_minutes_and_not_for_a_pool_back_at_four_fifty_nine() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let fired = collect(&bus, EventFilter::prefix(["prefect.automation.triggered"])).await;
        let stuck = bus
            .create_pool(CreatePool::new("stuck", "process"))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("back", "process"))
            .await
            .unwrap();
        bus.heartbeat("stuck", "w").await.unwrap();
        bus.heartbeat("back", "w").await.unwrap();
        // Created once the pools are ready: a pool's creation emits a not-ready of
        // its own, which would open a window already (see docs/automations.md).
        let trigger = EventTrigger::new(Posture::Proactive)
            .matching(ResourceSpec::new().with("prefect.resource.id", ["prefect.work-pool.*"]))
            .after(["prefect.work-pool.not-ready"])
            .expect(["prefect.work-pool.ready"])
            .for_each(["prefect.resource.id"])
            .within(Duration::from_secs(300))
            .unwrap();
        automations
            .create(AutomationSpec::new(
                "not ready for five minutes",
                trigger,
                vec![Action::PauseWorkPool(Target::inferred())],
            ))
            .await
            .unwrap();
        // Both workers go offline at 30 s x 3: both pools not ready at 90 s.
        advance_all(&bus, Duration::from_secs(90)).await;
        assert!(fired.is_empty());
        // 4:59 later one pool is back.
        advance_all(&bus, Duration::from_secs(299)).await;
        bus.heartbeat("back", "w").await.unwrap();
        settle_all(&bus).await;
        assert!(fired.is_empty(), "nothing fires before the window closes");
        advance_all(&bus, Duration::from_secs(1)).await;

        let events = fired.events();
        assert_eq!(
            events.len(),
            1,
            "one firing, for the pool that stayed not ready"
        );
        let e = &events[0];
        assert_eq!(
            e.occurred,
            at(390),
            "stamped at the end of the window, not later"
        );
        assert_eq!(label(e, "prefect.posture"), Some("Proactive"));
        let labels = &e.payload["triggering_labels"];
        assert_eq!(
            labels["prefect.resource.id"],
            format!("prefect.work-pool.{}", stuck.id)
        );
        assert_eq!(
            e.payload["triggering_event"]["event"],
            "prefect.work-pool.not-ready"
        );
        // Its action paused the pool.
        assert!(bus.pool("stuck").await.unwrap().is_paused);
        assert!(!bus.pool("back").await.unwrap().is_paused);

        // The pool that came back loses its worker again at 389 + 90 s: a new
        // window opens with that not-ready and closes five minutes later.
        advance_all(&bus, Duration::from_secs(388)).await;
        assert_eq!(fired.len(), 1);
        advance_all(&bus, Duration::from_secs(1)).await;
        let events = fired.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].occurred, at(779));
        assert!(bus.pool("back").await.unwrap().is_paused);
    });
}
