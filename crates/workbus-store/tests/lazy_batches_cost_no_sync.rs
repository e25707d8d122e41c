//! A lazy batch (a heartbeat's time) costs no sync of its own: it is written
//! with the next synced commit, or by `sync`.

use workbus_store::{Batch, RedbStore, Store, Table};

#[tokio::test]
async fn lazy_batches_ride_on_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        for i in 0..100u32 {
            let mut b = Batch::new();
            b.put(Table::Workers, b"p/w".to_vec(), i.to_be_bytes().to_vec());
            store.commit(b.lazy()).await.unwrap();
        }
        assert_eq!(store.stats().synced(), 0);
        assert_eq!(store.stats().batches(), 100);
        store.sync().await.unwrap();
        assert_eq!(store.stats().synced(), 1);
    }
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(
        store.load().unwrap().workers,
        vec![(b"p/w".to_vec(), 99u32.to_be_bytes().to_vec())]
    );
}
