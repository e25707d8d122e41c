//! Block types, schemas and documents, with Prefect 3.9.1's JSON
//! (`prefect/server/schemas/core.py`, `actions.py`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;
use workbus_events::Timestamp;

/// What a value of a secret field reads as when secrets are not asked for.
pub const OBFUSCATED: &str = "********";

/// A kind of block (`webhook`, `custom-webhook`, ...), found by its slug.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockType {
    /// Its id.
    pub id: Uuid,
    /// When it was made.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// Its name (`Webhook`).
    pub name: String,
    /// Its slug (`webhook`).
    pub slug: String,
    /// Its logo.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// Its documentation.
    #[serde(default)]
    pub documentation_url: Option<String>,
    /// What it is.
    #[serde(default)]
    pub description: Option<String>,
    /// How to use it.
    #[serde(default)]
    pub code_example: Option<String>,
    /// Whether it is one of Prefect's own (never, here).
    #[serde(default)]
    pub is_protected: bool,
}

/// What a client sends to make a block type (`POST /block_types/`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockTypeCreate {
    /// Its name.
    pub name: String,
    /// Its slug.
    pub slug: String,
    /// Its logo.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// Its documentation.
    #[serde(default)]
    pub documentation_url: Option<String>,
    /// What it is.
    #[serde(default)]
    pub description: Option<String>,
    /// How to use it.
    #[serde(default)]
    pub code_example: Option<String>,
}

/// What a client may change of a block type (`PATCH /block_types/{id}`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockTypeUpdate {
    /// Its logo.
    #[serde(default)]
    pub logo_url: Option<Option<String>>,
    /// Its documentation.
    #[serde(default)]
    pub documentation_url: Option<Option<String>>,
    /// What it is.
    #[serde(default)]
    pub description: Option<Option<String>>,
    /// How to use it.
    #[serde(default)]
    pub code_example: Option<Option<String>>,
}

/// The fields of a version of a block type, and what it can do (`notify`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockSchema {
    /// Its id.
    pub id: Uuid,
    /// When it was made.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// `sha256:` of its fields, as Prefect computes it.
    pub checksum: String,
    /// Its JSON schema.
    pub fields: Map<String, Value>,
    /// Its block type.
    pub block_type_id: Uuid,
    /// What its blocks can do.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Its version.
    pub version: String,
}

/// What a client sends to make a block schema (`POST /block_schemas/`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSchemaCreate {
    /// Its JSON schema.
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// Its block type.
    pub block_type_id: Uuid,
    /// What its blocks can do.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Its version (Prefect's default: `non-versioned`).
    #[serde(default = "non_versioned")]
    pub version: String,
}

fn non_versioned() -> String {
    "non-versioned".to_owned()
}

/// A saved block: a name and its data, of a schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockDocument {
    /// Its id.
    pub id: Uuid,
    /// When it was made.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// Its name (made up for an anonymous one).
    pub name: String,
    /// Its data (the block's fields).
    pub data: Map<String, Value>,
    /// Its schema.
    pub block_schema_id: Uuid,
    /// Its block type.
    pub block_type_id: Uuid,
    /// Whether it was saved without a name.
    #[serde(default)]
    pub is_anonymous: bool,
}

/// What a client sends to save a block (`POST /block_documents/`).
#[derive(Clone, Debug, Deserialize)]
pub struct BlockDocumentCreate {
    /// Its name (none for an anonymous one).
    #[serde(default)]
    pub name: Option<String>,
    /// Its data.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Its schema.
    pub block_schema_id: Uuid,
    /// Its block type.
    pub block_type_id: Uuid,
    /// Saved without a name.
    #[serde(default)]
    pub is_anonymous: bool,
    /// Nested blocks (workbus keeps none: refused when not empty).
    #[serde(default)]
    pub block_document_references: Map<String, Value>,
}

/// What a client may change of a block (`PATCH /block_documents/{id}`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockDocumentUpdate {
    /// A new schema.
    #[serde(default)]
    pub block_schema_id: Option<Uuid>,
    /// The data.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Merged into the data there is (default), or in its place.
    #[serde(default = "yes")]
    pub merge_existing_data: bool,
}

fn yes() -> bool {
    true
}

/// A block schema as Prefect answers it: with its block type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SchemaView {
    /// The schema.
    #[serde(flatten)]
    pub schema: BlockSchema,
    /// Its block type.
    pub block_type: BlockType,
}

/// A block document as Prefect answers it: with its schema and block type, and
/// its secrets hidden unless asked for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DocumentView {
    /// The document.
    #[serde(flatten)]
    pub document: BlockDocument,
    /// Its schema.
    pub block_schema: SchemaView,
    /// Its block type.
    pub block_type: BlockType,
    /// Its block type's name.
    pub block_type_name: String,
    /// Nested blocks (none, here).
    pub block_document_references: Map<String, Value>,
}

impl BlockSchema {
    /// Its `secret_fields` (`url`, `headers.*`).
    pub fn secret_fields(&self) -> impl Iterator<Item = &str> {
        self.fields
            .get("secret_fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }
}

/// The data with every secret field's value written as [`OBFUSCATED`].
pub(crate) fn obfuscated(schema: &BlockSchema, data: &Map<String, Value>) -> Map<String, Value> {
    let mut data = data.clone();
    for path in schema.secret_fields() {
        hide(&mut data, &path.split('.').collect::<Vec<_>>());
    }
    data
}

fn hide(map: &mut Map<String, Value>, path: &[&str]) {
    match path {
        [] => {}
        ["*"] => map
            .values_mut()
            .for_each(|v| *v = Value::String(OBFUSCATED.into())),
        [last] => {
            if let Some(v) = map.get_mut(*last) {
                if !v.is_null() {
                    *v = Value::String(OBFUSCATED.into());
                }
            }
        }
        ["*", rest @ ..] => map.values_mut().for_each(|v| {
            if let Value::Object(inner) = v {
                hide(inner, rest);
            }
        }),
        [first, rest @ ..] => {
            if let Some(Value::Object(inner)) = map.get_mut(*first) {
                hide(inner, rest);
            }
        }
    }
}

/// Prefect's merge of a document's data: nested objects merged key by key.
pub(crate) fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(old)), Value::Object(new)) => merge(old, new),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_hidden_by_their_paths() {
        let schema: BlockSchema = serde_json::from_value(json!({
            "id": Uuid::nil(), "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z",
            "checksum": "sha256:x", "block_type_id": Uuid::nil(), "version": "1",
            "fields": {"secret_fields": ["url", "headers.*"]}
        }))
        .unwrap();
        let data = json!({"url": "http://x", "headers": {"a": "1"}, "method": "POST"});
        let Value::Object(data) = data else {
            unreachable!()
        };
        assert_eq!(
            Value::Object(obfuscated(&schema, &data)),
            json!({"url": OBFUSCATED, "headers": {"a": OBFUSCATED}, "method": "POST"})
        );
    }
}
