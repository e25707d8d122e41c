//! [`ConnectedWorker`]: one worker on its channel, after `worker.ready.v1`.
//!
//! It reads the worker's frames (heartbeats, which go to the bus as REST
//! heartbeats do; cleanup operations, answered `unauthorized` since cleanup
//! delivery is declined) and pushes a `work_pool.snapshot.v1` when its pool
//! changes. Snapshots coalesce: while one is being read from the pool, later
//! changes make one more, never a queue of them.

use std::sync::atomic::Ordering;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, StreamHandler,
    WrapFuture,
};
use actix_http::ws::{CloseCode, CloseReason as WsClose};
use uuid::Uuid;
use workbus_core::{Heartbeat, HeartbeatInterval, PoolInfo, Status};

use super::fanout::{Change, Leave};
use super::frames::{
    Beat, CleanupOperation, CleanupResult, CloseReason, ServerFrame, Snapshot, WorkerFrame,
};
use crate::hub::Slot;
use crate::response::PoolResponse;
use crate::ws::inbound::{Incoming, ReadError};
use crate::ws::outbound::{Outbound, Unsent};
use crate::AppState;

/// The pool changed (from [`WorkerChannels`](super::fanout::WorkerChannels)).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct PoolChanged(pub(crate) Change);

/// The pool was deleted: closed with `authorization_failed`, as Prefect does.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct PoolGone;

/// The server is shutting down: closed with 1001 (the worker reconnects, or uses REST).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ServerClosing;

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// The close frame is queued; the client's close, its hang-up or the close timeout ends it.
    Closing,
}

/// One connected worker: its socket, its pool, and its snapshots.
pub struct ConnectedWorker {
    st: AppState,
    pool_id: Uuid,
    pool_name: String,
    consumer_id: Uuid,
    worker_name: String,
    out: Outbound,
    slot: Option<Slot>,
    /// The initial snapshot's pool, until the actor has joined the fan-out and checked it.
    initial: Option<String>,
    /// Its place in the fan-out, once joined.
    place: Option<u64>,
    /// The next snapshot's sequence (the ready frame's was 1).
    sequence: u64,
    /// Whether the last snapshot sent showed the pool paused.
    paused: bool,
    /// A snapshot is being read from the pool.
    reading: bool,
    /// Another snapshot is due once the one being read is sent, with this reason.
    again: Option<&'static str>,
    /// The pool changed in a way Prefect sends with the next heartbeat.
    stale: bool,
    phase: Phase,
}

impl std::fmt::Debug for ConnectedWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectedWorker")
            .field("pool", &self.pool_name)
            .field("worker", &self.worker_name)
            .field("sequence", &self.sequence)
            .finish_non_exhaustive()
    }
}

/// What [`ConnectedWorker::new`] needs from the handshake.
pub(crate) struct Session {
    pub(crate) pool: PoolInfo,
    /// Its place in the fan-out (joined before the ready frame was sent).
    pub(crate) place: u64,
    pub(crate) consumer_id: Uuid,
    pub(crate) worker_name: String,
    pub(crate) out: Outbound,
    pub(crate) slot: Option<Slot>,
    /// The initial snapshot's pool, as sent.
    pub(crate) initial: String,
}

impl ConnectedWorker {
    pub(crate) fn new(st: AppState, s: Session) -> Self {
        ConnectedWorker {
            st,
            pool_id: s.pool.id,
            paused: s.pool.is_paused,
            pool_name: s.pool.name,
            consumer_id: s.consumer_id,
            worker_name: s.worker_name,
            out: s.out,
            slot: s.slot,
            initial: Some(s.initial),
            place: Some(s.place),
            sequence: 2,
            reading: false,
            again: None,
            stale: false,
            phase: Phase::Open,
        }
    }

    /// Queues a frame; a client that leaves the frames before it unread is closed (1013).
    fn send(&mut self, frame: &ServerFrame, ctx: &mut Context<Self>) {
        match self.out.try_text(frame.to_text().into()) {
            Ok(()) => {}
            Err(Unsent::Gone) => ctx.stop(),
            Err(Unsent::Full) => {
                self.close_with(ctx, CloseCode::Again, "client too slow: frames left unread")
            }
        }
    }

    /// Closes with one of Prefect's reasons.
    fn close(&mut self, ctx: &mut Context<Self>, reason: CloseReason) {
        if self.phase == Phase::Open {
            self.st.channel_stats.count_close(reason);
        }
        self.close_with(ctx, CloseCode::Other(reason.code()), reason.as_str());
    }

    fn close_with(&mut self, ctx: &mut Context<Self>, code: CloseCode, reason: &str) {
        if self.phase == Phase::Closing {
            return;
        }
        self.phase = Phase::Closing;
        self.out.close(Some(WsClose {
            code,
            description: Some(reason.to_owned()),
        }));
        // It writes nothing more: its place under the limits is free at once.
        drop(self.slot.take());
        ctx.run_later(self.st.limits.close_timeout, |_, ctx| ctx.stop());
    }

    /// Reads the pool and sends it, or marks one more snapshot due if one is being read.
    fn snapshot(&mut self, ctx: &mut Context<Self>, reason: &'static str) {
        if self.phase == Phase::Closing {
            return;
        }
        if self.reading {
            self.again = Some(reason);
            return;
        }
        self.reading = true;
        self.stale = false;
        let bus = self.st.bus.clone();
        let id = self.pool_id;
        let read = async move { bus.pool_by_id(id).await }
            .into_actor(self)
            .map(move |pool, act, ctx| {
                act.reading = false;
                match pool {
                    Ok(pool) => act.push(ctx, pool, reason),
                    // Deleted: Prefect closes with authorization_failed when it cannot read it.
                    Err(_) => return act.close(ctx, CloseReason::AuthorizationFailed),
                }
                if let Some(reason) = act.again.take() {
                    act.snapshot(ctx, reason);
                }
            });
        ctx.spawn(read);
    }

    fn push(&mut self, ctx: &mut Context<Self>, pool: PoolInfo, reason: &'static str) {
        self.paused = pool.is_paused;
        let frame = ServerFrame::Snapshot {
            id: Uuid::now_v7(),
            sent_at: self.st.bus.clock().now(),
            payload: Box::new(Snapshot {
                snapshot_sequence: self.sequence,
                reason,
                work_pool: PoolResponse::from(pool),
            }),
        };
        self.sequence += 1;
        self.st
            .channel_stats
            .snapshots
            .fetch_add(1, Ordering::Relaxed);
        self.send(&frame, ctx);
    }

    fn on_frame(&mut self, ctx: &mut Context<Self>, text: &[u8]) {
        let frame = match WorkerFrame::parse(text) {
            Ok(f) => f,
            Err(_) => return self.close(ctx, CloseReason::ProtocolError),
        };
        match frame {
            WorkerFrame::Heartbeat { payload, .. } => self.on_heartbeat(ctx, payload),
            WorkerFrame::CleanupAck { id, payload, .. } => self.decline(ctx, id, "ack", payload),
            WorkerFrame::CleanupRelease { id, payload, .. } => {
                self.decline(ctx, id, "release", payload)
            }
            WorkerFrame::CleanupRenew { id, payload, .. } => {
                self.decline(ctx, id, "renew", payload)
            }
            WorkerFrame::Hello { .. } => self.close(ctx, CloseReason::ProtocolError),
        }
    }

    fn on_heartbeat(&mut self, ctx: &mut Context<Self>, beat: Beat) {
        if beat.consumer_id != self.consumer_id || beat.worker_name.0 != self.worker_name {
            return self.close(ctx, CloseReason::ProtocolError);
        }
        let Ok(every) = HeartbeatInterval::from_secs(beat.heartbeat_interval_seconds.0) else {
            return self.close(ctx, CloseReason::ProtocolError);
        };
        let bus = self.st.bus.clone();
        let pool = self.pool_name.clone();
        let name = self.worker_name.clone();
        // Waits: the next frame is read once this heartbeat is recorded, as Prefect reads them.
        let beat = async move {
            bus.heartbeat(&pool, Heartbeat::new(name).every(every))
                .await
        }
        .into_actor(self)
        .map(|recorded, act, ctx| match recorded {
            Ok(()) => {
                act.st
                    .channel_stats
                    .heartbeats
                    .fetch_add(1, Ordering::Relaxed);
                if act.stale {
                    act.snapshot(ctx, "heartbeat_reconciliation");
                }
            }
            Err(_) => act.close(ctx, CloseReason::HeartbeatPersistenceFailed),
        });
        ctx.wait(beat);
    }

    /// Answers a cleanup operation as Prefect does when it did not accept cleanup delivery.
    fn decline(
        &mut self,
        ctx: &mut Context<Self>,
        request: Uuid,
        operation: &'static str,
        op: CleanupOperation,
    ) {
        let frame = ServerFrame::CleanupResult {
            id: Uuid::now_v7(),
            sent_at: self.st.bus.clock().now(),
            payload: CleanupResult {
                request_frame_id: request,
                message_id: op.message_id,
                operation,
                status: "unauthorized",
                lease_expires_at: None,
                reason: Some("cleanup_delivery_not_accepted"),
                detail: None,
            },
        };
        self.send(&frame, ctx);
    }
}

impl Actor for ConnectedWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.st.channel_stats.open.fetch_add(1, Ordering::Relaxed);
        // Joined already, it hears every later change; one made between the initial
        // snapshot and the join is found by comparing the pool with what was sent.
        let Some(initial) = self.initial.take() else {
            return;
        };
        let bus = self.st.bus.clone();
        let id = self.pool_id;
        let check = async move { bus.pool_by_id(id).await }
            .into_actor(self)
            .map(move |pool, act, ctx| match pool {
                Ok(pool) => {
                    let now = serde_json::to_string(&PoolResponse::from(pool));
                    if now.ok().as_deref() != Some(initial.as_str()) {
                        act.snapshot(ctx, "work_pool_updated");
                    }
                }
                Err(_) => act.close(ctx, CloseReason::AuthorizationFailed),
            });
        ctx.wait(check);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.out.close(None);
        self.st.channel_stats.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(place) = self.place {
            self.st.channels.do_send(Leave {
                pool: self.pool_id,
                place,
            });
        }
    }
}

impl StreamHandler<Result<Incoming, ReadError>> for ConnectedWorker {
    fn handle(&mut self, msg: Result<Incoming, ReadError>, ctx: &mut Context<Self>) {
        if self.phase == Phase::Closing {
            // Only the client's close (or its hang-up) is awaited now.
            if matches!(msg, Ok(Incoming::Close) | Err(_)) {
                ctx.stop();
            }
            return;
        }
        match msg {
            Ok(Incoming::Text(t)) => self.on_frame(ctx, t.as_bytes()),
            Ok(Incoming::Binary(b)) => self.on_frame(ctx, &b),
            Ok(Incoming::Ping(p)) => self.out.pong(&p),
            Ok(Incoming::Pong) => {}
            Ok(Incoming::Close) => {
                // Answered with a close, as RFC 6455 asks; the worker hangs up next.
                self.phase = Phase::Closing;
                self.out.close(None);
                drop(self.slot.take());
                ctx.run_later(self.st.limits.close_timeout, |_, ctx| ctx.stop());
            }
            Err(e) => {
                let reason = e.close_reason();
                let text = reason.description.unwrap_or_default();
                self.close_with(ctx, reason.code, &text);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The worker hung up.
        ctx.stop();
    }
}

impl Handler<PoolChanged> for ConnectedWorker {
    type Result = ();

    fn handle(&mut self, PoolChanged(change): PoolChanged, ctx: &mut Context<Self>) {
        match change {
            Change::Fields => self.snapshot(ctx, "work_pool_updated"),
            // A pause or a resume changes `is_paused`, which Prefect pushes at once.
            Change::Status(s) if (s == Status::Paused) != self.paused => {
                self.snapshot(ctx, "work_pool_updated")
            }
            Change::Status(_) | Change::Other => self.stale = true,
        }
    }
}

impl Handler<PoolGone> for ConnectedWorker {
    type Result = ();

    fn handle(&mut self, _: PoolGone, ctx: &mut Context<Self>) {
        self.place = None;
        self.close(ctx, CloseReason::AuthorizationFailed);
    }
}

impl Handler<ServerClosing> for ConnectedWorker {
    type Result = ();

    fn handle(&mut self, _: ServerClosing, ctx: &mut Context<Self>) {
        self.place = None;
        self.close_with(ctx, CloseCode::Away, "server shutting down");
    }
}
