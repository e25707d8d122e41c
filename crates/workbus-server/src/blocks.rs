//! The block routes that Prefect 3.9.1's client uses to save and load a block
//! (`Webhook(...).save()`, `CustomWebhookNotificationBlock.load()`), with its
//! bodies, answers and errors (`prefect/server/api/block_*.py`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;
use workbus_automations::blocks::{
    BlockDocumentCreate, BlockDocumentUpdate, BlockSchemaCreate, BlockTypeCreate, BlockTypeUpdate,
};
use workbus_automations::Blocks;

use crate::api::list_limit;
use crate::body::{Json, OptionalJson};
use crate::error::ApiError;
use crate::AppState;

type Result<T> = std::result::Result<T, ApiError>;

fn blocks(st: &AppState) -> Result<Blocks> {
    st.automations
        .get()
        .map(|a| a.blocks().clone())
        .ok_or(ApiError::NoLeader)
}

fn id_of(path: &str) -> Result<Uuid> {
    Uuid::parse_str(path).map_err(|_| ApiError::NotFound)
}

fn read<T: serde::de::DeserializeOwned>(body: Value) -> Result<T> {
    serde_json::from_value(body).map_err(ApiError::invalid)
}

/// `?include_secrets=` (Prefect's default: false).
#[derive(Deserialize)]
pub(crate) struct Secrets {
    #[serde(default)]
    include_secrets: bool,
}

/// `POST /block_types/`: 201, or 409 when the slug is taken.
pub(crate) async fn create_type(
    st: web::Data<AppState>,
    Json(body): Json<Value>,
) -> Result<HttpResponse> {
    let new: BlockTypeCreate = read(body)?;
    Ok(HttpResponse::Created().json(blocks(&st)?.create_type(new).await?))
}

/// `GET /block_types/slug/{slug}`.
pub(crate) async fn type_by_slug(
    st: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(blocks(&st)?.type_by_slug(&slug)?))
}

/// `GET /block_types/{id}`.
pub(crate) async fn read_type(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(blocks(&st)?.block_type(id_of(&id)?)?))
}

/// `PATCH /block_types/{id}`: 204.
pub(crate) async fn update_type(
    st: web::Data<AppState>,
    id: web::Path<String>,
    Json(body): Json<Value>,
) -> Result<HttpResponse> {
    let update: BlockTypeUpdate = read(body)?;
    blocks(&st)?.update_type(id_of(&id)?, update).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A filter's paging (what else a filter says is not read: Prefect's client
/// sends `{}` or a block type).
#[derive(Deserialize, Default)]
pub(crate) struct Page {
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

fn page<T>(all: Vec<T>, page: &Page) -> Result<Vec<T>> {
    let limit = list_limit(page.limit)?;
    Ok(all
        .into_iter()
        .skip(page.offset.unwrap_or(0))
        .take(limit)
        .collect())
}

/// `POST /block_types/filter`.
pub(crate) async fn filter_types(
    st: web::Data<AppState>,
    OptionalJson(p): OptionalJson<Page>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(page(blocks(&st)?.types(), &p)?))
}

/// `POST /block_schemas/`: 201 (the schema there is, for the same checksum and version).
pub(crate) async fn create_schema(
    st: web::Data<AppState>,
    Json(body): Json<Value>,
) -> Result<HttpResponse> {
    let new: BlockSchemaCreate = read(body)?;
    Ok(HttpResponse::Created().json(blocks(&st)?.create_schema(new).await?))
}

/// `?version=`.
#[derive(Deserialize)]
pub(crate) struct Version {
    #[serde(default)]
    version: Option<String>,
}

/// `GET /block_schemas/checksum/{checksum}`.
pub(crate) async fn schema_by_checksum(
    st: web::Data<AppState>,
    checksum: web::Path<String>,
    q: web::Query<Version>,
) -> Result<HttpResponse> {
    let found = blocks(&st)?.schema_by_checksum(&checksum, q.version.as_deref())?;
    Ok(HttpResponse::Ok().json(found))
}

/// `GET /block_schemas/{id}`.
pub(crate) async fn read_schema(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(blocks(&st)?.schema(id_of(&id)?)?))
}

/// The body of `POST /block_schemas/filter`.
#[derive(Deserialize, Default)]
pub(crate) struct SchemaFilter {
    #[serde(default)]
    block_schemas: Option<SchemaCriteria>,
    #[serde(flatten)]
    page: Page,
}

#[derive(Deserialize, Default)]
struct SchemaCriteria {
    #[serde(default)]
    block_type_id: Option<AnyIds>,
}

#[derive(Deserialize, Default)]
struct AnyIds {
    #[serde(default)]
    any_: Option<Vec<Uuid>>,
}

/// `POST /block_schemas/filter`: newest first.
pub(crate) async fn filter_schemas(
    st: web::Data<AppState>,
    OptionalJson(f): OptionalJson<SchemaFilter>,
) -> Result<HttpResponse> {
    let types = f
        .block_schemas
        .and_then(|s| s.block_type_id)
        .and_then(|t| t.any_);
    let all = blocks(&st)?.schemas(types.as_deref());
    Ok(HttpResponse::Ok().json(page(all, &f.page)?))
}

/// `POST /block_documents/`: 201, or 409 when its type has a document of this name.
pub(crate) async fn create_document(
    st: web::Data<AppState>,
    Json(body): Json<Value>,
) -> Result<HttpResponse> {
    let new: BlockDocumentCreate = read(body)?;
    Ok(HttpResponse::Created().json(blocks(&st)?.create_document(new).await?))
}

/// `GET /block_documents/{id}`.
pub(crate) async fn read_document(
    st: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<Secrets>,
) -> Result<HttpResponse> {
    let doc = blocks(&st)?.document(id_of(&id)?, q.include_secrets)?;
    Ok(HttpResponse::Ok().json(doc))
}

/// `PATCH /block_documents/{id}`: 204.
pub(crate) async fn update_document(
    st: web::Data<AppState>,
    id: web::Path<String>,
    Json(body): Json<Value>,
) -> Result<HttpResponse> {
    let update: BlockDocumentUpdate = read(body)?;
    blocks(&st)?.update_document(id_of(&id)?, update).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /block_documents/{id}`: 204.
pub(crate) async fn delete_document(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    blocks(&st)?.delete_document(id_of(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /block_types/slug/{slug}/block_documents/name/{name}`.
pub(crate) async fn document_by_name(
    st: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<Secrets>,
) -> Result<HttpResponse> {
    let (slug, name) = path.into_inner();
    let doc = blocks(&st)?.document_by_name(&slug, &name, q.include_secrets)?;
    Ok(HttpResponse::Ok().json(doc))
}

/// `?offset=&limit=&include_secrets=` of a block type's documents.
#[derive(Deserialize)]
pub(crate) struct DocumentsQuery {
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    include_secrets: bool,
}

/// `GET /block_types/slug/{slug}/block_documents`.
pub(crate) async fn documents_of_type(
    st: web::Data<AppState>,
    slug: web::Path<String>,
    q: web::Query<DocumentsQuery>,
) -> Result<HttpResponse> {
    let all = blocks(&st)?.documents(Some(&slug), false, q.include_secrets);
    let p = Page {
        offset: q.offset,
        limit: q.limit,
    };
    Ok(HttpResponse::Ok().json(page(all, &p)?))
}

/// The body of `POST /block_documents/filter`.
#[derive(Deserialize, Default)]
pub(crate) struct DocumentFilter {
    #[serde(default)]
    include_secrets: bool,
    #[serde(default)]
    block_schema_type: Option<String>,
    #[serde(flatten)]
    page: Page,
}

/// `POST /block_documents/filter`: the named documents, by name.
pub(crate) async fn filter_documents(
    st: web::Data<AppState>,
    OptionalJson(f): OptionalJson<DocumentFilter>,
) -> Result<HttpResponse> {
    let mut all = blocks(&st)?.documents(None, false, f.include_secrets);
    if let Some(capability) = &f.block_schema_type {
        all.retain(|d| d.block_schema.schema.capabilities.contains(capability));
    }
    Ok(HttpResponse::Ok().json(page(all, &f.page)?))
}
