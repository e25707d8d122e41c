//! What a commit wrote is there after the store is closed and opened again:
//! puts, deletes, prefix deletes and events, in order.

use workbus_store::{Batch, RedbStore, Store, Table};

#[tokio::test]
async fn records_and_events_outlive_the_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        let mut b = Batch::new();
        b.put(Table::Pools, b"p1".to_vec(), b"one".to_vec())
            .put(Table::Pools, b"p2".to_vec(), b"two".to_vec())
            .put(Table::Queues, b"q1".to_vec(), b"queue".to_vec())
            .put(Table::Workers, b"p1/a".to_vec(), b"a".to_vec())
            .put(Table::Workers, b"p1/b".to_vec(), b"b".to_vec())
            .put(Table::Workers, b"p2/a".to_vec(), b"c".to_vec())
            .event([1; 16], 10, b"first".to_vec());
        store.commit(b).await.unwrap();
        let mut b = Batch::new();
        b.delete(Table::Pools, b"p1".to_vec())
            .delete_prefix(Table::Workers, b"p1/".to_vec())
            .put(Table::Pools, b"p2".to_vec(), b"two, changed".to_vec())
            .event([2; 16], 20, b"second".to_vec());
        store.commit(b).await.unwrap();
    }
    let store = RedbStore::open(dir.path()).unwrap();
    let c = store.load().unwrap();
    assert_eq!(c.pools, vec![(b"p2".to_vec(), b"two, changed".to_vec())]);
    assert_eq!(c.queues, vec![(b"q1".to_vec(), b"queue".to_vec())]);
    assert_eq!(c.workers, vec![(b"p2/a".to_vec(), b"c".to_vec())]);
    let events: Vec<_> = c
        .events
        .iter()
        .map(|e| (e.seq, e.id, e.occurred_micros, e.json.clone()))
        .collect();
    assert_eq!(
        events,
        vec![
            (0, [1; 16], 10, b"first".to_vec()),
            (1, [2; 16], 20, b"second".to_vec())
        ]
    );
    // The sequence goes on where it stopped.
    let mut b = Batch::new();
    b.event([3; 16], 30, b"third".to_vec());
    store.commit(b).await.unwrap();
    assert_eq!(store.load().unwrap().events.last().unwrap().seq, 2);
}

#[tokio::test]
async fn a_new_store_loads_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("nested/data")).unwrap();
    assert_eq!(store.load().unwrap(), Default::default());
    assert!(store.path().ends_with("nested/data/workbus.redb"));
}
