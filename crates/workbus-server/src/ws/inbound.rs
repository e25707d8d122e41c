//! The client's side of a websocket: frames in, bounded before they are read.
//!
//! [`Inbound`] reads the connection one chunk at a time and, before it
//! decodes, checks the length the next frame's header declares: a frame (or
//! the next fragment of a message) that would pass the limit is refused as
//! soon as its header has arrived, before any of its payload is buffered.
//! actix-http's codec compares a frame with its limit only once the whole
//! frame is buffered, and actix-ws reads everything the socket has before it
//! decodes, so with them a client streaming one endless frame grew the
//! server's memory without bound. What it holds at any time is at most one frame of the limit, one
//! chunk, and the fragments of one message of the limit.

use actix_codec::Decoder;
use actix_http::ws::{CloseCode, CloseReason};
use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use actix_web::dev::Payload;
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::StreamExt;

/// A whole message from the client.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A text message, valid UTF-8.
    Text(ByteString),
    /// A binary message.
    Binary(Bytes),
    /// A ping, to be answered with its payload.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The client's close.
    Close,
}

/// Why the client's frames cannot be read on; each maps to the close code RFC 6455 names.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// A frame, or a fragmented message, larger than the limit (1009).
    #[error("message larger than the limit of {0} bytes")]
    TooBig(usize),
    /// A text message that is not UTF-8 (1007).
    #[error("text message is not valid UTF-8")]
    NotUtf8,
    /// Frames that break the protocol: unmasked, bad opcode, stray continuation (1002).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The connection failed while reading.
    #[error("connection error")]
    Io,
}

impl ReadError {
    /// The close frame that answers this error.
    pub(crate) fn close_reason(&self) -> CloseReason {
        let code = match self {
            ReadError::TooBig(_) => CloseCode::Size,
            ReadError::NotUtf8 => CloseCode::Invalid,
            ReadError::Protocol(_) | ReadError::Io => CloseCode::Protocol,
        };
        CloseReason {
            code,
            description: Some(self.to_string()),
        }
    }
}

/// Whether a fragmented message is text or binary.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Binary,
}

/// The payload length a frame's header declares, once the header's length bytes are in.
fn declared_len(buf: &[u8]) -> Option<u64> {
    let code = buf.get(1)? & 0x7f;
    match code {
        126 => buf
            .get(2..4)
            .map(|b| u64::from(u16::from_be_bytes([b[0], b[1]]))),
        127 => buf.get(2..10).map(|b| {
            let mut be = [0u8; 8];
            be.copy_from_slice(b);
            u64::from_be_bytes(be)
        }),
        n => Some(u64::from(n)),
    }
}

/// Reads whole messages from a websocket connection's request payload.
pub(crate) struct Inbound {
    payload: Payload,
    codec: Codec,
    buf: BytesMut,
    max: usize,
    fragments: Option<(Kind, BytesMut)>,
    ended: bool,
}

impl Inbound {
    /// Reads `payload`, refusing any message of more than `max` bytes.
    pub(crate) fn new(payload: Payload, max: usize) -> Self {
        Inbound {
            payload,
            codec: Codec::new().max_size(max),
            buf: BytesMut::new(),
            max,
            fragments: None,
            ended: false,
        }
    }

    /// The next whole message; `None` when the connection has ended.
    ///
    /// Cancel-safe: what was read stays in the buffer for the next call.
    pub(crate) async fn next(&mut self) -> Option<Result<Incoming, ReadError>> {
        loop {
            // actix-http's codec checks the limit only once the whole frame is buffered:
            // check what the header declares first.
            if let Some(declared) = declared_len(&self.buf) {
                let gathered = self.fragments.as_ref().map_or(0, |(_, b)| b.len() as u64);
                if declared.saturating_add(gathered) > self.max as u64 {
                    self.fragments = None;
                    return Some(Err(ReadError::TooBig(self.max)));
                }
            }
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => match self.message(frame) {
                    Ok(Some(msg)) => return Some(Ok(msg)),
                    Ok(None) => continue,
                    Err(e) => return Some(Err(e)),
                },
                Ok(None) => {}
                Err(ProtocolError::Overflow) => return Some(Err(ReadError::TooBig(self.max))),
                Err(e) => return Some(Err(ReadError::Protocol(e.to_string()))),
            }
            if self.ended {
                return None;
            }
            match self.payload.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(_)) => return Some(Err(ReadError::Io)),
                None => self.ended = true,
            }
        }
    }

    /// Turns a frame into a message, gathering fragments.
    fn message(&mut self, frame: Frame) -> Result<Option<Incoming>, ReadError> {
        let (kind, bytes) = match frame {
            Frame::Text(b) => (Kind::Text, b),
            Frame::Binary(b) => (Kind::Binary, b),
            Frame::Ping(b) => return Ok(Some(Incoming::Ping(b))),
            Frame::Pong(_) => return Ok(Some(Incoming::Pong)),
            Frame::Close(_) => return Ok(Some(Incoming::Close)),
            Frame::Continuation(item) => {
                let (first, last, part) = match item {
                    Item::FirstText(b) => (Some(Kind::Text), false, b),
                    Item::FirstBinary(b) => (Some(Kind::Binary), false, b),
                    Item::Continue(b) => (None, false, b),
                    Item::Last(b) => (None, true, b),
                };
                if let Some(kind) = first {
                    self.fragments = Some((kind, BytesMut::new()));
                }
                // The codec refuses a continuation that was not started.
                let Some((kind, gathered)) = self.fragments.as_mut() else {
                    return Err(ReadError::Protocol("continuation not started".into()));
                };
                if gathered.len() + part.len() > self.max {
                    self.fragments = None;
                    return Err(ReadError::TooBig(self.max));
                }
                gathered.extend_from_slice(&part);
                if !last {
                    return Ok(None);
                }
                let kind = *kind;
                let whole = self.fragments.take().map(|(_, b)| b.freeze());
                (kind, whole.unwrap_or_default())
            }
        };
        Ok(Some(match kind {
            Kind::Text => {
                Incoming::Text(ByteString::try_from(bytes).map_err(|_| ReadError::NotUtf8)?)
            }
            Kind::Binary => Incoming::Binary(bytes),
        }))
    }
}
