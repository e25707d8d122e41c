//! Creating, changing and deleting an automation emits Prefect's
//! `prefect.automation.created`, `.updated` and `.deleted`, with the automation as
//! the payload; a disabled automation does not fire, and one enabled again does.
//! Paused time.

mod support;

use support::*;
use workbus_automations::{AutomationError, AutomationSpec, EventTrigger, Posture};
use workbus_core::testing::{collect, paused};
use workbus_core::{CreatePool, EventFilter, PoolUpdate};

#[test]
fn lifecycle_events_and_enabling() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let seen = collect(&bus, EventFilter::prefix(["prefect.automation."])).await;
        bus.create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();
        let spec = AutomationSpec::new(
            "pauses",
            EventTrigger::new(Posture::Reactive).expect(["prefect.work-pool.paused"]),
            vec![],
        );
        let created = automations.create(spec).await.unwrap();
        let disabled = automations.set_enabled(created.id, false).await.unwrap();
        assert!(!disabled.spec.enabled);
        bus.update_pool("a", PoolUpdate::pause()).await.unwrap();
        settle_all(&bus).await;
        automations.set_enabled(created.id, true).await.unwrap();
        bus.update_pool("a", PoolUpdate::resume()).await.unwrap();
        bus.update_pool("a", PoolUpdate::pause()).await.unwrap();
        settle_all(&bus).await;
        automations.delete(created.id).await.unwrap();
        settle_all(&bus).await;

        let events = seen.events();
        let names: Vec<&str> = events.iter().map(|e| &*e.event).collect();
        assert_eq!(
            names,
            [
                "prefect.automation.created",
                "prefect.automation.updated",
                // Disabled, the first pause fired nothing.
                "prefect.automation.updated",
                "prefect.automation.triggered",
                "prefect.automation.deleted",
            ]
        );
        let created_event = &events[0];
        assert_eq!(
            created_event.resource.id(),
            format!("prefect.automation.{}", created.id)
        );
        assert_eq!(created_event.payload["name"], "pauses");
        assert_eq!(created_event.payload["enabled"], true);
        assert_eq!(created_event.payload["id"], created.id.to_string());
        assert_eq!(events[1].payload["enabled"], false);
        assert!(matches!(
            automations.get(created.id).await,
            Err(AutomationError::NotFound(id)) if id == created.id
        ));
        assert!(matches!(
            automations.delete(created.id).await,
            Err(AutomationError::NotFound(id)) if id == created.id
        ));
    });
}
