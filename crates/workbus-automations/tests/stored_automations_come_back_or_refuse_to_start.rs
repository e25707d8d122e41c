//! With a store, automations are written through before they are answered and
//! come back on the next start (enabled or not, with their owner); a stored
//! automation that cannot be read stops the start with a clear error.

mod support;

use std::sync::Arc;

use support::t0;
use workbus_automations::{
    AutomationError, AutomationSpec, Automations, AutomationsConfig, EventTrigger, Posture,
};
use workbus_core::testing::{bus_at, paused};
use workbus_core::BusConfig;
use workbus_store::{Batch, MemoryStore, Store, Table};

async fn open(store: &Arc<MemoryStore>) -> Result<Automations, AutomationError> {
    let bus = bus_at(t0(), BusConfig::default());
    let records = store.load().unwrap().automations;
    Automations::open(&bus, AutomationsConfig::default(), store.clone(), records).await
}

#[test]
fn automations_come_back_after_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let before = paused(|| async {
        let automations = open(&store).await.unwrap();
        let spec = |name: &str| {
            AutomationSpec::new(
                name,
                EventTrigger::new(Posture::Reactive).expect(["x"]),
                vec![],
            )
        };
        automations
            .create_owned(spec("a"), Some("acme.owner".into()))
            .await
            .unwrap();
        let b = automations.create(spec("b")).await.unwrap();
        automations.set_enabled(b.id, false).await.unwrap();
        let c = automations.create(spec("c")).await.unwrap();
        automations.delete(c.id).await.unwrap();
        let mut all = automations.list().await.unwrap();
        all.sort_by_key(|a| a.spec.name.clone());
        all
    });
    let after = paused(|| async {
        let mut all = open(&store).await.unwrap().list().await.unwrap();
        all.sort_by_key(|a| a.spec.name.clone());
        all
    });
    assert_eq!(after, before);
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].owner.as_deref(), Some("acme.owner"));
    assert!(!after[1].spec.enabled);
}

#[test]
fn a_corrupt_stored_automation_is_refused() {
    let store = Arc::new(MemoryStore::new());
    paused(|| async {
        let mut batch = Batch::new();
        batch.put(Table::Automations, vec![7; 16], b"{not json".to_vec());
        store.commit(batch).await.unwrap();
        let err = open(&store).await.unwrap_err();
        assert!(
            matches!(&err, AutomationError::CorruptRecord { key, .. } if key == "07070707-0707-0707-0707-070707070707"),
            "{err}"
        );
    });
}
