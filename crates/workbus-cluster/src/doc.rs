//! A pool's document in the pools bucket: the records of its scope, who holds
//! it, and when that node last wrote it.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use workbus_store::{Batch, Contents, Table, Write};

fn tag(t: Table) -> u8 {
    match t {
        Table::Pools => 0,
        Table::Queues => 1,
        Table::Workers => 2,
        Table::Beats => 3,
    }
}

/// The records of one scope (a pool, its queues, workers and beats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Doc {
    /// The node that holds the pool; `None` once it handed it over.
    pub(crate) owner: Option<String>,
    /// When it was last written, in microseconds since 1970.
    pub(crate) written: i64,
    records: BTreeMap<(u8, Vec<u8>), Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    owner: Option<String>,
    written: i64,
    /// `[table, key, value]`, the key and value in base64.
    records: Vec<(u8, String, String)>,
}

impl Doc {
    /// Applies a batch's record writes (its events travel on the event stream).
    pub(crate) fn apply(&mut self, batch: &Batch) {
        for w in batch.writes() {
            match w {
                Write::Put { table, key, value } => {
                    self.records
                        .insert((tag(*table), key.clone()), value.clone());
                }
                Write::Delete { table, key } => {
                    self.records.remove(&(tag(*table), key.clone()));
                }
                Write::DeletePrefix { table, prefix } => {
                    let t = tag(*table);
                    self.records
                        .retain(|(rt, k), _| *rt != t || !k.starts_with(prefix));
                }
                Write::Event { .. } => {}
            }
        }
    }

    /// Whether the pool is in it: a scope lives while its pool's record does.
    pub(crate) fn has_pool(&self) -> bool {
        self.pool_record().is_some()
    }

    /// The pool's record.
    pub(crate) fn pool_record(&self) -> Option<&[u8]> {
        self.records
            .range((0, Vec::new())..(1, Vec::new()))
            .next()
            .map(|(_, v)| v.as_slice())
    }

    /// Its records, as a store's load answers them.
    pub(crate) fn contents(&self) -> Contents {
        let mut c = Contents::default();
        for ((t, k), v) in &self.records {
            let into = match t {
                0 => &mut c.pools,
                1 => &mut c.queues,
                2 => &mut c.workers,
                _ => &mut c.beats,
            };
            into.push((k.clone(), v.clone()));
        }
        c
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            owner: self.owner.clone(),
            written: self.written,
            records: self
                .records
                .iter()
                .map(|((t, k), v)| (*t, B64.encode(k), B64.encode(v)))
                .collect(),
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Doc, String> {
        let wire: Wire = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut records = BTreeMap::new();
        for (t, k, v) in wire.records {
            if t > 3 {
                return Err(format!("unknown table {t}"));
            }
            let k = B64.decode(k).map_err(|e| e.to_string())?;
            let v = B64.decode(v).map_err(|e| e.to_string())?;
            records.insert((t, k), v);
        }
        Ok(Doc {
            owner: wire.owner,
            written: wire.written,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_applies_writes_and_round_trips() {
        let mut doc = Doc::default();
        let mut b = Batch::new();
        b.put(Table::Pools, b"p1".to_vec(), b"{}".to_vec())
            .put(Table::Workers, b"p1w1".to_vec(), b"{\"w\":1}".to_vec())
            .put(Table::Workers, b"p1w2".to_vec(), b"{\"w\":2}".to_vec())
            .put(Table::Beats, b"p1w1".to_vec(), vec![1, 2, 3])
            .event([0; 16], 1, b"{}".to_vec());
        doc.apply(&b);
        assert!(doc.has_pool());
        doc.owner = Some("a".into());
        doc.written = 42;
        let back = Doc::decode(&doc.encode()).unwrap();
        assert_eq!(back, doc);
        let c = back.contents();
        assert_eq!((c.pools.len(), c.workers.len(), c.beats.len()), (1, 2, 1));
        assert!(
            c.events.is_empty(),
            "events go on the stream, not in the document"
        );

        let mut gone = Batch::new();
        gone.delete(Table::Pools, b"p1".to_vec())
            .delete_prefix(Table::Workers, b"p1".to_vec());
        doc.apply(&gone);
        assert!(!doc.has_pool());
        assert_eq!(doc.contents().workers.len(), 0);
        assert_eq!(doc.contents().beats.len(), 1);
    }
}
