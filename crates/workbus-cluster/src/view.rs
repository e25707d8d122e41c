//! What every node knows of every pool without asking its owner: its name,
//! id, type and queues, from a watch on the pools bucket.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use async_nats::jetstream::kv;
use futures_util::StreamExt;
use uuid::Uuid;
use workbus_core::PoolRef;

use crate::doc::Doc;
use crate::names::scope_of;

#[derive(Default)]
struct Tables {
    by_name: HashMap<String, PoolRef>,
    /// A pool's id, and each of its queues' ids, to the pool's name.
    by_id: HashMap<Uuid, String>,
}

/// The fleet's pools, as this node last heard of them.
#[derive(Default)]
pub(crate) struct View {
    tables: RwLock<Tables>,
}

impl View {
    fn put(&self, pool: PoolRef) {
        let mut t = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = t.by_name.remove(&pool.name) {
            t.by_id.remove(&old.id);
            for q in &old.queues {
                t.by_id.remove(q);
            }
        }
        t.by_id.insert(pool.id, pool.name.clone());
        for q in &pool.queues {
            t.by_id.insert(*q, pool.name.clone());
        }
        t.by_name.insert(pool.name.clone(), pool);
    }

    fn remove(&self, name: &str) {
        let mut t = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = t.by_name.remove(name) {
            t.by_id.remove(&old.id);
            for q in &old.queues {
                t.by_id.remove(q);
            }
        }
    }

    pub(crate) fn all(&self) -> Vec<PoolRef> {
        let t = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        t.by_name.values().cloned().collect()
    }

    pub(crate) fn named(&self, name: &str) -> Option<PoolRef> {
        let t = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        t.by_name.get(name).cloned()
    }

    pub(crate) fn of(&self, id: Uuid) -> Option<PoolRef> {
        let t = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        t.by_id.get(&id).and_then(|n| t.by_name.get(n)).cloned()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        let t = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        t.by_name.keys().cloned().collect()
    }

    /// Applies one entry of the pools bucket.
    pub(crate) fn apply(&self, entry: &kv::Entry) {
        let Some(name) = scope_of(&entry.key).and_then(|s| String::from_utf8(s).ok()) else {
            return;
        };
        if entry.operation != kv::Operation::Put {
            self.remove(&name);
            return;
        }
        let pool = Doc::decode(&entry.value)
            .ok()
            .and_then(|d| d.pool_record().map(PoolRef::from_record));
        match pool {
            Some(Ok(pool)) => self.put(pool),
            Some(Err(error)) => {
                tracing::warn!(key = %entry.key, %error, "a pool's document cannot be read")
            }
            None => self.remove(&name),
        }
    }

    /// Follows the bucket from its first entry until the watch ends.
    pub(crate) async fn follow(&self, mut watch: kv::Watch) {
        while let Some(entry) = watch.next().await {
            match entry {
                Ok(entry) => self.apply(&entry),
                Err(error) => tracing::warn!(%error, "watching the fleet's pools failed"),
            }
        }
    }
}
