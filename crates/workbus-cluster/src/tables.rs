//! The fleet's automations and blocks: a [`Store`] over the JetStream KV bucket
//! `workbus-<cluster>-automations`, so that the node that leads the
//! automations writes them where the next leader reads them.
//!
//! Keys are the table's letter and the record's key in hex (`a.…` for
//! automations, `b.…` for blocks); values are the records. A batch's writes
//! are applied in order, each acknowledged by JetStream before the batch is.

use std::sync::Arc;

use async_nats::jetstream::kv;
use futures_util::TryStreamExt;
use workbus_store::{Batch, Contents, Pending, Store, StoreError, Table, Write};

/// Why the fleet's automations store refused.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    /// A table this store does not keep (pools live in their documents).
    #[error("the fleet's automations store keeps automations and blocks, not {0:?}")]
    NotKept(Table),
    /// JetStream refused or did not answer.
    #[error("{what}: {reason}")]
    Nats {
        /// What was asked.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

/// The automations and blocks of the fleet, in JetStream KV.
#[derive(Clone)]
pub struct KvTables {
    kv: Arc<kv::Store>,
}

impl std::fmt::Debug for KvTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvTables")
            .field("bucket", &self.kv.name)
            .finish()
    }
}

fn letter(table: Table) -> Result<char, TablesError> {
    match table {
        Table::Automations => Ok('a'),
        Table::Blocks => Ok('b'),
        other => Err(TablesError::NotKept(other)),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn key(table: Table, key: &[u8]) -> Result<String, TablesError> {
    let mut k = String::with_capacity(2 + key.len() * 2);
    k.push(letter(table)?);
    k.push('.');
    for b in key {
        k.push(char::from(HEX[usize::from(b >> 4)]));
        k.push(char::from(HEX[usize::from(b & 15)]));
    }
    Ok(k)
}

fn parse(k: &str) -> Option<(Table, Vec<u8>)> {
    let (t, hex) = k.split_once('.')?;
    let table = match t {
        "a" => Table::Automations,
        "b" => Table::Blocks,
        _ => return None,
    };
    let hex = hex.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = hex
        .chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16);
            Some((d(p[0])? * 16 + d(p[1])?) as u8)
        })
        .collect::<Option<Vec<u8>>>()?;
    Some((table, bytes))
}

fn nats(what: &'static str) -> impl Fn(String) -> StoreError {
    move |reason| StoreError::engine(TablesError::Nats { what, reason })
}

impl KvTables {
    pub(crate) fn new(kv: kv::Store) -> Self {
        KvTables { kv: Arc::new(kv) }
    }

    /// Reads every record (a node that starts to lead calls it once).
    pub async fn load_all(&self) -> Result<Contents, StoreError> {
        let keys: Vec<String> = self
            .kv
            .keys()
            .await
            .map_err(|e| nats("listing the automations")(e.to_string()))?
            .try_collect()
            .await
            .map_err(|e| nats("listing the automations")(e.to_string()))?;
        let mut contents = Contents::default();
        for k in keys {
            let Some((table, record_key)) = parse(&k) else {
                continue;
            };
            let value = self
                .kv
                .get(&k)
                .await
                .map_err(|e| nats("reading an automation")(e.to_string()))?;
            if let Some(v) = value {
                contents.table_mut(table).push((record_key, v.to_vec()));
            }
        }
        Ok(contents)
    }
}

impl Store for KvTables {
    fn commit(&self, batch: Batch) -> Pending {
        let kv = self.kv.clone();
        Box::pin(async move {
            for write in batch.writes() {
                match write {
                    Write::Put {
                        table,
                        key: k,
                        value,
                    } => {
                        let k = key(*table, k).map_err(StoreError::engine)?;
                        kv.put(k, value.clone().into())
                            .await
                            .map_err(|e| nats("writing an automation")(e.to_string()))?;
                    }
                    Write::Delete { table, key: k } => {
                        let k = key(*table, k).map_err(StoreError::engine)?;
                        kv.purge(k)
                            .await
                            .map_err(|e| nats("deleting an automation")(e.to_string()))?;
                    }
                    Write::DeletePrefix { table, .. } => {
                        return Err(StoreError::engine(TablesError::NotKept(*table)))
                    }
                    // Events are the stream's, not this store's.
                    Write::Event { .. } => {}
                }
            }
            Ok(())
        })
    }

    fn sync(&self) -> Pending {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Blocks on nothing: use [`KvTables::load_all`], which is async.
    fn load(&self) -> Result<Contents, StoreError> {
        Err(StoreError::engine(TablesError::Nats {
            what: "loading",
            reason: "read the fleet's automations with KvTables::load_all".into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_table_and_come_back() {
        let k = key(Table::Blocks, &[0x64, 0xff, 0x00]).unwrap();
        assert_eq!(k, "b.64ff00");
        assert_eq!(parse(&k), Some((Table::Blocks, vec![0x64, 0xff, 0x00])));
        assert!(key(Table::Pools, b"x").is_err());
        assert_eq!(parse("p.00"), None);
    }
}
