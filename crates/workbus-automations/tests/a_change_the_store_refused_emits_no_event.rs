//! With a store, a change is answered once it is written, and its
//! `prefect.automation.created` (or `.updated`, `.deleted`) is emitted only then: a
//! change the store refused is answered with the store's error and announces nothing.
//! Paused time.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use support::*;
use workbus_automations::{
    AutomationError, AutomationSpec, Automations, AutomationsConfig, EventTrigger, Posture, Stored,
};
use workbus_core::testing::{bus_at, collect, paused};
use workbus_core::{BusConfig, EventFilter};
use workbus_store::Store;

#[test]
fn a_refused_write_is_an_error_and_no_event() {
    paused(|| async {
        let store = Arc::new(Flaky::default());
        let bus = bus_at(t0(), BusConfig::default());
        let automations = Automations::open(
            &bus,
            AutomationsConfig::default(),
            store.clone(),
            Stored::default(),
        )
        .await
        .unwrap();
        let seen = collect(&bus, EventFilter::prefix(["prefect.automation."])).await;
        let spec = |name: &str| {
            AutomationSpec::new(
                name,
                EventTrigger::new(Posture::Reactive).expect(["x"]),
                vec![],
            )
        };

        store.fail.store(1, Ordering::Release);
        let refused = automations.create(spec("refused")).await;
        assert!(
            matches!(refused, Err(AutomationError::Store(_))),
            "{refused:?}"
        );
        let kept = automations.create(spec("kept")).await.unwrap();
        store.fail.store(1, Ordering::Release);
        assert!(automations.delete(kept.id).await.is_err());
        settle_all(&bus).await;

        let names = seen.names();
        assert_eq!(
            names,
            ["prefect.automation.created"],
            "only the write that was made"
        );
        assert_eq!(seen.events()[0].payload["name"], "kept");
        assert!(store.load().unwrap().automations.len() == 1);
    });
}
