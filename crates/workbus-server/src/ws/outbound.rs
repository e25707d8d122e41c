//! The server's side of a websocket: frames out, with a close that overtakes them.
//!
//! [`Outbound`] queues frames for the connection's response body,
//! [`OutboundBody`]. An event frame is not copied: the body writes a header
//! of its own, then the frame's shared bytes in slices of at most [`SLICE`],
//! so what a slow connection holds beyond the shared frames is one slice.
//! Live frames are counted in the client's [`Backlog`] until the body hands
//! them on.
//!
//! A close does not queue behind the frames: the body drops whatever is still
//! queued, writes the close frame next, and then keeps the connection open
//! (writing nothing more) until the task that owns the [`Outbound`] lets go
//! of it, which [`super::Socket::close`] does once the client has answered
//! the close or the close timeout has passed. So a client cut off for reading
//! too slowly still finds the close frame (1013) after the frames it had not
//! read, even when it reads late.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_codec::Encoder;
use actix_http::ws::{CloseReason, Codec, Message};
use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use tokio::sync::{mpsc, oneshot};

use crate::hub::Backlog;

/// Frames queued between the task and the response body.
const QUEUE: usize = 8;
/// The most bytes of a frame handed to the connection at once.
pub(crate) const SLICE: usize = 64 * 1024;

/// The connection is gone (its body was dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gone;

/// Why [`Outbound::try_text`] queued nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsent {
    /// The queue is full: the client is not reading.
    Full,
    /// The connection is gone.
    Gone,
}

/// What the task asks the body to write.
enum Out {
    /// A text frame; `live` when it is counted in the client's backlog.
    Text { text: ByteString, live: bool },
    /// The answer to a ping.
    Pong(Bytes),
    /// From here on, live frames are counted in this backlog.
    CountIn(Arc<Backlog>),
}

/// The sending half: frames and the close.
pub(crate) struct Outbound {
    tx: mpsc::Sender<Out>,
    close: Option<oneshot::Sender<Option<CloseReason>>>,
    backlog: Option<Arc<Backlog>>,
}

/// The response body that writes what [`Outbound`] sends.
pub(crate) struct OutboundBody {
    rx: mpsc::Receiver<Out>,
    close: Option<oneshot::Receiver<Option<CloseReason>>>,
    backlog: Option<Arc<Backlog>>,
    codec: Codec,
    /// Pieces ready to hand on, with whether each counts in the backlog.
    pieces: VecDeque<(Bytes, bool)>,
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
            backlog: None,
        },
        OutboundBody {
            rx,
            close: Some(close_rx),
            backlog: None,
            codec: Codec::new(),
            pieces: VecDeque::new(),
            closed: false,
        },
    )
}

/// The header of an unmasked, final text frame of `len` bytes (RFC 6455 §5.2).
fn text_header(len: usize) -> Bytes {
    let mut h = BytesMut::with_capacity(10);
    h.put_u8(0x81);
    match len {
        0..=125 => h.put_u8(len as u8),
        126..=0xffff => {
            h.put_u8(126);
            h.put_u16(len as u16);
        }
        _ => {
            h.put_u8(127);
            h.put_u64(len as u64);
        }
    }
    h.freeze()
}

impl Outbound {
    /// From now on, live frames are counted in this backlog until the body hands them on.
    pub(crate) async fn count_in(&mut self, backlog: Arc<Backlog>) -> Result<(), Gone> {
        self.backlog = Some(backlog.clone());
        self.send(Out::CountIn(backlog)).await
    }

    async fn send(&mut self, out: Out) -> Result<(), Gone> {
        if self.close.is_none() {
            return Err(Gone);
        }
        self.tx.send(out).await.map_err(|_| Gone)
    }

    /// Queues a text frame that no backlog counts (a handshake answer, backfill), waiting for room.
    pub(crate) async fn text(&mut self, text: ByteString) -> Result<(), Gone> {
        self.send(Out::Text { text, live: false }).await
    }

    /// Queues a text frame that no backlog counts, without waiting (an actor
    /// cannot wait for room): [`Unsent::Full`] when the client has left the
    /// frames before it unread.
    pub(crate) fn try_text(&mut self, text: ByteString) -> Result<(), Unsent> {
        if self.close.is_none() {
            return Err(Unsent::Gone);
        }
        self.tx
            .try_send(Out::Text { text, live: false })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Unsent::Full,
                mpsc::error::TrySendError::Closed(_) => Unsent::Gone,
            })
    }

    /// Queues a live frame, already counted in the backlog, waiting for room.
    pub(crate) async fn live(&mut self, text: ByteString) -> Result<(), Gone> {
        let len = text.len();
        let sent = self.send(Out::Text { text, live: true }).await;
        if sent.is_err() {
            if let Some(b) = &self.backlog {
                b.sub(len);
            }
        }
        sent
    }

    /// Answers a ping, unless the queue is full (the client will ping again).
    pub(crate) fn pong(&mut self, payload: &[u8]) {
        if self.close.is_some() {
            let _ = self.tx.try_send(Out::Pong(Bytes::copy_from_slice(payload)));
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
    fn queue(&mut self, out: Out) -> Result<(), actix_web::Error> {
        match out {
            Out::Text { text, live } => {
                let bytes = text.into_bytes();
                self.pieces.push_back((text_header(bytes.len()), false));
                let mut at = 0;
                while at < bytes.len() {
                    let end = (at + SLICE).min(bytes.len());
                    self.pieces.push_back((bytes.slice(at..end), live));
                    at = end;
                }
            }
            Out::Pong(payload) => {
                let mut buf = BytesMut::new();
                self.codec.encode(Message::Pong(payload), &mut buf)?;
                self.pieces.push_back((buf.freeze(), false));
            }
            Out::CountIn(backlog) => self.backlog = Some(backlog),
        }
        Ok(())
    }

    fn hand_on(&mut self) -> Option<Bytes> {
        let (piece, live) = self.pieces.pop_front()?;
        if live {
            if let Some(b) = &self.backlog {
                b.sub(piece.len());
            }
        }
        Some(piece)
    }
}

impl Drop for OutboundBody {
    fn drop(&mut self) {
        // What was never written was counted too.
        for (piece, live) in self.pieces.drain(..) {
            if let (true, Some(b)) = (live, &self.backlog) {
                b.sub(piece.len());
            }
        }
        while let Ok(out) = self.rx.try_recv() {
            if let (Out::Text { text, live: true }, Some(b)) = (out, &self.backlog) {
                b.sub(text.len());
            }
        }
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
                        // The frame being handed on (its header is out) is finished first,
                        // so that the close frame stays readable; the queued ones are not.
                        let mut buf = BytesMut::new();
                        if let Err(e) = this.codec.encode(Message::Close(reason), &mut buf) {
                            return Poll::Ready(Some(Err(e.into())));
                        }
                        this.pieces.push_back((buf.freeze(), false));
                    }
                }
            }
        }
        if let Some(piece) = this.hand_on() {
            return Poll::Ready(Some(Ok(piece)));
        }
        loop {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(out)) if this.closed => match (out, &this.backlog) {
                    // Closed: what was queued is dropped, and taken off the backlog.
                    (Out::Text { text, live: true }, Some(b)) => b.sub(text.len()),
                    (Out::CountIn(backlog), _) => this.backlog = Some(backlog),
                    _ => {}
                },
                Poll::Ready(Some(out)) => {
                    if let Err(e) = this.queue(out) {
                        return Poll::Ready(Some(Err(e)));
                    }
                    if let Some(piece) = this.hand_on() {
                        return Poll::Ready(Some(Ok(piece)));
                    }
                }
                // The owner let go: the stream ends.
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
