//! `WS /api/events/out` and `WS /api/events/in`, with Prefect's protocol.
//!
//! With the `prefect` subprotocol the first message must be
//! `{"type":"auth","token":...}` (answered `{"type":"auth_success"}`); without
//! it the socket is accepted in Prefect's legacy mode, unless auth is on.
//! `/out` then takes `{"type":"filter","filter":{...},"backfill":bool}`,
//! sends the matching history of the last 15 minutes, oldest first, then
//! live events. Close codes are Prefect's: 1008 for a bad or missing auth
//! message, 1002 for a bad filter message. A client that reads too slowly
//! to keep up is closed with 1013 and counted in [`StreamStats`](crate::StreamStats).

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use workbus_core::{Event, EventFilter, SharedEvent};

use crate::auth::secret_eq;
use crate::error::ApiError;
use crate::hub::{Attach, Detach, Slot};
use crate::AppState;

/// How far back websocket backfill reaches (Prefect's `PREFECT_EVENTS_MAXIMUM_WEBSOCKET_BACKFILL`).
pub const BACKFILL_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a client has for each handshake message.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one frame may wait for the socket before the client counts as stuck.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message a client may send (a filter, or an event on `/in`).
const MAX_MESSAGE: usize = 2 * 1024 * 1024;

fn has_prefect_subprotocol(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "prefect")
}

type Accepted = (HttpResponse, Session, AggregatedMessageStream, bool, Slot);

fn accept(st: &AppState, req: &HttpRequest, body: web::Payload) -> Result<Accepted, ApiError> {
    let prefect = has_prefect_subprotocol(req);
    if !prefect && st.auth.is_some() {
        return Err(ApiError::SubprotocolRequired);
    }
    let (mut resp, session, stream) = actix_ws::handle(req, body)
        .map_err(|e| ApiError::BadRequest(format!("websocket handshake failed: {e}")))?;
    // After the handshake checks (a malformed one is a 400 whatever the load), before
    // the upgrade: beyond the limit the client gets a 503 it can retry.
    let slot = st
        .stream_stats
        .try_connect(st.max_ws_clients)
        .ok_or(ApiError::TooManyClients(st.max_ws_clients))?;
    if prefect {
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("prefect"));
    }
    let stream = stream
        .max_frame_size(MAX_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE);
    Ok((resp, session, stream, prefect, slot))
}

enum Incoming {
    Json(Value),
    NotJson,
    Gone,
}

/// The next data message, answering pings meanwhile.
async fn next_message(session: &mut Session, stream: &mut AggregatedMessageStream) -> Incoming {
    loop {
        let msg = match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.next()).await {
            Ok(Some(Ok(msg))) => msg,
            Ok(_) => return Incoming::Gone,
            Err(_) => return Incoming::NotJson,
        };
        match msg {
            AggregatedMessage::Text(t) => {
                return serde_json::from_str(&t).map_or(Incoming::NotJson, Incoming::Json)
            }
            AggregatedMessage::Binary(b) => {
                return serde_json::from_slice(&b).map_or(Incoming::NotJson, Incoming::Json)
            }
            AggregatedMessage::Ping(p) => {
                if session.pong(&p).await.is_err() {
                    return Incoming::Gone;
                }
            }
            AggregatedMessage::Pong(_) => {}
            AggregatedMessage::Close(_) => return Incoming::Gone,
        }
    }
}

/// Closes with a code and a reason cut to the 123 bytes a close frame holds.
async fn close(session: Session, code: CloseCode, reason: &str) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = CloseReason {
        code,
        description: Some(reason[..end].to_owned()),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, session.close(Some(reason))).await;
}

/// The auth step of the `prefect` subprotocol; `None` when the socket was closed.
async fn authenticate(
    st: &AppState,
    mut session: Session,
    stream: &mut AggregatedMessageStream,
) -> Option<Session> {
    let msg = match next_message(&mut session, stream).await {
        Incoming::Json(v) if v.get("type").and_then(Value::as_str) == Some("auth") => v,
        Incoming::Gone => return None,
        _ => {
            close(session, CloseCode::Policy, "Expected 'auth' message").await;
            return None;
        }
    };
    if let Some(expected) = &st.auth {
        match msg.get("token").and_then(Value::as_str) {
            None | Some("") => {
                close(
                    session,
                    CloseCode::Policy,
                    "Auth required but no token provided",
                )
                .await;
                return None;
            }
            Some(token) if !secret_eq(token, expected) => {
                close(session, CloseCode::Policy, "Invalid token").await;
                return None;
            }
            Some(_) => {}
        }
    }
    session.text(r#"{"type":"auth_success"}"#).await.ok()?;
    Some(session)
}

/// `WS /api/events/out`.
pub(crate) async fn events_out(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (resp, session, stream, prefect, slot) = accept(&st, &req, body)?;
    let st = st.get_ref().clone();
    actix_web::rt::spawn(async move {
        stream_out(st, session, stream, prefect).await;
        drop(slot);
    });
    Ok(resp)
}

async fn stream_out(
    st: AppState,
    session: Session,
    mut stream: AggregatedMessageStream,
    prefect: bool,
) {
    let mut session = if prefect {
        match authenticate(&st, session, &mut stream).await {
            Some(s) => s,
            None => return,
        }
    } else {
        session
    };
    let msg = match next_message(&mut session, &mut stream).await {
        Incoming::Json(v) if v.get("type").and_then(Value::as_str) == Some("filter") => v,
        Incoming::Gone => return,
        _ => return close(session, CloseCode::Protocol, "Expected 'filter' message").await,
    };
    let filter = match msg.get("filter") {
        None | Some(Value::Null) => Ok(EventFilter::all()),
        Some(f) => EventFilter::deserialize(f),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            return close(
                session,
                CloseCode::Protocol,
                &format!("Invalid filter: {e}"),
            )
            .await
        }
    };
    let backfill = msg.get("backfill").and_then(Value::as_bool).unwrap_or(true);
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
    };
    let Ok(attached) = st.history.send(attach).await else {
        return close(session, CloseCode::Away, "server shutting down").await;
    };
    let id = attached.id;
    let mut rx = attached.rx;
    let slow = attached.slow;

    for frame in attached.backfill {
        if !matches!(
            tokio::time::timeout(SEND_TIMEOUT, session.text(frame)).await,
            Ok(Ok(()))
        ) {
            st.history.do_send(Detach(id));
            return;
        }
    }
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Some(frame) => match tokio::time::timeout(SEND_TIMEOUT, session.text(frame)).await {
                    Ok(Ok(())) => {}
                    // Gone.
                    Ok(Err(_)) => {
                        st.history.do_send(Detach(id));
                        return;
                    }
                    // Not reading at all: as slow as it gets.
                    Err(_) => {
                        st.history.do_send(Detach(id));
                        if !slow.swap(true, Ordering::AcqRel) {
                            st.stream_stats.count_cut_off();
                        }
                        return close(session, CloseCode::Again, "client too slow: not reading").await;
                    }
                },
                None if slow.load(Ordering::Acquire) => {
                    let reason = format!("client too slow: more than {} events waiting", st.ws_buffer);
                    return close(session, CloseCode::Again, &reason).await;
                }
                None => return close(session, CloseCode::Away, "server shutting down").await,
            },
            msg = stream.next() => match msg {
                Some(Ok(AggregatedMessage::Ping(p))) => {
                    if session.pong(&p).await.is_err() {
                        st.history.do_send(Detach(id));
                        return;
                    }
                }
                // Prefect ignores what a client sends after the filter.
                Some(Ok(AggregatedMessage::Text(_) | AggregatedMessage::Binary(_) | AggregatedMessage::Pong(_))) => {}
                Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => {
                    st.history.do_send(Detach(id));
                    let _ = tokio::time::timeout(SEND_TIMEOUT, session.close(None)).await;
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
    let (resp, session, stream, prefect, slot) = accept(&st, &req, body)?;
    let st = st.get_ref().clone();
    actix_web::rt::spawn(async move {
        stream_in(st, session, stream, prefect).await;
        drop(slot);
    });
    Ok(resp)
}

async fn stream_in(
    st: AppState,
    session: Session,
    mut stream: AggregatedMessageStream,
    prefect: bool,
) {
    let mut session = if prefect {
        match authenticate(&st, session, &mut stream).await {
            Some(s) => s,
            None => return,
        }
    } else {
        session
    };
    while let Some(msg) = stream.next().await {
        let bytes = match msg {
            Ok(AggregatedMessage::Text(t)) => t.into_bytes(),
            Ok(AggregatedMessage::Binary(b)) => b,
            Ok(AggregatedMessage::Ping(p)) => {
                if session.pong(&p).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(AggregatedMessage::Pong(_)) => continue,
            Ok(AggregatedMessage::Close(_)) | Err(_) => break,
        };
        match Event::from_json(&bytes) {
            Ok(mut event) => {
                event.received = Some(st.bus.clock().now());
                st.bus.ingest(SharedEvent::new(event));
            }
            // Prefect fails the socket on an invalid event; say why.
            Err(e) => {
                return close(session, CloseCode::Invalid, &format!("Invalid event: {e}")).await
            }
        }
    }
    let _ = tokio::time::timeout(SEND_TIMEOUT, session.close(None)).await;
}
