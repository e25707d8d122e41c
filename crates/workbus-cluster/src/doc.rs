//! A pool's document in the pools bucket: the records of its scope, who holds
//! it, and when that node last wrote it.
//!
//! It is JSON, deflated: a pool's worker records repeat themselves, and a
//! document must fit in one NATS message (`max_payload`, 1 MiB by default).
//! Deflated, a pool with 10,000 workers (the default limit per pool) takes
//! well under that (the test `a_full_pool_fits_one_document` measures it).

use std::io::{Read, Write};

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine as _;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use workbus_store::{Batch, Contents, Records, Table};

/// The most a document may inflate to: far more than a full pool, far less than a bomb.
const MAX_INFLATED: u64 = 256 << 20;

/// A record's table is written as its place in `Table::ALL`, whose order only grows.
const TABLES: [Table; Table::ALL.len()] = Table::ALL;

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

    /// The document as stored: its JSON, deflated.
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
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        let mut out = DeflateEncoder::new(Vec::new(), Compression::fast());
        // Writing to a Vec cannot fail.
        let _ = out.write_all(&json);
        out.finish().unwrap_or_default()
    }

    /// Reads a stored document back, inflating at most [`MAX_INFLATED`] bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Doc, String> {
        let mut json = Vec::new();
        DeflateDecoder::new(bytes)
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut json)
            .map_err(|e| e.to_string())?;
        if json.len() as u64 > MAX_INFLATED {
            return Err(format!("inflates past {MAX_INFLATED} bytes"));
        }
        let wire: Wire = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
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

    /// A pool at the default worker limit, each worker with its interval and
    /// last heartbeat, as the bus writes them: its document fits in one NATS
    /// message of the default `max_payload` (1 MiB).
    #[actix_rt::test]
    async fn a_full_pool_fits_one_document() {
        use std::sync::Arc;
        use workbus_core::{Bus, BusConfig, CreatePool, Heartbeat, HeartbeatInterval};
        use workbus_store::{MemoryStore, Store};

        let store = Arc::new(MemoryStore::new());
        let bus = Bus::builder().open(store.clone()).unwrap();
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let every = HeartbeatInterval::from_secs(30).unwrap();
        let max = BusConfig::default().max_workers_per_pool;
        for i in 0..max {
            let worker = Heartbeat::new(format!("worker-{i:05}")).every(every);
            bus.heartbeat("etl", worker).await.unwrap();
        }
        bus.flush().await.unwrap();
        let c = store.load().unwrap();
        let mut batch = Batch::new();
        for (table, records) in [
            (Table::Pools, c.pools),
            (Table::Queues, c.queues),
            (Table::Workers, c.workers),
            (Table::Beats, c.beats),
        ] {
            for (k, v) in records {
                batch.put(table, k, v);
            }
        }
        let mut doc = Doc::default();
        doc.apply(&batch);
        doc.owner = Some("a-node-with-a-rather-long-name-0123456789".into());
        doc.written = i64::MAX;
        let bytes = doc.encode();
        let json = serde_json::to_vec(&Wire {
            owner: doc.owner.clone(),
            written: doc.written,
            records: Vec::new(),
        })
        .unwrap();
        eprintln!(
            "{max} workers: {} records, {} bytes stored (the empty document's JSON is {} bytes)",
            doc.contents().workers.len(),
            bytes.len(),
            json.len()
        );
        assert_eq!(doc.contents().workers.len(), max);
        assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());
        assert_eq!(Doc::decode(&bytes).unwrap(), doc);
    }
}
