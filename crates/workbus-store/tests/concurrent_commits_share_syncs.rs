//! Many changes committed at once share syncs: the writer takes every batch
//! waiting and commits them together, and each caller hears back only once its
//! batch is on disk.

use std::sync::Arc;

use workbus_store::{Batch, RedbStore, Store, Table};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_batches_take_far_fewer_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let tasks: Vec<_> = (0..64u32)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..32u32 {
                    let n = t * 1000 + i;
                    let mut b = Batch::new();
                    b.put(Table::Pools, n.to_be_bytes().to_vec(), b"pool".to_vec())
                        .event([0; 16], i64::from(n), n.to_string().into_bytes());
                    store.commit(b).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.batches(), 64 * 32);
    eprintln!(
        "{} batches in {} synced commits ({:.1} batches per sync)",
        stats.batches(),
        stats.synced(),
        stats.batches() as f64 / stats.synced() as f64
    );
    assert!(
        stats.synced() < stats.batches() / 4,
        "{} syncs",
        stats.synced()
    );
    let c = store.load().unwrap();
    assert_eq!(c.pools.len(), 64 * 32);
    assert_eq!(c.events.len(), 64 * 32);
}
