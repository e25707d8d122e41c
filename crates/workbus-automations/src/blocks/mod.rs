//! Blocks: the part of Prefect's block API that Prefect's client uses to save a
//! `Webhook` or a notification block, so that `call-webhook` and
//! `send-notification` actions can name one by its document id.
//!
//! ## What is kept
//!
//! Block types (by slug), block schemas (by checksum and version, computed as
//! Prefect computes them, so that the client finds the schema it made before)
//! and block documents (by id, and by block type and name). With a store, each
//! change is written before it is answered and all come back on a restart.
//!
//! ## Bounds
//!
//! At most [`BlocksConfig::max_documents`] documents, [`BlocksConfig::max_types`]
//! types and as many schemas, each at most [`BlocksConfig::max_bytes`] of JSON.

mod checksum;
mod model;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use uuid::Uuid;
use workbus_core::Clock;
use workbus_store::{Batch, Store, StoreError, Table};

pub use model::{
    BlockDocument, BlockDocumentCreate, BlockDocumentUpdate, BlockSchema, BlockSchemaCreate,
    BlockType, BlockTypeCreate, BlockTypeUpdate, DocumentView, SchemaView, OBFUSCATED,
};

/// Why a block change or read was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BlockError {
    /// No such block type, schema or document.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A block type with this slug, or a document with this type and name, exists.
    #[error("{0}")]
    Exists(&'static str),
    /// What was sent is not valid.
    #[error("{0}")]
    Invalid(String),
    /// As many as the bounds allow exist.
    #[error("at most {limit} {what}: the limit is reached")]
    LimitReached {
        /// Of what.
        what: &'static str,
        /// How many.
        limit: usize,
    },
    /// The change could not be written to the store: it is not made.
    #[error("the block could not be written to the store: {0}")]
    Store(StoreError),
    /// A stored record cannot be read (at start: never an empty set in its place).
    #[error("stored block record {key} cannot be read: {reason}")]
    CorruptRecord {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Bounds of the blocks.
#[derive(Clone, Debug)]
pub struct BlocksConfig {
    /// Block documents at most (default 10,000).
    pub max_documents: usize,
    /// Block types at most, and block schemas at most (default 1,000 each).
    pub max_types: usize,
    /// Bytes of one type's, schema's or document's JSON at most (default 256 KiB).
    pub max_bytes: usize,
}

impl Default for BlocksConfig {
    fn default() -> Self {
        BlocksConfig {
            max_documents: 10_000,
            max_types: 1_000,
            max_bytes: 256 * 1024,
        }
    }
}

#[derive(Default)]
struct Catalogue {
    types: HashMap<Uuid, BlockType>,
    type_by_slug: HashMap<String, Uuid>,
    schemas: HashMap<Uuid, BlockSchema>,
    schema_by_checksum: HashMap<(String, String), Uuid>,
    documents: HashMap<Uuid, BlockDocument>,
    document_by_name: HashMap<(Uuid, String), Uuid>,
}

impl Catalogue {
    fn put_type(&mut self, t: BlockType) {
        self.type_by_slug.insert(t.slug.clone(), t.id);
        self.types.insert(t.id, t);
    }

    fn put_schema(&mut self, s: BlockSchema) {
        self.schema_by_checksum
            .insert((s.checksum.clone(), s.version.clone()), s.id);
        self.schemas.insert(s.id, s);
    }

    fn put_document(&mut self, d: BlockDocument) {
        if let Some(old) = self.documents.get(&d.id) {
            self.document_by_name
                .remove(&(old.block_type_id, old.name.clone()));
        }
        self.document_by_name
            .insert((d.block_type_id, d.name.clone()), d.id);
        self.documents.insert(d.id, d);
    }

    fn remove_document(&mut self, id: Uuid) -> Option<BlockDocument> {
        let d = self.documents.remove(&id)?;
        self.document_by_name
            .remove(&(d.block_type_id, d.name.clone()));
        Some(d)
    }

    fn view(&self, d: &BlockDocument, include_secrets: bool) -> Result<DocumentView, BlockError> {
        let schema = self
            .schemas
            .get(&d.block_schema_id)
            .ok_or(BlockError::NotFound("Block schema"))?;
        let block_type = self
            .types
            .get(&d.block_type_id)
            .ok_or(BlockError::NotFound("Block type"))?;
        let mut document = d.clone();
        if !include_secrets {
            document.data = model::obfuscated(schema, &d.data);
        }
        Ok(DocumentView {
            document,
            block_schema: SchemaView {
                schema: schema.clone(),
                block_type: block_type.clone(),
            },
            block_type: block_type.clone(),
            block_type_name: block_type.name.clone(),
            block_document_references: serde_json::Map::new(),
        })
    }
}

/// The record keys: a letter for the kind, then the id.
fn key(kind: u8, id: Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(kind);
    k.extend_from_slice(id.as_bytes());
    k
}

const TYPE: u8 = b't';
const SCHEMA: u8 = b's';
const DOCUMENT: u8 = b'd';

/// The blocks of a server: a handle, cheap to clone.
#[derive(Clone)]
pub struct Blocks {
    catalogue: Arc<RwLock<Catalogue>>,
    // One change at a time: each is checked, written and then made, so that two
    // saves of one name cannot both pass the check while the first is written.
    writing: Arc<tokio::sync::Mutex<()>>,
    store: Option<Arc<dyn Store>>,
    clock: Arc<dyn Clock>,
    config: BlocksConfig,
}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocks")
            .field("config", &self.config)
            .finish()
    }
}

impl Blocks {
    /// Blocks in memory, stamped by this clock.
    pub fn new(clock: Arc<dyn Clock>, config: BlocksConfig) -> Self {
        Blocks {
            catalogue: Arc::default(),
            writing: Arc::default(),
            store: None,
            clock,
            config,
        }
    }

    /// Blocks written through to a store, starting from its records (the
    /// [`blocks`](workbus_store::Contents::blocks) of its load).
    pub fn open(
        clock: Arc<dyn Clock>,
        config: BlocksConfig,
        store: Arc<dyn Store>,
        records: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Self, BlockError> {
        let mut blocks = Self::new(clock, config);
        {
            let mut c = blocks.write();
            for (k, v) in records {
                let corrupt = |reason: String| BlockError::CorruptRecord {
                    key: k.iter().map(|b| format!("{b:02x}")).collect(),
                    reason,
                };
                match k.first() {
                    Some(&TYPE) => {
                        c.put_type(serde_json::from_slice(&v).map_err(|e| corrupt(e.to_string()))?)
                    }
                    Some(&SCHEMA) => c.put_schema(
                        serde_json::from_slice(&v).map_err(|e| corrupt(e.to_string()))?,
                    ),
                    Some(&DOCUMENT) => c.put_document(
                        serde_json::from_slice(&v).map_err(|e| corrupt(e.to_string()))?,
                    ),
                    _ => return Err(corrupt("unknown kind of record".into())),
                }
            }
        }
        blocks.store = Some(store);
        Ok(blocks)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Catalogue> {
        // A panic while the lock was held left whole values: the maps are usable.
        self.catalogue.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Catalogue> {
        self.catalogue.write().unwrap_or_else(|e| e.into_inner())
    }

    fn sized<T: serde::Serialize>(&self, value: &T) -> Result<Vec<u8>, BlockError> {
        let bytes = serde_json::to_vec(value).map_err(|e| BlockError::Invalid(e.to_string()))?;
        if bytes.len() > self.config.max_bytes {
            return Err(BlockError::Invalid(format!(
                "a block may take at most {} bytes of JSON; this one takes {}",
                self.config.max_bytes,
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Writes one record (or its removal) and waits for it, when there is a store.
    async fn persist(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), BlockError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut batch = Batch::new();
        match value {
            Some(v) => {
                batch.put(Table::Blocks, key, v);
            }
            None => {
                batch.delete(Table::Blocks, key);
            }
        }
        store.commit(batch).await.map_err(BlockError::Store)
    }

    /// `POST /block_types/`: refused if the slug is taken.
    pub async fn create_type(&self, new: BlockTypeCreate) -> Result<BlockType, BlockError> {
        let _one = self.writing.lock().await;
        check_name("slug", &new.slug)?;
        {
            let c = self.read();
            if c.type_by_slug.contains_key(&new.slug) {
                return Err(BlockError::Exists("Block type already exists"));
            }
            if c.types.len() >= self.config.max_types {
                return Err(BlockError::LimitReached {
                    what: "block types",
                    limit: self.config.max_types,
                });
            }
        }
        let now = self.clock.now();
        let t = BlockType {
            id: Uuid::new_v4(),
            created: now,
            updated: now,
            name: new.name,
            slug: new.slug,
            logo_url: new.logo_url,
            documentation_url: new.documentation_url,
            description: new.description,
            code_example: new.code_example,
            is_protected: false,
        };
        let bytes = self.sized(&t)?;
        self.persist(key(TYPE, t.id), Some(bytes)).await?;
        self.write().put_type(t.clone());
        Ok(t)
    }

    /// `PATCH /block_types/{id}`.
    pub async fn update_type(&self, id: Uuid, update: BlockTypeUpdate) -> Result<(), BlockError> {
        let _one = self.writing.lock().await;
        let mut t = self
            .read()
            .types
            .get(&id)
            .cloned()
            .ok_or(BlockError::NotFound("Block type"))?;
        let set = |field: &mut Option<String>, to: Option<Option<String>>| {
            if let Some(to) = to {
                *field = to;
            }
        };
        set(&mut t.logo_url, update.logo_url);
        set(&mut t.documentation_url, update.documentation_url);
        set(&mut t.description, update.description);
        set(&mut t.code_example, update.code_example);
        t.updated = self.clock.now();
        let bytes = self.sized(&t)?;
        self.persist(key(TYPE, id), Some(bytes)).await?;
        self.write().put_type(t);
        Ok(())
    }

    /// A block type by slug.
    pub fn type_by_slug(&self, slug: &str) -> Result<BlockType, BlockError> {
        let c = self.read();
        c.type_by_slug
            .get(slug)
            .and_then(|id| c.types.get(id))
            .cloned()
            .ok_or(BlockError::NotFound("Block type"))
    }

    /// A block type by id.
    pub fn block_type(&self, id: Uuid) -> Result<BlockType, BlockError> {
        self.read()
            .types
            .get(&id)
            .cloned()
            .ok_or(BlockError::NotFound("Block type"))
    }

    /// Every block type, by name.
    pub fn types(&self) -> Vec<BlockType> {
        let mut all: Vec<BlockType> = self.read().types.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// `POST /block_schemas/`: the schema there is when one has the same
    /// checksum and version, as in Prefect.
    pub async fn create_schema(&self, new: BlockSchemaCreate) -> Result<SchemaView, BlockError> {
        let _one = self.writing.lock().await;
        let checksum = checksum::of_fields(&new.fields);
        let block_type = {
            let c = self.read();
            let block_type = c
                .types
                .get(&new.block_type_id)
                .cloned()
                .ok_or(BlockError::NotFound("Block type"))?;
            if let Some(s) = c
                .schema_by_checksum
                .get(&(checksum.clone(), new.version.clone()))
                .and_then(|id| c.schemas.get(id))
            {
                return Ok(SchemaView {
                    schema: s.clone(),
                    block_type,
                });
            }
            if c.schemas.len() >= self.config.max_types {
                return Err(BlockError::LimitReached {
                    what: "block schemas",
                    limit: self.config.max_types,
                });
            }
            block_type
        };
        let now = self.clock.now();
        let schema = BlockSchema {
            id: Uuid::new_v4(),
            created: now,
            updated: now,
            checksum,
            fields: new.fields,
            block_type_id: new.block_type_id,
            capabilities: new.capabilities,
            version: new.version,
        };
        let bytes = self.sized(&schema)?;
        self.persist(key(SCHEMA, schema.id), Some(bytes)).await?;
        self.write().put_schema(schema.clone());
        Ok(SchemaView { schema, block_type })
    }

    /// A block schema by checksum, of this version or else the newest made.
    pub fn schema_by_checksum(
        &self,
        checksum: &str,
        version: Option<&str>,
    ) -> Result<SchemaView, BlockError> {
        let c = self.read();
        let found = match version {
            Some(v) => c
                .schema_by_checksum
                .get(&(checksum.to_owned(), v.to_owned()))
                .and_then(|id| c.schemas.get(id)),
            None => c
                .schemas
                .values()
                .filter(|s| s.checksum == checksum)
                .max_by_key(|s| s.created),
        };
        let schema = found.ok_or(BlockError::NotFound("Block schema"))?;
        schema_view(&c, schema)
    }

    /// A block schema by id.
    pub fn schema(&self, id: Uuid) -> Result<SchemaView, BlockError> {
        let c = self.read();
        let schema = c
            .schemas
            .get(&id)
            .ok_or(BlockError::NotFound("Block schema"))?;
        schema_view(&c, schema)
    }

    /// Every block schema (of these block types, if any are given), newest first.
    pub fn schemas(&self, of_types: Option<&[Uuid]>) -> Vec<SchemaView> {
        let c = self.read();
        let mut all: Vec<SchemaView> = c
            .schemas
            .values()
            .filter(|s| of_types.is_none_or(|t| t.contains(&s.block_type_id)))
            .filter_map(|s| schema_view(&c, s).ok())
            .collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.schema.created));
        all
    }

    /// `POST /block_documents/`: refused if its type already has a document of this name.
    pub async fn create_document(
        &self,
        new: BlockDocumentCreate,
    ) -> Result<DocumentView, BlockError> {
        let _one = self.writing.lock().await;
        if !new.block_document_references.is_empty() {
            return Err(BlockError::Invalid(
                "nested block documents are not kept by workbus".into(),
            ));
        }
        let id = Uuid::new_v4();
        let name = match (new.name, new.is_anonymous) {
            (Some(name), _) => {
                check_name("name", &name)?;
                name
            }
            (None, true) => format!("anonymous-{id}"),
            (None, false) => {
                return Err(BlockError::Invalid(
                    "Names must be provided for block documents.".into(),
                ))
            }
        };
        {
            let c = self.read();
            let schema = c
                .schemas
                .get(&new.block_schema_id)
                .ok_or(BlockError::NotFound("Block schema"))?;
            if schema.block_type_id != new.block_type_id {
                return Err(BlockError::Invalid(
                    "the block schema is not of this block type".into(),
                ));
            }
            if c.document_by_name
                .contains_key(&(new.block_type_id, name.clone()))
            {
                return Err(BlockError::Exists("Block already exists"));
            }
            if c.documents.len() >= self.config.max_documents {
                return Err(BlockError::LimitReached {
                    what: "block documents",
                    limit: self.config.max_documents,
                });
            }
        }
        let now = self.clock.now();
        let d = BlockDocument {
            id,
            created: now,
            updated: now,
            name,
            data: new.data,
            block_schema_id: new.block_schema_id,
            block_type_id: new.block_type_id,
            is_anonymous: new.is_anonymous,
        };
        let bytes = self.sized(&d)?;
        self.persist(key(DOCUMENT, id), Some(bytes)).await?;
        let mut c = self.write();
        c.put_document(d.clone());
        c.view(&d, false)
    }

    /// `PATCH /block_documents/{id}`.
    pub async fn update_document(
        &self,
        id: Uuid,
        update: BlockDocumentUpdate,
    ) -> Result<(), BlockError> {
        let _one = self.writing.lock().await;
        let mut d = {
            let c = self.read();
            let d = c
                .documents
                .get(&id)
                .cloned()
                .ok_or(BlockError::NotFound("Block document"))?;
            if let Some(s) = update.block_schema_id {
                let schema = c
                    .schemas
                    .get(&s)
                    .ok_or(BlockError::NotFound("Block schema"))?;
                if schema.block_type_id != d.block_type_id {
                    return Err(BlockError::Invalid(
                        "the block schema is not of this block type".into(),
                    ));
                }
            }
            d
        };
        if update.merge_existing_data {
            model::merge(&mut d.data, update.data);
        } else {
            d.data = update.data;
        }
        if let Some(s) = update.block_schema_id {
            d.block_schema_id = s;
        }
        d.updated = self.clock.now();
        let bytes = self.sized(&d)?;
        self.persist(key(DOCUMENT, id), Some(bytes)).await?;
        self.write().put_document(d);
        Ok(())
    }

    /// `DELETE /block_documents/{id}`.
    pub async fn delete_document(&self, id: Uuid) -> Result<(), BlockError> {
        let _one = self.writing.lock().await;
        if !self.read().documents.contains_key(&id) {
            return Err(BlockError::NotFound("Block document"));
        }
        self.persist(key(DOCUMENT, id), None).await?;
        self.write().remove_document(id);
        Ok(())
    }

    /// A block document by id.
    pub fn document(&self, id: Uuid, include_secrets: bool) -> Result<DocumentView, BlockError> {
        let c = self.read();
        let d = c
            .documents
            .get(&id)
            .ok_or(BlockError::NotFound("Block document"))?;
        c.view(d, include_secrets)
    }

    /// A block document by its block type's slug and its name.
    pub fn document_by_name(
        &self,
        slug: &str,
        name: &str,
        include_secrets: bool,
    ) -> Result<DocumentView, BlockError> {
        let c = self.read();
        let d = c
            .type_by_slug
            .get(slug)
            .and_then(|t| c.document_by_name.get(&(*t, name.to_owned())))
            .and_then(|id| c.documents.get(id))
            .ok_or(BlockError::NotFound("Block document"))?;
        c.view(d, include_secrets)
    }

    /// The block documents (of one block type, if given; the anonymous ones only
    /// when asked), by name.
    pub fn documents(
        &self,
        slug: Option<&str>,
        include_anonymous: bool,
        include_secrets: bool,
    ) -> Vec<DocumentView> {
        let c = self.read();
        let of_type = slug.map(|s| c.type_by_slug.get(s).copied());
        let mut all: Vec<DocumentView> = c
            .documents
            .values()
            .filter(|d| include_anonymous || !d.is_anonymous)
            .filter(|d| of_type.is_none_or(|t| t == Some(d.block_type_id)))
            .filter_map(|d| c.view(d, include_secrets).ok())
            .collect();
        all.sort_by(|a, b| a.document.name.cmp(&b.document.name));
        all
    }
}

fn schema_view(c: &Catalogue, schema: &BlockSchema) -> Result<SchemaView, BlockError> {
    let block_type = c
        .types
        .get(&schema.block_type_id)
        .cloned()
        .ok_or(BlockError::NotFound("Block type"))?;
    Ok(SchemaView {
        schema: schema.clone(),
        block_type,
    })
}

/// Prefect's slugs and block document names: lowercase letters, digits and dashes.
fn check_name(field: &str, name: &str) -> Result<(), BlockError> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    if name.is_empty() || name.len() > 255 || !name.bytes().all(allowed) {
        return Err(BlockError::Invalid(format!(
            "{field} must only contain lowercase letters, numbers, and dashes."
        )));
    }
    Ok(())
}
