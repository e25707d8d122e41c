//! The history keeps at most `max_events`, and none older than `max_age`
//! before the newest: the oldest go first, and the records are untouched.

use std::time::Duration;

use workbus_store::{Batch, RedbStore, Retention, Store, Table};

const SECOND: i64 = 1_000_000;

#[tokio::test]
async fn by_count() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        max_events: 10,
        max_age: Duration::from_secs(3600),
    };
    let store = RedbStore::open_with(dir.path(), retention).unwrap();
    for i in 0..25i64 {
        let mut b = Batch::new();
        b.event([0; 16], i * SECOND, i.to_string().into_bytes());
        store.commit(b).await.unwrap();
    }
    let events = store.load().unwrap().events;
    let kept: Vec<i64> = events.iter().map(|e| e.occurred_micros / SECOND).collect();
    assert_eq!(kept, (15..25).collect::<Vec<_>>());
    assert_eq!(store.stats().evicted(), 15);
}

#[tokio::test]
async fn by_age() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        max_events: 1000,
        max_age: Duration::from_secs(60),
    };
    let store = RedbStore::open_with(dir.path(), retention).unwrap();
    let mut b = Batch::new();
    b.put(Table::Pools, b"p".to_vec(), b"kept".to_vec());
    for i in 0..10i64 {
        b.event([0; 16], i * 30 * SECOND, i.to_string().into_bytes());
    }
    store.commit(b).await.unwrap();
    // The newest occurred at 270 s: what is older than 210 s goes.
    let c = store.load().unwrap();
    let kept: Vec<i64> = c
        .events
        .iter()
        .map(|e| e.occurred_micros / SECOND)
        .collect();
    assert_eq!(kept, vec![210, 240, 270]);
    assert_eq!(c.pools.len(), 1);
}
