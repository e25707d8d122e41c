//! With a store, automations are written through before they are answered and
//! come back on the next start (enabled or not, with their owner); a stored
//! automation that cannot be read stops the start with a clear error.

mod support;

use std::sync::Arc;

use support::t0;
use workbus_automations::{
    AutomationError, AutomationSpec, Automations, AutomationsConfig, EventTrigger, Posture, Stored,
};
use workbus_core::testing::{bus_at, paused};
use workbus_core::BusConfig;
use workbus_store::{Batch, MemoryStore, Store, Table};

async fn open(store: &Arc<MemoryStore>) -> Result<Automations, AutomationError> {
    let bus = bus_at(t0(), BusConfig::default());
    let stored = Stored::take(&mut store.load().unwrap());
    Automations::open(&bus, AutomationsConfig::default(), store.clone(), stored).await
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

#[test]
fn saved_blocks_come_back_and_deleted_ones_do_not() {
    let store = Arc::new(MemoryStore::new());
    let (kept, gone) = paused(|| async {
        let automations = open(&store).await.unwrap();
        let blocks = automations.blocks();
        let kept = support::receiver::save_block(
            blocks,
            "webhook",
            &[],
            serde_json::json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
        let gone = support::receiver::save_block(
            blocks,
            "webhook",
            &[],
            serde_json::json!({"url": "http://127.0.0.1:9/other"}),
        )
        .await;
        blocks.delete_document(gone).await.unwrap();
        (blocks.document(kept, true).unwrap(), gone)
    });
    paused(|| async {
        let automations = open(&store).await.unwrap();
        let blocks = automations.blocks();
        assert_eq!(blocks.document(kept.document.id, true).unwrap(), kept);
        assert!(blocks.document(gone, true).is_err());
        assert_eq!(blocks.type_by_slug("webhook").unwrap(), kept.block_type);
        // The same schema again is the one there is, found by its checksum.
        let again = blocks
            .schema_by_checksum(&kept.block_schema.schema.checksum, Some("3.9.1"))
            .unwrap();
        assert_eq!(again.schema.id, kept.document.block_schema_id);
    });
}

#[test]
fn a_corrupt_stored_block_is_refused() {
    let store = Arc::new(MemoryStore::new());
    paused(|| async {
        let mut batch = Batch::new();
        batch.put(Table::Blocks, b"dxxxxxxxxxxxxxxxx".to_vec(), b"[]".to_vec());
        store.commit(batch).await.unwrap();
        let err = open(&store).await.unwrap_err();
        assert!(
            matches!(&err, AutomationError::CorruptRecord { .. }),
            "{err}"
        );
    });
}
