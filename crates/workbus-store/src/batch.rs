//! What a commit carries, and what a load answers.

use std::time::Duration;

/// The tables of records. Keys and values are the caller's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Work pools.
    Pools,
    /// Work queues.
    Queues,
    /// Workers (keyed so that a pool's workers share a prefix).
    Workers,
    /// Times written lazily (heartbeats and polls that changed nothing else),
    /// apart from the records so that a lazy write never overwrites a newer record.
    Beats,
    /// Automations (keyed by id), written by `workbus-automations`.
    Automations,
    /// Block types, schemas and documents (the webhooks and notifications of
    /// automations), written by `workbus-automations`.
    Blocks,
}

impl Table {
    /// Every table. New tables go at the end: the fleet's pool documents write a
    /// record's table as its place here.
    pub const ALL: [Table; 6] = [
        Table::Pools,
        Table::Queues,
        Table::Workers,
        Table::Beats,
        Table::Automations,
        Table::Blocks,
    ];
}

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Sets a record.
    Put {
        /// Its table.
        table: Table,
        /// Its key.
        key: Vec<u8>,
        /// Its value.
        value: Vec<u8>,
    },
    /// Removes a record (nothing if it is absent).
    Delete {
        /// Its table.
        table: Table,
        /// Its key.
        key: Vec<u8>,
    },
    /// Removes every record of the table whose key starts with the prefix.
    DeletePrefix {
        /// The table.
        table: Table,
        /// The prefix.
        prefix: Vec<u8>,
    },
    /// Appends an event to the history.
    Event {
        /// Its id (a UUID's bytes).
        id: [u8; 16],
        /// When it occurred, in microseconds since 1970 (for retention by age).
        occurred_micros: i64,
        /// Its JSON.
        json: Vec<u8>,
    },
}

/// The writes of one change and the events it caused: applied whole or not at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub(crate) writes: Vec<Write>,
    pub(crate) lazy: bool,
    pub(crate) scope: Option<Vec<u8>>,
}

impl Batch {
    /// An empty batch, synced when committed.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Marks it lazy: written with the next synced commit (or [`Store::sync`](crate::Store::sync)),
    /// never costing a sync of its own. A crash can lose it.
    pub fn lazy(mut self) -> Self {
        self.lazy = true;
        self
    }

    /// Names the unit of ownership its writes belong to (for the bus, a pool's
    /// name: the pool, its queues and workers). A store that partitions by
    /// owner (the cluster's) keeps a scope's records together under one key
    /// and fences them; the embedded store ignores it.
    pub fn scoped(mut self, scope: impl Into<Vec<u8>>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The unit of ownership it writes to, if it was given one.
    pub fn scope(&self) -> Option<&[u8]> {
        self.scope.as_deref()
    }

    /// Whether it is lazy.
    pub fn is_lazy(&self) -> bool {
        self.lazy
    }

    /// Sets a record.
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) -> &mut Self {
        self.writes.push(Write::Put { table, key, value });
        self
    }

    /// Removes a record.
    pub fn delete(&mut self, table: Table, key: Vec<u8>) -> &mut Self {
        self.writes.push(Write::Delete { table, key });
        self
    }

    /// Removes every record whose key starts with `prefix`.
    pub fn delete_prefix(&mut self, table: Table, prefix: Vec<u8>) -> &mut Self {
        self.writes.push(Write::DeletePrefix { table, prefix });
        self
    }

    /// Appends an event.
    pub fn event(&mut self, id: [u8; 16], occurred_micros: i64, json: Vec<u8>) -> &mut Self {
        self.writes.push(Write::Event {
            id,
            occurred_micros,
            json,
        });
        self
    }

    /// Whether it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Its writes, in order.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }
}

/// How long events are kept: the oldest go first once either bound is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// At most this many events.
    pub max_events: u64,
    /// None older than this (by `occurred`, against the newest event's time).
    pub max_age: Duration,
}

impl Default for Retention {
    /// 1,000,000 events, 7 days (Prefect keeps events for 7 days by default).
    fn default() -> Self {
        Retention {
            max_events: 1_000_000,
            max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// An event of the history, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its place in the history (ascending in commit order).
    pub seq: u64,
    /// Its id.
    pub id: [u8; 16],
    /// When it occurred, in microseconds since 1970.
    pub occurred_micros: i64,
    /// Its JSON.
    pub json: Vec<u8>,
}

/// Everything a store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// The pools' records, by key.
    pub pools: Vec<(Vec<u8>, Vec<u8>)>,
    /// The queues' records, by key.
    pub queues: Vec<(Vec<u8>, Vec<u8>)>,
    /// The workers' records, by key.
    pub workers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The lazily written times, by key.
    pub beats: Vec<(Vec<u8>, Vec<u8>)>,
    /// The automations' records, by key.
    pub automations: Vec<(Vec<u8>, Vec<u8>)>,
    /// The blocks' records, by key.
    pub blocks: Vec<(Vec<u8>, Vec<u8>)>,
    /// The events, oldest first.
    pub events: Vec<StoredEvent>,
}

impl Contents {
    /// The records of one table.
    pub fn table_mut(&mut self, table: Table) -> &mut Vec<(Vec<u8>, Vec<u8>)> {
        match table {
            Table::Pools => &mut self.pools,
            Table::Queues => &mut self.queues,
            Table::Workers => &mut self.workers,
            Table::Beats => &mut self.beats,
            Table::Automations => &mut self.automations,
            Table::Blocks => &mut self.blocks,
        }
    }
}
