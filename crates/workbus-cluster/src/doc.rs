//! A pool's document in the pools bucket: the records of its scope, who holds
//! it, and when that node last wrote it.

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use workbus_store::{Batch, Contents, Records, Table};

const TABLES: [Table; 4] = [Table::Pools, Table::Queues, Table::Workers, Table::Beats];

fn tag(t: Table) -> u8 {
    TABLES.iter().position(|x| *x == t).unwrap_or(0) as u8
}

/// The records of one scope (a pool, its queues, workers and beats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Doc {
    /// The node that holds the pool; `None` once it handed it over.
    pub(crate) owner: Option<String>,
    /// When it was last written, in microseconds since 1970.
    pub(crate) written: i64,
    records: Records,
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
        self.records.apply(batch);
    }

    /// Whether the pool is in it: a scope lives while its pool's record does.
    pub(crate) fn has_pool(&self) -> bool {
        self.pool_record().is_some()
    }

    /// The pool's record.
    pub(crate) fn pool_record(&self) -> Option<&[u8]> {
        self.records.first(Table::Pools)
    }

    /// Its records, as a store's load answers them.
    pub(crate) fn contents(&self) -> Contents {
        self.records.contents()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            owner: self.owner.clone(),
            written: self.written,
            records: self
                .records
                .iter()
                .map(|(t, k, v)| (tag(t), B64.encode(k), B64.encode(v)))
                .collect(),
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Doc, String> {
        let wire: Wire = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut records = Records::default();
        for (t, k, v) in wire.records {
            let table = *TABLES
                .get(usize::from(t))
                .ok_or_else(|| format!("unknown table {t}"))?;
            let k = B64.decode(k).map_err(|e| e.to_string())?;
            let v = B64.decode(v).map_err(|e| e.to_string())?;
            records.insert(table, k, v);
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
