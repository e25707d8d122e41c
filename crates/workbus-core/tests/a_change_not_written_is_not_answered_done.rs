//! A change whose commit fails is answered with the store's error, whichever
//! actor made it: a pool's, or one of its queues' (an update, a poll that
//! wakes the queue, a deletion); so is a client's event the store refused,
//! though it is published. Nothing is answered done that was not written.
//!
//! The store refuses on demand: it stands for a disk that fills up, which
//! this machine cannot be made to do under a running test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use workbus_core::testing::{client_event, collect, paused};
use workbus_core::{Bus, CreatePool, CreateQueue, Error, EventFilter, PoolUpdate, QueueUpdate};
use workbus_events::Timestamp;
use workbus_store::{Batch, Contents, MemoryStore, Pending, Store, StoreError};

/// A memory store that refuses every commit while `refuse` is set.
#[derive(Debug, Default)]
struct Refusing {
    inner: MemoryStore,
    refuse: AtomicBool,
}

impl Store for Refusing {
    fn commit(&self, batch: Batch) -> Pending {
        // Relaxed: the flag is the only thing it tells.
        if self.refuse.load(Ordering::Relaxed) {
            let full = std::io::Error::other("no space left on device");
            return Box::pin(async move { Err(StoreError::engine(full)) });
        }
        self.inner.commit(batch)
    }

    fn sync(&self) -> Pending {
        self.inner.sync()
    }

    fn load(&self) -> Result<Contents, StoreError> {
        self.inner.load()
    }
}

fn refused<T: std::fmt::Debug>(answer: Result<T, Error>) {
    assert!(
        matches!(answer, Err(Error::Store(StoreError::Engine(_)))),
        "{answer:?}"
    );
}

#[test]
fn every_change_not_written_is_answered_with_the_stores_error() {
    let store = Arc::new(Refusing::default());
    paused(|| async {
        let bus = Bus::builder()
            .open(store.clone() as Arc<dyn Store>)
            .unwrap();
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let gpu = bus
            .create_queue("etl", CreateQueue::new("gpu"))
            .await
            .unwrap();
        bus.create_queue("etl", CreateQueue::new("cpu"))
            .await
            .unwrap();

        store.refuse.store(true, Ordering::Relaxed);
        refused(bus.update_pool("etl", PoolUpdate::pause()).await);
        refused(bus.update_queue("etl", "gpu", QueueUpdate::pause()).await);
        refused(bus.update_queue_by_id(gpu.id, QueueUpdate::resume()).await);
        // A poll that wakes a queue changes its status: it is written first.
        refused(bus.poll("etl", ["default"]).await);
        refused(bus.poll_queue(gpu.id).await);
        refused(bus.delete_queue("etl", "cpu").await);
        refused(bus.delete_pool("etl").await);

        // A client's event: published all the same, answered with the error.
        let seen = collect(&bus, EventFilter::all()).await;
        let event = client_event("acme.tick", "acme.thing", Timestamp::now());
        refused(bus.ingest(event).await);
        bus.flush().await.ok();
        assert_eq!(seen.names(), ["acme.tick"]);

        store.refuse.store(false, Ordering::Relaxed);
        bus.create_pool(CreatePool::new("ml", "process"))
            .await
            .unwrap();
    });
}
