//! `WS /api/events/out` and `WS /api/events/in`, with Prefect's protocol.
//!
//! With the `prefect` subprotocol the first message must be
//! `{"type":"auth","token":...}` (answered `{"type":"auth_success"}`); without
//! it the socket is accepted in Prefect's legacy mode, unless auth is on.
//! `/out` then takes `{"type":"filter","filter":{...},"backfill":bool}`,
//! sends the matching history of the last 15 minutes, oldest first, then
//! live events.
//!
//! ## Limits
//!
//! - A connection still in its handshake (before the auth message and, on
//!   `/out`, the filter) holds a *handshake* place, of which there are
//!   `max_websocket_handshakes`; it has `websocket_handshake_timeout` to
//!   finish, then is closed with 1008. Only a finished handshake takes one
//!   of the `max_websocket_clients` places, so clients that never
//!   authenticate cannot crowd out those that do.
//! - A message is at most [`MAX_MESSAGE`] bytes on `/in` and
//!   [`MAX_FILTER_MESSAGE`] on `/out`, checked on each frame's declared
//!   length before its payload is read, and on the running total of a
//!   fragmented message (1009).
//!
//! ## Close codes
//!
//! Prefect's: 1008 for a bad or missing auth message, 1002 for a bad filter
//! message, 1007 for an invalid event on `/in`. RFC 6455's for broken
//! frames: 1002 (protocol), 1007 (text that is not UTF-8), 1009 (too big).
//! A client that reads too slowly to keep up is closed with 1013 and counted
//! in [`StreamStats`](crate::StreamStats); the close frame goes ahead of the
//! frames still queued, and the connection stays open for
//! `websocket_close_timeout` so that a client reading late still finds it.

pub mod channel;
mod inbound;
mod outbound;

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_http::ws::{CloseCode, CloseReason};
use actix_web::body::{BodyStream, MessageBody};
use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;
use workbus_core::EventFilter;

use crate::auth::secret_eq;
use crate::error::ApiError;
use crate::hub::{Attach, Detach, Slot};
use crate::AppState;
use inbound::{Inbound, Incoming, ReadError};
use outbound::Outbound;

/// How far back websocket backfill reaches (Prefect's `PREFECT_EVENTS_MAXIMUM_WEBSOCKET_BACKFILL`).
pub const BACKFILL_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long one frame may wait for the socket before the client counts as stuck.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message a client may send on `/in` (an event: Prefect's 1.5 MB and room for framing).
pub const MAX_MESSAGE: usize = 2 * 1024 * 1024;
/// Largest message a client may send on `/out` (its auth and filter messages): enough for a
/// filter naming about 1,400 resource ids, and a bound on what every client's filter costs.
pub const MAX_FILTER_MESSAGE: usize = 64 * 1024;

fn has_prefect_subprotocol(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "prefect")
}

/// One accepted websocket connection: frames in, frames out, and its place under the limits.
struct Socket {
    out: Outbound,
    inbound: Inbound,
    close_timeout: Duration,
    /// A handshake place, then a client place; given up when the close is sent.
    slot: Option<Slot>,
}

impl Socket {
    /// Sends the close frame (ahead of anything queued), then waits for the client's close,
    /// its hang-up, or the close timeout, so that the frame is there to be read.
    async fn close(mut self, code: CloseCode, reason: &str) {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        self.out.close(Some(CloseReason {
            code,
            description: Some(reason[..end].to_owned()),
        }));
        self.linger().await;
    }

    /// Answers a client's close with a close, as RFC 6455 asks.
    async fn close_echo(mut self) {
        self.out.close(None);
        self.linger().await;
    }

    async fn linger(mut self) {
        // A closing connection leaves the limits at once: it writes nothing more and
        // is gone within the close timeout.
        drop(self.slot.take());
        let wait = async {
            while let Some(Ok(msg)) = self.inbound.next().await {
                if matches!(msg, Incoming::Close) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(self.close_timeout, wait).await;
    }

    /// Closes for a frame that cannot be read, with RFC 6455's code.
    async fn refuse(self, error: ReadError) {
        let reason = error.close_reason();
        let text = reason.description.unwrap_or_default();
        self.close(reason.code, &text).await
    }
}

/// Upgrades the request: checks the handshake, takes a place, answers 101.
///
/// A connection with a handshake to go through (an auth message, or `/out`'s
/// filter) takes a handshake place; one without (legacy `/in`) takes a client
/// place at once. Either way, when every client place is taken the upgrade is
/// refused with a 503 it can retry, rather than a handshake that cannot end well.
fn accept(
    st: &AppState,
    req: &HttpRequest,
    body: web::Payload,
    max_message: usize,
    filter_step: bool,
) -> Result<(HttpResponse, Socket, bool), ApiError> {
    let prefect = has_prefect_subprotocol(req);
    if !prefect && st.auth.is_some() {
        return Err(ApiError::SubprotocolRequired);
    }
    let mut resp = actix_http::ws::handshake(req.head())
        .map_err(|e| ApiError::BadRequest(format!("websocket handshake failed: {e}")))?;
    // After the handshake checks (a malformed one is a 400 whatever the load), before
    // the upgrade: beyond the limits the client gets a 503 it can retry.
    let stats = &st.stream_stats;
    let slot = if prefect || filter_step {
        if stats.connections() >= st.max_ws_clients {
            stats.count_refused();
            return Err(ApiError::TooManyClients(st.max_ws_clients));
        }
        stats
            .try_handshake(st.limits.max_handshakes)
            .ok_or(ApiError::TooManyHandshakes(st.limits.max_handshakes))?
    } else {
        stats
            .try_connect(st.max_ws_clients)
            .ok_or(ApiError::TooManyClients(st.max_ws_clients))?
    };
    if prefect {
        resp.insert_header((SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("prefect")));
    }
    let (out, body_out) = outbound::channel();
    let resp = resp
        .message_body(BodyStream::new(body_out).boxed())
        .map_err(|e| ApiError::BadRequest(format!("websocket upgrade failed: {e}")))?
        .into();
    let socket = Socket {
        out,
        inbound: Inbound::new(body.into_inner(), max_message),
        close_timeout: st.limits.close_timeout,
        slot: Some(slot),
    };
    Ok((resp, socket, prefect))
}

/// What the handshake read next.
enum Next {
    Json(Value),
    /// Not JSON, or the handshake's time ran out: closed with 1008 or 1002 by the caller.
    NotJson,
    TimedOut,
    /// The client closed or hung up (its close already answered).
    Gone,
    /// Unreadable frames (the socket was closed with their code).
    Refused,
}

/// The next data message of the handshake, answering pings meanwhile, before `deadline`.
async fn next_message(sock: &mut Socket, deadline: Instant) -> (Next, Option<ReadError>) {
    loop {
        let msg = match tokio::time::timeout_at(deadline, sock.inbound.next()).await {
            Err(_) => return (Next::TimedOut, None),
            Ok(None) => return (Next::Gone, None),
            Ok(Some(Err(e))) => return (Next::Refused, Some(e)),
            Ok(Some(Ok(msg))) => msg,
        };
        let parsed = match msg {
            Incoming::Text(t) => serde_json::from_str(&t),
            Incoming::Binary(b) => serde_json::from_slice(&b),
            Incoming::Ping(p) => {
                sock.out.pong(&p);
                continue;
            }
            Incoming::Pong => continue,
            Incoming::Close => return (Next::Gone, None),
        };
        return (parsed.map_or(Next::NotJson, Next::Json), None);
    }
}

/// The end of a handshake that did not go through: closes the socket as it deserves.
/// `failed`, when given, is the reason text of every 1008 (the worker channel's
/// `authentication_failed`).
async fn end_handshake(
    sock: Socket,
    next: Next,
    error: Option<ReadError>,
    expected: &str,
    failed: Option<&str>,
) {
    match (next, error) {
        (_, Some(e)) => sock.refuse(e).await,
        (Next::Gone, _) => sock.close_echo().await,
        (Next::TimedOut, _) => {
            let why = format!("handshake not finished in time: expected '{expected}' message");
            sock.close(CloseCode::Policy, failed.unwrap_or(&why)).await
        }
        _ => {
            // Prefect's codes: 1008 for the auth step, 1002 for the filter step.
            let code = if expected == "auth" {
                CloseCode::Policy
            } else {
                CloseCode::Protocol
            };
            let why = format!("Expected '{expected}' message");
            sock.close(code, failed.unwrap_or(&why)).await
        }
    }
}

/// The auth step of the `prefect` subprotocol; `None` when the socket was closed.
/// `failed`, when given, is the reason text of every refusal (Prefect's
/// `authentication_failed_reason`).
async fn authenticate(
    st: &AppState,
    mut sock: Socket,
    deadline: Instant,
    failed: Option<&str>,
) -> Option<Socket> {
    let msg = match next_message(&mut sock, deadline).await {
        (Next::Json(v), _) if v.get("type").and_then(Value::as_str) == Some("auth") => v,
        (next, error) => {
            end_handshake(sock, next, error, "auth", failed).await;
            return None;
        }
    };
    if let Some(expected) = &st.auth {
        match msg.get("token").and_then(Value::as_str) {
            None | Some("") => {
                let why = failed.unwrap_or("Auth required but no token provided");
                sock.close(CloseCode::Policy, why).await;
                return None;
            }
            Some(token) if !secret_eq(token, expected) => {
                sock.close(CloseCode::Policy, failed.unwrap_or("Invalid token"))
                    .await;
                return None;
            }
            Some(_) => {}
        }
    }
    if sock
        .out
        .text(r#"{"type":"auth_success"}"#.into())
        .await
        .is_err()
    {
        return None;
    }
    Some(sock)
}

/// Trades the handshake place for a client place; closes with 1013 when none is free.
async fn admit(st: &AppState, mut sock: Socket) -> Option<Socket> {
    if !sock.slot.as_ref().is_some_and(Slot::is_handshake) {
        return Some(sock);
    }
    match st.stream_stats.try_connect(st.max_ws_clients) {
        Some(slot) => {
            // The handshake place is freed as the client place replaces it.
            sock.slot = Some(slot);
            Some(sock)
        }
        None => {
            let why = format!(
                "too many websocket clients: at most {} at once; try again later",
                st.max_ws_clients
            );
            sock.close(CloseCode::Again, &why).await;
            None
        }
    }
}

/// `WS /api/events/out`.
pub(crate) async fn events_out(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (resp, sock, prefect) = accept(&st, &req, body, MAX_FILTER_MESSAGE, true)?;
    let st = st.get_ref().clone();
    actix_web::rt::spawn(stream_out(st, sock, prefect));
    Ok(resp)
}

async fn stream_out(st: AppState, sock: Socket, prefect: bool) {
    let deadline = Instant::now() + st.limits.handshake_timeout;
    let mut sock = if prefect {
        match authenticate(&st, sock, deadline, None).await {
            Some(s) => s,
            None => return,
        }
    } else {
        sock
    };
    let msg = match next_message(&mut sock, deadline).await {
        (Next::Json(v), _) if v.get("type").and_then(Value::as_str) == Some("filter") => v,
        (next, error) => return end_handshake(sock, next, error, "filter", None).await,
    };
    let filter = match msg.get("filter") {
        None | Some(Value::Null) => Ok(EventFilter::all()),
        Some(f) => EventFilter::deserialize(f),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            return sock
                .close(CloseCode::Protocol, &format!("Invalid filter: {e}"))
                .await
        }
    };
    let backfill = msg.get("backfill").and_then(Value::as_bool).unwrap_or(true);
    drop(msg);
    let Some(mut sock) = admit(&st, sock).await else {
        return;
    };
    let earliest = st.bus.clock().now().sub(BACKFILL_WINDOW);
    let since = filter
        .occurred
        .as_ref()
        .and_then(|o| o.since)
        .map_or(earliest, |s| s.max(earliest));
    let attach = Attach {
        filter,
        backfill_since: backfill.then_some(since),
        buffer: st.ws_buffer,
        buffer_bytes: st.limits.client_buffer_bytes,
        all_buffer_bytes: st.limits.all_buffer_bytes,
    };
    let Ok(attached) = st.history.send(attach).await else {
        return sock.close(CloseCode::Away, "server shutting down").await;
    };
    let id = attached.id;
    let mut rx = attached.rx;
    let slow = attached.slow;
    if sock.out.count_in(attached.backlog).await.is_err() {
        st.history.do_send(Detach(id));
        return;
    }
    let cut_off = |st: &AppState| {
        st.history.do_send(Detach(id));
        if !slow.swap(true, Ordering::AcqRel) {
            st.stream_stats.count_cut_off();
        }
    };

    for frame in attached.backfill {
        match tokio::time::timeout(SEND_TIMEOUT, sock.out.text(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                st.history.do_send(Detach(id));
                return;
            }
            Err(_) => {
                cut_off(&st);
                return sock
                    .close(CloseCode::Again, "client too slow: not reading")
                    .await;
            }
        }
    }
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Some(frame) => match tokio::time::timeout(SEND_TIMEOUT, sock.out.live(frame)).await {
                    Ok(Ok(())) => {}
                    // Gone.
                    Ok(Err(_)) => {
                        st.history.do_send(Detach(id));
                        return;
                    }
                    // Not reading at all: as slow as it gets.
                    Err(_) => {
                        cut_off(&st);
                        return sock.close(CloseCode::Again, "client too slow: not reading").await;
                    }
                },
                None if slow.load(Ordering::Acquire) => {
                    let reason = format!(
                        "client too slow: more than {} events or {} bytes waiting",
                        st.ws_buffer, st.limits.client_buffer_bytes
                    );
                    return sock.close(CloseCode::Again, &reason).await;
                }
                None => return sock.close(CloseCode::Away, "server shutting down").await,
            },
            msg = sock.inbound.next() => match msg {
                Some(Ok(Incoming::Ping(p))) => sock.out.pong(&p),
                // Prefect ignores what a client sends after the filter.
                Some(Ok(Incoming::Text(_) | Incoming::Binary(_) | Incoming::Pong)) => {}
                Some(Ok(Incoming::Close)) => {
                    st.history.do_send(Detach(id));
                    return sock.close_echo().await;
                }
                Some(Err(e)) => {
                    st.history.do_send(Detach(id));
                    return sock.refuse(e).await;
                }
                None => {
                    st.history.do_send(Detach(id));
                    return;
                }
            },
        }
    }
}

/// `WS /api/events/in`: each text message is one event, published to the bus.
pub(crate) async fn events_in(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (resp, sock, prefect) = accept(&st, &req, body, MAX_MESSAGE, false)?;
    let st = st.get_ref().clone();
    actix_web::rt::spawn(stream_in(st, sock, prefect));
    Ok(resp)
}

async fn stream_in(st: AppState, sock: Socket, prefect: bool) {
    let sock = if prefect {
        let deadline = Instant::now() + st.limits.handshake_timeout;
        match authenticate(&st, sock, deadline, None).await {
            Some(s) => s,
            None => return,
        }
    } else {
        sock
    };
    let Some(mut sock) = admit(&st, sock).await else {
        return;
    };
    loop {
        let bytes = match sock.inbound.next().await {
            Some(Ok(Incoming::Text(t))) => t.into_bytes(),
            Some(Ok(Incoming::Binary(b))) => b,
            Some(Ok(Incoming::Ping(p))) => {
                sock.out.pong(&p);
                continue;
            }
            Some(Ok(Incoming::Pong)) => continue,
            Some(Ok(Incoming::Close)) => return sock.close_echo().await,
            Some(Err(e)) => return sock.refuse(e).await,
            None => return,
        };
        match crate::api::receive_json(&st, &bytes) {
            Ok(event) => {
                // Published, but not kept: the client must not take the stream for
                // kept (Prefect's client resends what it sent since it connected).
                if let Err(e) = st.bus.ingest(event).await {
                    return sock
                        .close(CloseCode::Error, &format!("event not stored: {e}"))
                        .await;
                }
            }
            // Prefect fails the socket on an invalid event; say why.
            Err(e) => {
                return sock
                    .close(CloseCode::Invalid, &format!("Invalid event: {e}"))
                    .await
            }
        }
    }
}
