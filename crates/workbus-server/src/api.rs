//! The REST routes: work pools, queues, workers, polling, the legacy queue routes,
//! and the small routes Prefect's clients call on start-up.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use workbus_core::{
    CreatePool, CreateQueue, Heartbeat, HeartbeatInterval, SharedEvent, Timestamp, WorkerStatus,
};

use crate::body::{Json, OptionalJson};
use crate::error::ApiError;
use crate::request::{CreatePoolBody, CreateQueueBody, PoolUpdateBody, QueueUpdateBody};
use crate::response::{PoolResponse, QueueResponse, WorkerResponse};
use crate::AppState;

/// Prefect's API version (`prefect.client.constants.SERVER_API_VERSION`), served at `/api/version`.
pub const API_VERSION: &str = "0.8.4";
/// The Prefect server version this server answers as, at `/api/admin/version`.
pub const PREFECT_VERSION: &str = "3.9.1";
/// Prefect's largest `limit` on list routes (`PREFECT_API_DEFAULT_LIMIT`).
pub const MAX_LIST_LIMIT: usize = 200;
/// The pool that legacy `POST /work_queues/` puts queues in, created on demand as Prefect does.
pub const DEFAULT_AGENT_POOL: &str = "default-agent-pool";

type Result<T> = std::result::Result<T, ApiError>;

fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| ApiError::invalid(format!("invalid UUID {s:?}: {e}")))
}

// ---- root routes ----------------------------------------------------------------

pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(true)
}

pub(crate) async fn ready() -> HttpResponse {
    HttpResponse::Ok().json(json!({"message": "OK"}))
}

pub(crate) async fn version() -> HttpResponse {
    HttpResponse::Ok().json(API_VERSION)
}

pub(crate) async fn admin_version() -> HttpResponse {
    HttpResponse::Ok().json(PREFECT_VERSION)
}

/// Prefect's answer when CSRF protection is off; its client then stops asking.
pub(crate) async fn csrf_token() -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(json!({"detail": "CSRF protection is disabled."}))
}

/// There are no flow runs or deployments here: honest empty lists.
pub(crate) async fn empty_list() -> HttpResponse {
    HttpResponse::Ok().json(Vec::<()>::new())
}

// ---- list filters -----------------------------------------------------------------

/// `{"any_": [...]}` and friends, as Prefect's filter leaves.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnyOf<T> {
    #[serde(default)]
    pub(crate) any_: Option<Vec<T>>,
}

impl<T: PartialEq> AnyOf<T> {
    pub(crate) fn test(&self, v: &T) -> Option<bool> {
        self.any_.as_ref().map(|xs| xs.contains(v))
    }
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    #[default]
    #[serde(rename = "and_")]
    And,
    #[serde(rename = "or_")]
    Or,
}

/// Combines the leaf tests that are set, with the filter's operator.
pub(crate) fn combine(op: Operator, tests: impl IntoIterator<Item = Option<bool>>) -> bool {
    let mut set = tests.into_iter().flatten().peekable();
    if set.peek().is_none() {
        return true;
    }
    match op {
        Operator::And => set.all(|t| t),
        Operator::Or => set.any(|t| t),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolFilter {
    #[serde(default)]
    operator: Operator,
    #[serde(default)]
    id: Option<AnyOf<Uuid>>,
    #[serde(default)]
    name: Option<AnyOf<String>>,
    #[serde(default, rename = "type")]
    pool_type: Option<AnyOf<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameFilter {
    #[serde(default)]
    any_: Option<Vec<String>>,
    #[serde(default)]
    startswith_: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFilter {
    #[serde(default)]
    operator: Operator,
    #[serde(default)]
    id: Option<AnyOf<Uuid>>,
    #[serde(default)]
    name: Option<NameFilter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeartbeatTimeFilter {
    #[serde(default)]
    before_: Option<Timestamp>,
    #[serde(default)]
    after_: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusFilter {
    #[serde(default)]
    any_: Option<Vec<WorkerStatus>>,
    #[serde(default)]
    not_any_: Option<Vec<WorkerStatus>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerFilter {
    #[serde(default)]
    operator: Operator,
    #[serde(default)]
    last_heartbeat_time: Option<HeartbeatTimeFilter>,
    #[serde(default)]
    status: Option<StatusFilter>,
}

/// A list route's body. Like Prefect's embedded body parameters, unknown top-level keys are ignored.
macro_rules! list_body {
    ($name:ident, $field:ident, $filter:ty) => {
        #[derive(Debug, Default, Deserialize)]
        pub(crate) struct $name {
            #[serde(default)]
            $field: Option<$filter>,
            #[serde(default)]
            limit: Option<usize>,
            #[serde(default)]
            offset: Option<usize>,
        }
    };
}

list_body!(PoolsBody, work_pools, PoolFilter);
list_body!(QueuesBody, work_queues, QueueFilter);
list_body!(WorkersBody, workers, WorkerFilter);

fn window<T>(
    limit: Option<usize>,
    offset: Option<usize>,
    items: impl Iterator<Item = T>,
) -> Result<Vec<T>> {
    let limit = list_limit(limit)?;
    Ok(items.skip(offset.unwrap_or(0)).take(limit).collect())
}

/// A list's `limit`: Prefect's largest when none is given, `422` above it.
pub(crate) fn list_limit(limit: Option<usize>) -> Result<usize> {
    let limit = limit.unwrap_or(MAX_LIST_LIMIT);
    if limit > MAX_LIST_LIMIT {
        return Err(ApiError::invalid(format!(
            "limit must be at most {MAX_LIST_LIMIT}, got {limit}"
        )));
    }
    Ok(limit)
}

// ---- work pools -------------------------------------------------------------------

pub(crate) async fn create_pool(
    st: web::Data<AppState>,
    Json(req): Json<CreatePoolBody>,
) -> Result<HttpResponse> {
    let pool = st.bus.create_pool(req.into()).await?;
    Ok(HttpResponse::Created().json(PoolResponse::from(pool)))
}

pub(crate) async fn read_pool(
    st: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(PoolResponse::from(st.bus.pool(&name).await?)))
}

pub(crate) async fn update_pool(
    st: web::Data<AppState>,
    name: web::Path<String>,
    Json(update): Json<PoolUpdateBody>,
) -> Result<HttpResponse> {
    st.bus.update_pool(&name, update.into()).await?;
    Ok(no_content())
}

pub(crate) async fn delete_pool(
    st: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse> {
    let id = st.bus.pool_id(&name);
    st.bus.delete_pool(&name).await?;
    // Its connected workers are closed, as Prefect closes them.
    if let Some(id) = id {
        st.channels.do_send(crate::ws::channel::PoolDeleted(id));
    }
    Ok(no_content())
}

pub(crate) async fn filter_pools(
    st: web::Data<AppState>,
    OptionalJson(body): OptionalJson<PoolsBody>,
) -> Result<HttpResponse> {
    let limit = list_limit(body.limit)?;
    let f = body.work_pools.as_ref();
    let names = f
        .and_then(|f| f.name.as_ref())
        .and_then(|x| x.any_.as_ref());
    let ids = f.and_then(|f| f.id.as_ref()).and_then(|x| x.any_.as_ref());
    let types = f
        .and_then(|f| f.pool_type.as_ref())
        .and_then(|x| x.any_.as_ref());
    // Exact names and ids are looked up in the tables: such a filter costs what it
    // names. Under `or_` that holds only when names and ids are all it tests.
    let narrowed = match f.map(|f| f.operator) {
        Some(Operator::And) => names.is_some() || ids.is_some(),
        Some(Operator::Or) => (names.is_some() || ids.is_some()) && types.is_none(),
        None => false,
    };
    let id_names: Vec<String> = match (narrowed, ids) {
        (true, Some(ids)) if names.is_none() || f.is_some_and(|f| f.operator == Operator::Or) => {
            ids.iter().filter_map(|id| st.bus.pool_name(*id)).collect()
        }
        _ => Vec::new(),
    };
    let within: Option<Vec<&str>> = narrowed.then(|| {
        names
            .into_iter()
            .flatten()
            .map(String::as_str)
            .chain(id_names.iter().map(String::as_str))
            .collect()
    });
    let keep = |p: &workbus_core::PoolKey<'_>| {
        f.is_none_or(|f| {
            combine(
                f.operator,
                [
                    f.id.as_ref().and_then(|x| x.test(&p.id)),
                    names.map(|xs| xs.iter().any(|n| n == p.name)),
                    types.map(|xs| xs.iter().any(|t| t == p.pool_type)),
                ],
            )
        })
    };
    let page = st
        .bus
        .find_pools(within.as_deref(), keep, body.offset.unwrap_or(0), limit)
        .await;
    let page: Vec<PoolResponse> = page.into_iter().map(PoolResponse::from).collect();
    Ok(HttpResponse::Ok().json(page))
}

// ---- polling ----------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ScheduledRunsBody {
    #[serde(default)]
    work_queue_names: Option<Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    scheduled_before: Option<Timestamp>,
    #[serde(default)]
    #[allow(dead_code)]
    scheduled_after: Option<Timestamp>,
    #[serde(default)]
    limit: Option<usize>,
}

/// Marks the named queues (all when none are named) polled; there are no runs to return.
pub(crate) async fn get_scheduled_flow_runs(
    st: web::Data<AppState>,
    name: web::Path<String>,
    OptionalJson(body): OptionalJson<ScheduledRunsBody>,
) -> Result<HttpResponse> {
    list_limit(body.limit)?;
    st.bus
        .poll(&name, body.work_queue_names.as_deref().unwrap_or(&[]))
        .await?;
    Ok(HttpResponse::Ok().json(Vec::<()>::new()))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct GetRunsBody {
    #[serde(default)]
    limit: Option<usize>,
}

/// Legacy poll of one queue; Prefect's UI header makes it a read that marks nothing.
pub(crate) async fn legacy_get_runs(
    st: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    OptionalJson(body): OptionalJson<GetRunsBody>,
) -> Result<HttpResponse> {
    let id = parse_uuid(&id)?;
    list_limit(body.limit)?;
    let from_ui = req
        .headers()
        .get("x-prefect-ui")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if from_ui {
        st.bus.queue_by_id(id).await?;
    } else {
        st.bus.poll_queue(id).await?;
    }
    Ok(HttpResponse::Ok().json(Vec::<()>::new()))
}

// ---- workers ----------------------------------------------------------------------

/// Prefect's heartbeat takes embedded body parameters, so unknown keys (Cloud's
/// `return_id`, `metadata`) are ignored rather than refused.
#[derive(Debug, Deserialize)]
pub(crate) struct HeartbeatBody {
    name: String,
    #[serde(default, deserialize_with = "crate::body::lax_seconds")]
    heartbeat_interval_seconds: Option<u32>,
}

pub(crate) async fn heartbeat(
    st: web::Data<AppState>,
    pool: web::Path<String>,
    Json(body): Json<HeartbeatBody>,
) -> Result<HttpResponse> {
    let every = body
        .heartbeat_interval_seconds
        .map(HeartbeatInterval::from_secs)
        .transpose()?;
    st.bus
        .heartbeat(&pool, Heartbeat::new(body.name).interval_opt(every))
        .await?;
    st.channel_stats.count_rest_heartbeat();
    Ok(no_content())
}

pub(crate) async fn filter_workers(
    st: web::Data<AppState>,
    pool: web::Path<String>,
    OptionalJson(body): OptionalJson<WorkersBody>,
) -> Result<HttpResponse> {
    let workers = st.bus.workers(&pool).await?;
    let f = body.workers.as_ref();
    let page = window(
        body.limit,
        body.offset,
        workers
            .into_iter()
            .filter(|w| {
                f.is_none_or(|f| {
                    let hb = f.last_heartbeat_time.as_ref();
                    let status = f.status.as_ref();
                    combine(
                        f.operator,
                        [
                            hb.and_then(|h| h.before_)
                                .map(|t| w.last_heartbeat_time <= t),
                            hb.and_then(|h| h.after_)
                                .map(|t| w.last_heartbeat_time >= t),
                            status
                                .and_then(|s| s.any_.as_ref())
                                .map(|xs| xs.contains(&w.status)),
                            status
                                .and_then(|s| s.not_any_.as_ref())
                                .map(|xs| !xs.contains(&w.status)),
                        ],
                    )
                })
            })
            .map(WorkerResponse::from),
    )?;
    Ok(HttpResponse::Ok().json(page))
}

pub(crate) async fn delete_worker(
    st: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (pool, worker) = path.into_inner();
    st.bus.delete_worker(&pool, &worker).await?;
    Ok(no_content())
}

// ---- work queues ------------------------------------------------------------------

pub(crate) async fn create_queue(
    st: web::Data<AppState>,
    pool: web::Path<String>,
    Json(req): Json<CreateQueueBody>,
) -> Result<HttpResponse> {
    let queue = st.bus.create_queue(&pool, req.into()).await?;
    Ok(HttpResponse::Created().json(QueueResponse::from(queue)))
}

pub(crate) async fn read_queue(
    st: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (pool, queue) = path.into_inner();
    Ok(HttpResponse::Ok().json(QueueResponse::from(st.bus.queue(&pool, &queue).await?)))
}

pub(crate) async fn update_queue(
    st: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Json(update): Json<QueueUpdateBody>,
) -> Result<HttpResponse> {
    let (pool, queue) = path.into_inner();
    st.bus.update_queue(&pool, &queue, update.into()).await?;
    Ok(no_content())
}

pub(crate) async fn delete_queue(
    st: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (pool, queue) = path.into_inner();
    st.bus.delete_queue(&pool, &queue).await?;
    Ok(no_content())
}

pub(crate) async fn filter_queues(
    st: web::Data<AppState>,
    pool: web::Path<String>,
    OptionalJson(body): OptionalJson<QueuesBody>,
) -> Result<HttpResponse> {
    let mut queues = st.bus.queues(&pool).await?;
    // Prefect lists a pool's queues by priority.
    queues.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then_with(|| a.name.cmp(&b.name))
    });
    let f = body.work_queues.as_ref();
    let page = window(
        body.limit,
        body.offset,
        queues
            .into_iter()
            .filter(|q| {
                f.is_none_or(|f| {
                    let name = f.name.as_ref();
                    combine(
                        f.operator,
                        [
                            f.id.as_ref().and_then(|x| x.test(&q.id)),
                            name.and_then(|n| n.any_.as_ref())
                                .map(|xs| xs.contains(&q.name)),
                            name.and_then(|n| n.startswith_.as_ref())
                                .map(|xs| xs.iter().any(|p| q.name.starts_with(p.as_str()))),
                        ],
                    )
                })
            })
            .map(QueueResponse::from),
    )?;
    Ok(HttpResponse::Ok().json(page))
}

// ---- legacy /work_queues ------------------------------------------------------------

/// Prefect's legacy `WorkQueueCreate`: a queue in `work_pool_name` (default `default-agent-pool`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LegacyCreateQueue {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    is_paused: bool,
    #[serde(default)]
    concurrency_limit: Option<i64>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    work_pool_name: Option<String>,
}

pub(crate) async fn legacy_create_queue(
    st: web::Data<AppState>,
    Json(req): Json<LegacyCreateQueue>,
) -> Result<HttpResponse> {
    let pool = req
        .work_pool_name
        .unwrap_or_else(|| DEFAULT_AGENT_POOL.to_owned());
    if pool == DEFAULT_AGENT_POOL {
        // The core reserves `prefect*` names, not this one; create it on first use.
        match st
            .bus
            .create_pool(CreatePool::new(
                DEFAULT_AGENT_POOL,
                workbus_core::model::AGENT_POOL_TYPE,
            ))
            .await
        {
            Ok(_) | Err(workbus_core::Error::PoolExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut create = CreateQueue::new(req.name);
    create.description = req.description;
    create.is_paused = req.is_paused;
    create.concurrency_limit = req.concurrency_limit;
    create.priority = req.priority;
    let queue = st.bus.create_queue(&pool, create).await?;
    Ok(HttpResponse::Created().json(QueueResponse::from(queue)))
}

pub(crate) async fn legacy_read_queue(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_uuid(&id)?;
    Ok(HttpResponse::Ok().json(QueueResponse::from(st.bus.queue_by_id(id).await?)))
}

pub(crate) async fn legacy_update_queue(
    st: web::Data<AppState>,
    id: web::Path<String>,
    Json(update): Json<QueueUpdateBody>,
) -> Result<HttpResponse> {
    let id = parse_uuid(&id)?;
    st.bus.update_queue_by_id(id, update.into()).await?;
    Ok(no_content())
}

pub(crate) async fn legacy_delete_queue(
    st: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_uuid(&id)?;
    st.bus.delete_queue_by_id(id).await?;
    Ok(no_content())
}

// ---- event ingest -------------------------------------------------------------------

/// Counts the bytes of JSON a value encodes to, without keeping them.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A client's event, received now: refused when its JSON, as the client sent it
/// (without the `received` the server stamps on it), exceeds Prefect's
/// `PREFECT_EVENTS_MAXIMUM_SIZE_BYTES` (1.5 MB); then stamped `received` now,
/// whatever the client said, as Prefect does.
pub(crate) fn receive(st: &AppState, mut event: workbus_core::Event) -> Result<SharedEvent> {
    event.received = None;
    let mut size = Counter(0);
    serde_json::to_writer(&mut size, &event)
        .map_err(|e| ApiError::invalid(format!("event {} cannot be encoded: {e}", event.id)))?;
    if size.0 > workbus_events::MAX_EVENT_SIZE {
        return Err(ApiError::invalid(format!(
            "event {} is {} bytes of JSON, more than the {} an event may have",
            event.id,
            size.0,
            workbus_events::MAX_EVENT_SIZE
        )));
    }
    event.received = Some(st.bus.clock().now());
    Ok(SharedEvent::new(event))
}

/// [`receive`] for one event's JSON (a message of `WS /api/events/in`).
pub(crate) fn receive_json(st: &AppState, bytes: &[u8]) -> Result<SharedEvent> {
    let event = workbus_core::Event::from_json(bytes).map_err(ApiError::invalid)?;
    receive(st, event)
}

/// `POST /api/events`: events from clients (a worker's `prefect.worker.started`, say),
/// published to the bus as Prefect publishes them to its stream.
pub(crate) async fn ingest_events(
    st: web::Data<AppState>,
    Json(events): Json<Vec<workbus_core::Event>>,
) -> Result<HttpResponse> {
    // The whole batch is checked first, so a refused request publishes nothing.
    let shared = events
        .into_iter()
        .map(|event| receive(&st, event))
        .collect::<Result<Vec<_>>>()?;
    // Ingest, not Publish: a client's event must not touch the registry's queue-to-pool links.
    // Every event is published; one the store refused makes the answer a 503, so the
    // client is never told its events are kept when one was not.
    let mut written = Ok(());
    for event in shared {
        written = written.and(st.bus.ingest(event).await);
    }
    written?;
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}
