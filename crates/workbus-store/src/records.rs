//! [`Records`]: the records of the four tables in memory, as a batch leaves them.

use std::collections::BTreeMap;

use crate::batch::{Batch, Contents, Table, Write};

/// Records of the four [`Table`]s in key order, with a batch's record writes
/// applied to them (its events left to the caller). What the in-memory store
/// keeps, and what the fleet's store keeps of one pool: one way to apply a
/// batch, wherever records are held outside an engine.
///
/// # Examples
///
/// ```
/// use workbus_store::{Batch, Records, Table};
///
/// let mut records = Records::default();
/// let mut batch = Batch::new();
/// batch.put(Table::Workers, b"p1/w1".to_vec(), b"{}".to_vec())
///     .put(Table::Workers, b"p1/w2".to_vec(), b"{}".to_vec())
///     .delete_prefix(Table::Workers, b"p1/".to_vec())
///     .put(Table::Pools, b"p1".to_vec(), b"{}".to_vec());
/// records.apply(&batch);
/// assert_eq!(records.contents().workers.len(), 0);
/// assert_eq!(records.first(Table::Pools), Some(&b"{}"[..]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Records(BTreeMap<(Table, Vec<u8>), Vec<u8>>);

impl Records {
    /// Applies the batch's puts and deletes, in order.
    pub fn apply(&mut self, batch: &Batch) {
        for w in batch.writes() {
            match w {
                Write::Put { table, key, value } => {
                    self.0.insert((*table, key.clone()), value.clone());
                }
                Write::Delete { table, key } => {
                    self.0.remove(&(*table, key.clone()));
                }
                Write::DeletePrefix { table, prefix } => {
                    self.0
                        .retain(|(t, k), _| t != table || !k.starts_with(prefix));
                }
                Write::Event { .. } => {}
            }
        }
    }

    /// Sets one record.
    pub fn insert(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.0.insert((table, key), value);
    }

    /// The value of the table's first record (in key order).
    pub fn first(&self, table: Table) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|((t, _), _)| *t == table)
            .map(|(_, v)| v.as_slice())
    }

    /// Every record: its table, key and value, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Table, &[u8], &[u8])> {
        self.0
            .iter()
            .map(|((t, k), v)| (*t, k.as_slice(), v.as_slice()))
    }

    /// The records as a load answers them (no events).
    pub fn contents(&self) -> Contents {
        let mut c = Contents::default();
        for ((t, k), v) in &self.0 {
            let into = c.table_mut(*t);
            into.push((k.clone(), v.clone()));
        }
        c
    }
}
