//! The automation routes, with Prefect 3.9.1's bodies, answers and errors
//! (`prefect/server/api/automations.py`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;
use workbus_automations::{Automation, AutomationError, AutomationSpec, Automations};
use workbus_core::Timestamp;

use crate::api::{combine, list_limit, AnyOf, Operator};
use crate::body::{Json, OptionalJson};
use crate::error::ApiError;
use crate::AppState;

type Result<T> = std::result::Result<T, ApiError>;

/// The fields Prefect's `AutomationCreate` takes; it refuses any other (`extra="forbid"`).
const CREATE_FIELDS: &[&str] = &[
    "name",
    "description",
    "enabled",
    "tags",
    "trigger",
    "actions",
    "actions_on_trigger",
    "actions_on_resolve",
    "owner_resource",
];

fn automations(st: &AppState) -> Result<Automations> {
    st.automations.get().ok_or(ApiError::NoLeader)
}

fn id_of(path: &str) -> Result<Uuid> {
    // Prefect's routes take `{id:uuid}`: any other path is not one of them.
    Uuid::parse_str(path).map_err(|_| ApiError::NotFound)
}

/// Reads a create or replace body: only Prefect's fields, each by Prefect's rules.
fn spec_of(body: Value, owner_allowed: bool) -> Result<(AutomationSpec, Option<String>)> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::invalid("an automation is a JSON object"));
    };
    if let Some(extra) = map.keys().find(|k| {
        !CREATE_FIELDS.contains(&k.as_str()) || (!owner_allowed && *k == "owner_resource")
    }) {
        return Err(ApiError::invalid(format!(
            "{extra}: Extra inputs are not permitted"
        )));
    }
    let owner = match map.remove("owner_resource") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(ApiError::invalid("owner_resource: a string")),
    };
    let spec: AutomationSpec =
        serde_json::from_value(Value::Object(map)).map_err(ApiError::invalid)?;
    Ok((spec, owner))
}

/// `POST /automations/`: 201 with the automation.
pub(crate) async fn create(
    st: web::Data<AppState>,
    Json(body): Json<Value>,
) -> Result<HttpResponse> {
    let (spec, owner) = spec_of(body, true)?;
    let created = automations(&st)?.create_owned(spec, owner).await?;
    Ok(HttpResponse::Created().json(created))
}

/// `GET /automations/{id}`.
pub(crate) async fn read(st: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse> {
    let id = id_of(&id)?;
    Ok(HttpResponse::Ok().json(automations(&st)?.get(id).await?))
}

/// `PUT /automations/{id}`: 204.
pub(crate) async fn replace(
    st: web::Data<AppState>,
    id: web::Path<String>,
    Json(body): Json<Value>,
) -> Result<HttpResponse> {
    let id = id_of(&id)?;
    let (spec, _) = spec_of(body, false)?;
    automations(&st)?.replace(id, spec).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Prefect's `AutomationPartialUpdate`: `enabled` only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Patch {
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

/// `PATCH /automations/{id}`: 204.
pub(crate) async fn patch(
    st: web::Data<AppState>,
    id: web::Path<String>,
    Json(body): Json<Patch>,
) -> Result<HttpResponse> {
    let id = id_of(&id)?;
    automations(&st)?.set_enabled(id, body.enabled).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /automations/{id}`: 204.
pub(crate) async fn delete(st: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse> {
    let id = id_of(&id)?;
    automations(&st)?.delete(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Before {
    #[serde(default)]
    before_: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tags {
    #[serde(default)]
    operator: Operator,
    #[serde(default)]
    all_: Option<Vec<String>>,
    #[serde(default)]
    any_: Option<Vec<String>>,
    #[serde(default)]
    is_null_: Option<bool>,
}

/// Prefect's `AutomationFilter`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Filter {
    #[serde(default)]
    operator: Operator,
    #[serde(default)]
    id: Option<AnyOf<Uuid>>,
    #[serde(default)]
    name: Option<AnyOf<String>>,
    #[serde(default)]
    created: Option<Before>,
    #[serde(default)]
    tags: Option<Tags>,
}

impl Filter {
    fn test(&self, a: &Automation) -> bool {
        let tags = self.tags.as_ref().map(|t| {
            combine(
                t.operator,
                [
                    t.all_
                        .as_ref()
                        .map(|all| all.iter().all(|x| a.spec.tags.contains(x))),
                    t.any_
                        .as_ref()
                        .map(|any| any.iter().any(|x| a.spec.tags.contains(x))),
                    t.is_null_.map(|null| a.spec.tags.is_empty() == null),
                ],
            )
        });
        combine(
            self.operator,
            [
                self.id.as_ref().and_then(|f| f.test(&a.id)),
                self.name.as_ref().and_then(|f| f.test(&a.spec.name)),
                self.created
                    .as_ref()
                    .and_then(|c| c.before_.map(|b| a.created <= b)),
                tags,
            ],
        )
    }
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
enum Sort {
    #[serde(rename = "CREATED_DESC")]
    CreatedDesc,
    #[serde(rename = "UPDATED_DESC")]
    UpdatedDesc,
    #[default]
    #[serde(rename = "NAME_ASC")]
    NameAsc,
    #[serde(rename = "NAME_DESC")]
    NameDesc,
}

/// The body of `POST /automations/filter`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilterBody {
    #[serde(default)]
    sort: Sort,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    automations: Option<Filter>,
}

/// `POST /automations/filter`: sorted (by name unless told), paged.
pub(crate) async fn filter(
    st: web::Data<AppState>,
    OptionalJson(body): OptionalJson<FilterBody>,
) -> Result<HttpResponse> {
    let limit = list_limit(body.limit)?;
    let mut all: Vec<Automation> = automations(&st)?
        .list()
        .await?
        .into_iter()
        .filter(|a| body.automations.as_ref().is_none_or(|f| f.test(a)))
        .collect();
    match body.sort {
        Sort::CreatedDesc => all.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id))),
        Sort::UpdatedDesc => all.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.id.cmp(&b.id))),
        Sort::NameAsc => all.sort_by(|a, b| a.spec.name.cmp(&b.spec.name).then(a.id.cmp(&b.id))),
        Sort::NameDesc => all.sort_by(|a, b| b.spec.name.cmp(&a.spec.name).then(a.id.cmp(&b.id))),
    }
    let page: Vec<Automation> = all.into_iter().skip(body.offset).take(limit).collect();
    Ok(HttpResponse::Ok().json(page))
}

/// The body of `POST /automations/count`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountBody {
    #[serde(default)]
    automations: Option<Filter>,
}

/// `POST /automations/count`.
pub(crate) async fn count(
    st: web::Data<AppState>,
    OptionalJson(body): OptionalJson<CountBody>,
) -> Result<HttpResponse> {
    let n = automations(&st)?
        .list()
        .await?
        .iter()
        .filter(|a| body.automations.as_ref().is_none_or(|f| f.test(a)))
        .count();
    Ok(HttpResponse::Ok().json(n))
}

/// The automations created with this `owner_resource`.
async fn owned_by(automations: &Automations, resource: &str) -> Result<Vec<Automation>> {
    Ok(automations
        .list()
        .await?
        .into_iter()
        .filter(|a| a.owner.as_deref() == Some(resource))
        .collect())
}

/// `GET /automations/related-to/{resource_id}`: the automations owned by the
/// resource (there are no deployments here, the other relation Prefect keeps).
pub(crate) async fn related_to(
    st: web::Data<AppState>,
    resource: web::Path<String>,
) -> Result<HttpResponse> {
    let related = owned_by(&automations(&st)?, &resource).await?;
    Ok(HttpResponse::Ok().json(related))
}

/// `DELETE /automations/owned-by/{resource_id}`: 202, the owned automations deleted.
pub(crate) async fn delete_owned_by(
    st: web::Data<AppState>,
    resource: web::Path<String>,
) -> Result<HttpResponse> {
    let automations = automations(&st)?;
    for a in owned_by(&automations, &resource).await? {
        match automations.delete(a.id).await {
            Ok(()) | Err(AutomationError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(HttpResponse::Accepted().json(Value::Null))
}
