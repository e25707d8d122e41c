//! [`MemoryStore`]: the same contract in memory, committed at once.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::batch::{Batch, Contents, Retention, StoredEvent, Write};
use crate::error::StoreError;
use crate::records::Records;
use crate::{Pending, Store};

#[derive(Debug, Default)]
struct State {
    tables: Records,
    events: BTreeMap<u64, StoredEvent>,
    next: u64,
}

/// A store in memory: commits apply at once, whole, and nothing outlives the
/// process. For tests on paused time (a commit never waits for a disk, so the
/// paused clock never moves on while one is under way) and for an embedder that
/// wants the write-through path without a disk. Share it (`Arc`) between two
/// buses to restart one from what the other wrote.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    retention: Retention,
}

impl MemoryStore {
    /// An empty store with the default [`Retention`].
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// An empty store keeping events as `retention` says.
    pub fn with_retention(retention: Retention) -> Self {
        MemoryStore {
            state: Mutex::default(),
            retention,
        }
    }
}

impl Store for MemoryStore {
    fn commit(&self, batch: Batch) -> Pending {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut newest = i64::MIN;
        s.tables.apply(&batch);
        for w in batch.writes {
            if let Write::Event {
                id,
                occurred_micros,
                json,
            } = w
            {
                let seq = s.next;
                s.next += 1;
                newest = newest.max(occurred_micros);
                s.events.insert(
                    seq,
                    StoredEvent {
                        seq,
                        id,
                        occurred_micros,
                        json,
                    },
                );
            }
        }
        let cutoff =
            newest.saturating_sub(self.retention.max_age.as_micros().min(i64::MAX as u128) as i64);
        while let Some((&seq, e)) = s.events.first_key_value() {
            let over = s.events.len() as u64 > self.retention.max_events;
            let expired = newest != i64::MIN && e.occurred_micros < cutoff;
            if !(over || expired) {
                break;
            }
            s.events.remove(&seq);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn sync(&self) -> Pending {
        Box::pin(std::future::ready(Ok(())))
    }

    fn load(&self) -> Result<Contents, StoreError> {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = s.tables.contents();
        out.events = s.events.values().cloned().collect();
        Ok(out)
    }
}
