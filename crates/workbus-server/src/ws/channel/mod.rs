//! `WS /api/work_pools/{name}/workers/connect`: Prefect 3.9.1's worker channel
//! (`work_pool_worker_channel.v1`).
//!
//! A Prefect worker opens it before anything else; while it is up the worker
//! sends its heartbeats on it instead of `POST .../workers/heartbeat`, and
//! learns of changes to its pool from the snapshots the server pushes instead
//! of reading the pool.
//!
//! ## The handshake
//!
//! 1. The `prefect` subprotocol is required (without it: 403, as Prefect's
//!    server refuses the upgrade), then `{"type":"auth","token":...}`, answered
//!    `{"type":"auth_success"}`, exactly as on the event routes.
//! 2. The worker sends `worker.hello.v1`: its name, type, heartbeat interval,
//!    versions, capabilities, queues, and whether to create the pool.
//! 3. The server resolves the pool (creating it when asked and allowed),
//!    fills an empty job template with the worker's default (one
//!    `prefect.work-pool.updated`, as Prefect emits), records a heartbeat
//!    (the same path, and the same events, as a REST heartbeat), and answers
//!    `worker.ready.v1` with the pool's snapshot (sequence 1). It accepts
//!    `worker_heartbeat.v1` and `work_pool_snapshot.v1`, and declines
//!    `cleanup_delivery.v1`: there are no flow runs here to clean up.
//!
//! Then the worker is a [`ConnectedWorker`] actor of its own.
//!
//! ## Snapshots
//!
//! A change to the pool's `base_job_template`, `concurrency_limit`,
//! `storage_configuration` or paused state is pushed to every connected worker
//! of the pool as `work_pool.snapshot.v1` (reason `work_pool_updated`) as soon
//! as the pool has emitted its event: one bus subscription
//! ([`WorkerChannels`]) hands it to the pool's workers, each reads the pool and
//! sends it. Prefect waits 50 ms to coalesce; here a change that lands while a
//! snapshot is being read makes one more snapshot, so nothing waits. Any other
//! change (the description, ready or not-ready) is sent with the worker's next
//! heartbeat (reason `heartbeat_reconciliation`), as Prefect sends it.
//!
//! ## Close codes
//!
//! Prefect's close policies, with its reason texts (the worker reads them):
//!
//! | reason | code | when |
//! |---|---|---|
//! | `authentication_failed` | 1008 | no auth message, or a wrong or missing token |
//! | `authorization_failed` | 1008 | the pool or a named queue does not exist, may not be created, or was deleted |
//! | `unsupported_version` | 1008 | no `work_pool_worker_channel.v1` among the worker's versions |
//! | `protocol_error` | 1002 | a frame that is not JSON, not valid, not expected, or a heartbeat for another worker |
//! | `heartbeat_persistence_failed` | 1011 | a heartbeat the bus could not record |
//! | `transient_server_error` | 1011 | the bus could not answer |
//!
//! Frames that break RFC 6455 close with its codes (1002, 1007, 1009), and a
//! worker that leaves frames unread is closed with 1013, as on the event routes.

mod fanout;
mod frames;
mod worker;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use actix::AsyncContext;
use actix_http::ws::CloseCode;
use actix_web::{web, HttpRequest, HttpResponse};
use tokio::time::Instant;
use uuid::Uuid;
use workbus_core::{
    CreatePool, Error as BusError, Heartbeat, HeartbeatInterval, PoolInfo, PoolUpdate,
};

pub use fanout::WorkerChannels;
pub(crate) use fanout::{CloseAll, PoolDeleted};
pub use worker::ConnectedWorker;

use super::{accept, admit, authenticate, end_handshake, has_prefect_subprotocol, next_message};
use super::{Next, Socket};
use crate::error::ApiError;
use crate::response::PoolResponse;
use crate::AppState;
use frames::{CloseReason, Hello, Ready, ResolvedQueue, ServerFrame, Snapshot, WorkerFrame};

/// Largest message a worker may send: ample for a hello that carries a large
/// default job template (Prefect's server, on uvicorn, allows 16 MiB).
pub const MAX_CHANNEL_MESSAGE: usize = 1024 * 1024;

/// Counters of the worker channel, rendered at `GET /metrics`.
#[derive(Debug, Default)]
pub struct ChannelStats {
    pub(crate) open: AtomicUsize,
    opened: AtomicU64,
    refused: AtomicU64,
    closed: AtomicU64,
    pub(crate) snapshots: AtomicU64,
    pub(crate) heartbeats: AtomicU64,
    rest_heartbeats: AtomicU64,
}

// Every counter here is a count read on its own: Relaxed orders nothing else.
impl ChannelStats {
    /// Workers connected now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Workers that finished the handshake, ever.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Handshakes refused (no subprotocol, bad auth, hello or pool).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connected workers the server closed with one of Prefect's reasons.
    pub fn closed(&self) -> u64 {
        self.closed.load(Ordering::Relaxed)
    }

    /// Snapshots pushed after `worker.ready.v1`.
    pub fn snapshots(&self) -> u64 {
        self.snapshots.load(Ordering::Relaxed)
    }

    /// Heartbeats received on the channel (the handshake's included).
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats.load(Ordering::Relaxed)
    }

    /// Heartbeats received at `POST /api/work_pools/{name}/workers/heartbeat`.
    pub fn rest_heartbeats(&self) -> u64 {
        self.rest_heartbeats.load(Ordering::Relaxed)
    }

    pub(crate) fn count_rest_heartbeat(&self) {
        self.rest_heartbeats.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_close(&self, reason: CloseReason) {
        tracing::debug!(%reason, "worker channel closed by the server");
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// `WS /api/work_pools/{name}/workers/connect`.
pub(crate) async fn connect(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    pool: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // A request that is not an upgrade is a 400, as on the event routes.
    actix_http::ws::verify_handshake(req.head())
        .map_err(|e| ApiError::BadRequest(format!("websocket handshake failed: {e}")))?;
    if !has_prefect_subprotocol(&req) {
        st.channel_stats.refused.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::ChannelSubprotocolRequired);
    }
    let (resp, sock, _) = accept(&st, &req, body, MAX_CHANNEL_MESSAGE, true)?;
    let st = st.get_ref().clone();
    actix_web::rt::spawn(setup(st, sock, pool.into_inner()));
    Ok(resp)
}

async fn refuse(st: &AppState, sock: Socket, reason: CloseReason) {
    st.channel_stats.refused.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(%reason, "worker channel setup failed");
    sock.close(CloseCode::Other(reason.code()), reason.as_str())
        .await
}

async fn setup(st: AppState, sock: Socket, pool: String) {
    let deadline = Instant::now() + st.limits.handshake_timeout;
    let failed = CloseReason::AuthenticationFailed.as_str();
    let Some(mut sock) = authenticate(&st, sock, deadline, Some(failed)).await else {
        st.channel_stats.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let hello = match next_message(&mut sock, deadline).await {
        (Next::Json(v), _) => match WorkerFrame::from_value(v) {
            Ok(WorkerFrame::Hello { payload, .. }) => payload,
            _ => return refuse(&st, sock, CloseReason::ProtocolError).await,
        },
        (Next::NotJson | Next::TimedOut, _) => {
            return refuse(&st, sock, CloseReason::ProtocolError).await
        }
        (next, error) => {
            st.channel_stats.refused.fetch_add(1, Ordering::Relaxed);
            return end_handshake(sock, next, error, "worker.hello.v1", None).await;
        }
    };
    if hello.validate().is_err() {
        return refuse(&st, sock, CloseReason::ProtocolError).await;
    }
    if !hello.speaks_v1() {
        return refuse(&st, sock, CloseReason::UnsupportedVersion).await;
    }
    let (pool, queues) = match prepare(&st, &pool, &hello).await {
        Ok(p) => p,
        Err(reason) => return refuse(&st, sock, reason).await,
    };
    let Some(mut sock) = admit(&st, sock).await else {
        return;
    };
    let initial = serde_json::to_string(&PoolResponse::from(pool.clone())).unwrap_or_default();
    let ready = ServerFrame::Ready {
        id: Uuid::now_v7(),
        sent_at: st.bus.clock().now(),
        payload: Box::new(Ready {
            consumer_id: hello.consumer_id,
            worker_id: None,
            selected_channel_version: frames::VERSION,
            effective_heartbeat_interval_seconds: hello.heartbeat_interval_seconds.0,
            accepted_capabilities: frames::REQUIRED,
            rejected_capabilities: hello.rejected(),
            effective_max_cleanup_concurrency: 0,
            resolved_work_queues: queues,
            initial_snapshot: Snapshot {
                snapshot_sequence: 1,
                reason: "initial",
                work_pool: PoolResponse::from(pool.clone()),
            },
        }),
    };
    // The worker joins the fan-out before it is told it is ready: from then on a
    // change to its pool, and the server's shutdown, reach it.
    let mut ctx = actix::Context::<ConnectedWorker>::new();
    let join = fanout::Join {
        pool: pool.id,
        worker: ctx.address(),
    };
    let Ok(place) = st.channels.send(join).await else {
        return refuse(&st, sock, CloseReason::TransientServerError).await;
    };
    if sock.out.text(ready.to_text().into()).await.is_err() {
        st.channels.do_send(fanout::Leave {
            pool: pool.id,
            place,
        });
        return;
    }
    st.channel_stats.heartbeats.fetch_add(1, Ordering::Relaxed);
    st.channel_stats.opened.fetch_add(1, Ordering::Relaxed);
    let Socket {
        out, inbound, slot, ..
    } = sock;
    ctx.add_stream(futures_util::stream::unfold(
        inbound,
        |mut inbound| async move { inbound.next().await.map(|msg| (msg, inbound)) },
    ));
    let session = worker::Session {
        pool,
        place,
        consumer_id: hello.consumer_id,
        worker_name: hello.worker_name.0.clone(),
        out,
        slot,
        initial,
    };
    ctx.run(ConnectedWorker::new(st, session));
}

/// Resolves the pool and queues, fills an empty template, records the first
/// heartbeat, and reads the pool for the initial snapshot
/// (Prefect's `_build_worker_ready_frame`).
async fn prepare(
    st: &AppState,
    name: &str,
    hello: &Hello,
) -> Result<(PoolInfo, Vec<ResolvedQueue>), CloseReason> {
    let bus = &st.bus;
    let transient = |_| CloseReason::TransientServerError;
    let pool = match bus.pool(name).await {
        Ok(p) => p,
        Err(BusError::PoolNotFound(_)) if hello.create_pool_if_not_found => {
            let mut req = CreatePool::new(name, hello.worker_type.0.as_str());
            req.base_job_template = hello.default_base_job_template.clone();
            match bus.create_pool(req).await {
                Ok(p) => p,
                // Another worker created it meanwhile.
                Err(BusError::PoolExists(_)) => bus.pool(name).await.map_err(transient)?,
                Err(BusError::ReservedName(_)) => return Err(CloseReason::AuthorizationFailed),
                Err(e) if is_invalid(&e) => return Err(CloseReason::ProtocolError),
                Err(_) => return Err(CloseReason::TransientServerError),
            }
        }
        Err(BusError::PoolNotFound(_)) => return Err(CloseReason::AuthorizationFailed),
        Err(_) => return Err(CloseReason::TransientServerError),
    };
    let mut queues = Vec::new();
    if hello.work_queue_names.is_empty() {
        for q in bus.queues(name).await.map_err(transient)? {
            queues.push(ResolvedQueue {
                id: q.id,
                name: q.name,
            });
        }
    } else {
        for q in &hello.work_queue_names {
            if queues.iter().any(|r: &ResolvedQueue| r.name == q.0) {
                continue;
            }
            let q = bus.queue(name, &q.0).await.map_err(|e| match e {
                BusError::QueueNotFound { .. } | BusError::PoolNotFound(_) => {
                    CloseReason::AuthorizationFailed
                }
                _ => CloseReason::TransientServerError,
            })?;
            queues.push(ResolvedQueue {
                id: q.id,
                name: q.name,
            });
        }
    }
    if pool.base_job_template.is_empty() && !hello.default_base_job_template.is_empty() {
        let fill = PoolUpdate::new().base_job_template(hello.default_base_job_template.clone());
        bus.update_pool(name, fill).await.map_err(|e| {
            if is_invalid(&e) {
                CloseReason::ProtocolError
            } else {
                CloseReason::TransientServerError
            }
        })?;
    }
    let every = HeartbeatInterval::from_secs(hello.heartbeat_interval_seconds.0)
        .map_err(|_| CloseReason::ProtocolError)?;
    bus.heartbeat(
        name,
        Heartbeat::new(hello.worker_name.0.as_str()).every(every),
    )
    .await
    .map_err(|_| CloseReason::HeartbeatPersistenceFailed)?;
    // Read again: the template may be filled, and the heartbeat may have made it ready.
    let pool = bus.pool(name).await.map_err(transient)?;
    Ok((pool, queues))
}

/// A request the bus refuses as invalid (a 422 on the REST routes).
fn is_invalid(e: &BusError) -> bool {
    matches!(
        e,
        BusError::InvalidName { .. }
            | BusError::NegativeConcurrencyLimit(_)
            | BusError::InvalidPriority(_)
            | BusError::InvalidHeartbeatInterval
    )
}
