//! The server's side of a websocket: frames out, with a close that overtakes them.
//!
//! [`Outbound`] queues frames for the connection's response body,
//! [`OutboundBody`]. A close does not queue behind the frames: the body
//! drops whatever is still queued, writes the close frame next, and then
//! keeps the connection open (writing nothing more) until the task that
//! owns the [`Outbound`] lets go of it, which [`super::Socket::close`] does
//! once the client has answered the close or the close timeout has passed.
//! So a client cut off for reading too slowly still finds the close frame
//! (1013) after the frames it had not read, even when it reads late.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_codec::Encoder;
use actix_http::ws::CloseReason;
use actix_http::ws::{Codec, Message};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use tokio::sync::{mpsc, oneshot};

/// Frames queued between the task and the response body.
const QUEUE: usize = 32;
/// How many bytes the body encodes before handing them to the connection.
const CHUNK: usize = 64 * 1024;

/// The connection is gone (its body was dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gone;

/// The sending half: frames and the close.
pub(crate) struct Outbound {
    tx: mpsc::Sender<Message>,
    close: Option<oneshot::Sender<Option<CloseReason>>>,
}

/// The response body that writes what [`Outbound`] sends.
pub(crate) struct OutboundBody {
    rx: mpsc::Receiver<Message>,
    close: Option<oneshot::Receiver<Option<CloseReason>>>,
    codec: Codec,
    buf: BytesMut,
    closed: bool,
}

/// A connected pair.
pub(crate) fn channel() -> (Outbound, OutboundBody) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (close_tx, close_rx) = oneshot::channel();
    (
        Outbound {
            tx,
            close: Some(close_tx),
        },
        OutboundBody {
            rx,
            close: Some(close_rx),
            codec: Codec::new(),
            buf: BytesMut::new(),
            closed: false,
        },
    )
}

impl Outbound {
    /// Queues a text frame, waiting for room.
    pub(crate) async fn text(&mut self, text: ByteString) -> Result<(), Gone> {
        if self.close.is_none() {
            return Err(Gone);
        }
        self.tx.send(Message::Text(text)).await.map_err(|_| Gone)
    }

    /// Answers a ping, unless the queue is full (the client will ping again).
    pub(crate) fn pong(&mut self, payload: &[u8]) {
        if self.close.is_some() {
            let _ = self
                .tx
                .try_send(Message::Pong(Bytes::copy_from_slice(payload)));
        }
    }

    /// Sends the close frame ahead of every queued frame; nothing is sent after it.
    pub(crate) fn close(&mut self, reason: Option<CloseReason>) {
        if let Some(close) = self.close.take() {
            let _ = close.send(reason);
        }
    }
}

impl OutboundBody {
    fn encode(&mut self, msg: Message) -> Result<(), actix_web::Error> {
        self.codec
            .encode(msg, &mut self.buf)
            .map_err(actix_web::Error::from)
    }
}

impl Stream for OutboundBody {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.closed {
            if let Some(close) = this.close.as_mut() {
                if let Poll::Ready(reason) = Pin::new(close).poll(cx) {
                    this.close = None;
                    // Dropped without a close: the frames already queued still go out.
                    if let Ok(reason) = reason {
                        this.closed = true;
                        this.buf.clear();
                        if let Err(e) = this.encode(Message::Close(reason)) {
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
            }
        }
        if this.closed {
            if !this.buf.is_empty() {
                return Poll::Ready(Some(Ok(this.buf.split().freeze())));
            }
            // Discard what was queued; end once the owner lets go.
            loop {
                match this.rx.poll_recv(cx) {
                    Poll::Ready(Some(_)) => {}
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
        let mut ended = false;
        while this.buf.len() < CHUNK {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(msg)) => {
                    if let Err(e) = this.encode(msg) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if !this.buf.is_empty() {
            return Poll::Ready(Some(Ok(this.buf.split().freeze())));
        }
        if ended {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}
